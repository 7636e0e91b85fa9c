#!/usr/bin/env python3
"""Smoke test of the benchmark harness (stdlib unittest).

Runs `bench/run.py --smoke` (a few hundred items, 2-second runs, every
target) into a temp dir and checks only that it ran and that its report has
numbers for each target. It never checks that anything is fast: this is a
benchmark, and CI machines are noisy.

    python3 bench/smoke_test.py
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

BENCH = os.path.dirname(os.path.abspath(__file__))
DDBX = os.environ.get("DDBX_BIN") or os.path.join(os.path.dirname(BENCH), "build", "ddbx")


class SmokeTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.path.exists(DDBX), "build ddbx first (or set DDBX_BIN)")

    def run_harness(self, *args):
        out = tempfile.mkdtemp(prefix="ddbx-bench-smoke-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", out]))
        p = subprocess.run([sys.executable, os.path.join(BENCH, "run.py"), "--smoke", "--out", out,
                            "--ddbx", DDBX] + list(args),
                           capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        reports = glob.glob(os.path.join(out, "*.md"))
        self.assertEqual(len(reports), 1, os.listdir(out))
        with open(reports[0]) as f:
            md = f.read()
        raws = glob.glob(os.path.join(out, "raw", "*.json"))
        self.assertEqual(len(raws), 1)
        with open(raws[0]) as f:
            raw = json.load(f)
        return md, raw, out

    def assert_row_has_numbers(self, md, target):
        row = next((l for l in md.splitlines() if l.startswith(f"| {target} |")), None)
        self.assertIsNotNone(row, f"no row for {target} in the report")
        cells = [c.strip() for c in row.strip("|").split("|")]
        # throughput and the four latency percentiles are numbers
        for cell in cells[1:6]:
            self.assertRegex(cell, r"^[0-9][0-9,]*(\.[0-9]+)?", f"{target}: {row}")

    def test_catalog_every_target(self):
        md, raw, out = self.run_harness("--workload", "catalog")
        for target in ("moto", "ddbx", "nginx"):
            self.assert_row_has_numbers(md, target)
        targets = {r["target"] for r in raw["runs"]}
        self.assertEqual(targets, {"moto", "ddbx", "nginx"})
        for r in raw["runs"]:
            self.assertGreater(r["requests"], 0, r["target"])
            self.assertIsNotNone(r["server_cpu_us_per_req"])
        self.assertTrue(glob.glob(os.path.join(out, "*-latency.png")), "no latency plot")
        self.assertIn("## Ratios", md)

    def test_mixed_workload(self):
        md, raw, _ = self.run_harness("--workload", "session")
        for target in ("moto", "ddbx", "nginx"):
            self.assert_row_has_numbers(md, target)
        ops = {op for r in raw["runs"] for op in r["ops"]}
        self.assertEqual(ops, {"GetItem", "UpdateItem"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
