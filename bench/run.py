#!/usr/bin/env python3
"""ddbx benchmark: one workload against the backend, ddbx in front of it and
an nginx ceiling, in the same run, interleaved in rounds.

    bench/run.py --workload catalog --duration 10 --connections 32

See bench/README.md for every mode and what the figures mean. Load comes
from bench/loadgen (a C generator on libuv), never from boto3; boto3 only
creates the table. Everything started here is stopped on exit, Ctrl-C or
error; files go only to --out (bench/results) and a temp dir.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import callgrind, report, servers, spill  # noqa: E402
from benchlib.measure import NOISY_CPU, Loadgen, build_loadgen, measure, wait_quiet  # noqa: E402
from benchlib.procs import Reaper, cores, descendants  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)

# generator workload, default item count, whether it reads cacheable items,
# whether the table needs the score index
WORKLOADS = {
    "catalog": dict(gen="catalog", items=100000, reads=True, index=False,
                    what="GetItem, zipfian keys"),
    "catalog-batch": dict(gen="catalog-batch", items=100000, reads=True, index=False,
                          what="BatchGetItem of --batch distinct zipfian keys"),
    "leaderboard": dict(gen="leaderboard", items=10000, reads=False, index=True,
                        what="Query top-10 of a board on the by_score index (zipfian boards), "
                             "--write-fraction (5%) UpdateItem of a score"),
    "session": dict(gen="session", items=100000, reads=True, index=False,
                    what="GetItem / UpdateItem (ADD hits, SET seen), --write-fraction (50%) updates"),
    "write-heavy": dict(gen="write-heavy", items=100000, reads=False, index=False,
                        what="PutItem of whole items, --write-fraction (95%), the rest GetItem"),
    "relay-get": dict(gen="catalog", items=100000, reads=False, index=False, consistent=True,
                      what="GetItem with ConsistentRead=true: always relayed (issue 2's added latency)"),
    # Large items (issue 14): GetItem hits against nginx sending the same body
    # from a file (sendfile), the cheapest way it has.
    "get-4k": dict(gen="catalog", items=20000, item_size=4096, reads=True, index=False, ops=["GetItem"],
                   ceiling="file", what="GetItem hits of 4 KB items, zipfian keys"),
    "get-64k": dict(gen="catalog", items=2000, item_size=65536, reads=True, index=False, ops=["GetItem"],
                    ceiling="file", what="GetItem hits of 64 KB items, zipfian keys"),
    "get-400k": dict(gen="catalog", items=250, item_size=400000, reads=True, index=False, ops=["GetItem"],
                     ceiling="file", what="GetItem hits of 400 KB items, zipfian keys"),
    "catalog-spill": dict(gen="catalog", items=100000, reads=True, index=False, zipf=0.0,
                          targets="ddbx,ddbx-spill",
                          what="GetItem, uniform keys; ddbx holds every item in RAM, ddbx-spill has "
                               "--memory a tenth of that (--spill-ratio) over a spill tier in the page "
                               "cache, so most of its hits are spill hits"),
}
TARGETS = {"backend", "ddbx", "ddbx-base", "ddbx-spill", "nginx", "nginx-proxy"}


def backend_core(a):
    """The core(s) --backend-cpu names (None: not pinned, one-core machines)."""
    if a.server_cpus is None:
        return None
    return {"loadgen": a.loadgen_cpu, "server": a.server_cpus}.get(a.backend_cpu, a.backend_cpu)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="catalog")
    p.add_argument("--duration", type=float, default=10, help="seconds per measured run (10)")
    p.add_argument("--connections", type=int, default=32, help="keep-alive connections (32)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each round runs every target once (3)")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per target before round 1 (2)")
    p.add_argument("--items", type=int, help="item population (catalog 100000, leaderboard 10000)")
    p.add_argument("--item-size", type=int, help="item size in DynamoDB bytes (1000; get-4k/64k/400k: theirs)")
    p.add_argument("--zipf", type=float, help="key skew, 0 = uniform (0.99; catalog-spill 0)")
    p.add_argument("--batch", type=int, default=25, help="keys per BatchGetItem (25)")
    p.add_argument("--boards", type=int, default=100, help="leaderboard boards (100)")
    p.add_argument("--write-fraction", type=float, help="share of writes in mixed workloads")
    p.add_argument("--targets",
                   help="comma list of backend, ddbx, ddbx-base (with --ddbx-baseline), ddbx-spill, nginx (the "
                        "canned ceiling), nginx-proxy (nginx proxy_pass to the backend, keep-alive upstream) "
                        "(backend,ddbx,nginx; catalog-spill: ddbx,ddbx-spill)")
    p.add_argument("--ceiling", choices=["return", "file"],
                   help="how the nginx ceiling sends its canned bodies: `return` of map variables, or "
                        "static files with sendfile (return; get-4k/64k/400k: file)")
    p.add_argument("--spill-ratio", type=float, default=10,
                   help="catalog-spill: the working set over ddbx-spill's --memory (10)")
    p.add_argument("--restart-items", type=int, default=0, metavar="N",
                   help="catalog-spill: also time a warm restart with N items spilled (0: no)")
    p.add_argument("--backend", choices=["moto", "dynalite"], default="moto",
                   help="backend to start (moto)")
    p.add_argument("--backend-url", help="use this running backend (http://127.0.0.1:PORT) instead")
    p.add_argument("--dynalite-dir", default=os.path.join(tempfile.gettempdir(), "ddbx-bench-dynalite"),
                   help="where `npm install dynalite` goes, once")
    p.add_argument("--ddbx", default=os.path.join(REPO, "build", "ddbx"), help="ddbx binary (build/ddbx)")
    p.add_argument("--ddbx-threads", type=int, default=1, help="ddbx --threads (1)")
    p.add_argument("--ddbx-args", default="", help="extra ddbx flags, one string")
    p.add_argument("--ddbx-baseline", metavar="BIN",
                   help="a second ddbx binary measured in the same run as target ddbx-base (e.g. the "
                        "previous commit's build), with the same flags")
    p.add_argument("--ddbx-baseline-args", help="extra flags for ddbx-base instead of --ddbx-args")
    p.add_argument("--callgrind", action="store_true",
                   help="run ddbx, ddbx-base and the nginx targets under valgrind's callgrind and report "
                        "instructions per request (deterministic; user space only); implies --rounds 1 "
                        "and --connections 4 unless given")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                   help="before each run, wait up to S seconds for a second in which other processes use "
                        "less than 10%% of a core (for shared machines)")
    p.add_argument("--no-prewarm", action="store_true",
                   help="skip reading every key once through ddbx before the rounds")
    p.add_argument("--sweep-connections", help="comma list: measure every target at each count, "
                                               "plot throughput against connections")
    p.add_argument("--half-peak", action="store_true",
                   help="after the rounds, run each target at a constant rate of half its peak "
                        "and report the latency there")
    p.add_argument("--rate", type=float, help="constant rate (requests/s) for every run instead of closed loop")
    p.add_argument("--server-cpus", default="1", help="core(s) for the servers under test: ddbx, nginx (1)")
    p.add_argument("--backend-cpu",
                   help="the backend's core: 'loadgen', the load generator's (default for moto: moto "
                        "needs the generator very little, and ddbx relaying must not take CPU from its "
                        "backend, as it would not from DynamoDB), 'server', the servers' (default for "
                        "dynalite, which is fast enough that sharing the generator's core would hold it "
                        "back), or core numbers: e.g. '--backend-cpu 1 --server-cpus 0' gives the "
                        "backend a core of its own in every run, as DynamoDB's capacity is its own")
    p.add_argument("--loadgen-cpu", default="0", help="core for the load generator (0)")
    p.add_argument("--out", default=os.path.join(BENCH, "results"), help="report directory (bench/results)")
    p.add_argument("--tag", default="", help="suffix for the report's file name")
    p.add_argument("--smoke", action="store_true",
                   help="tiny setting: 300 items, 2 s runs, 1 round, 8 connections, all targets")
    p.add_argument("--profile", action="store_true",
                   help="record ddbx with `perf record -e cpu-clock -g` during its measured runs and "
                        "write the top functions next to the report")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, configs)")
    a = p.parse_args(argv)
    wl = WORKLOADS[a.workload]
    if a.callgrind:
        given = set(argv)
        if "--rounds" not in given:
            a.rounds = 1
        if "--connections" not in given:
            a.connections = 4
        a.warmup = min(a.warmup, 1)
    if a.smoke:
        a.items = a.items or 300
        a.duration = min(a.duration, 2)
        a.rounds = 1
        a.warmup = 0.5
        a.connections = min(a.connections, 8)
        a.boards = min(a.boards, 10)
        if a.sweep_connections:
            a.sweep_connections = "1,4"
    a.items = a.items or wl["items"]
    a.item_size = a.item_size or wl.get("item_size", 1000)
    a.ceiling = a.ceiling or wl.get("ceiling", "return")
    a.zipf = wl.get("zipf", 0.99) if a.zipf is None else a.zipf
    a.targets = a.targets or wl.get("targets", "backend,ddbx,nginx")
    if a.write_fraction is None:
        a.write_fraction = {"leaderboard": 0.05, "session": 0.5, "write-heavy": 0.95}.get(a.workload, 0.0)
    a.target_list = [t.strip() for t in a.targets.split(",") if t.strip()]
    if a.ddbx_baseline and "ddbx-base" not in a.target_list:
        a.target_list.insert(a.target_list.index("ddbx") + 1 if "ddbx" in a.target_list else 0, "ddbx-base")
    bad = set(a.target_list) - TARGETS
    if bad:
        p.error(f"unknown targets {sorted(bad)}")
    if "ddbx-base" in a.target_list and not a.ddbx_baseline:
        p.error("target ddbx-base needs --ddbx-baseline BIN")
    if a.backend_cpu is None:
        a.backend_cpu = "server" if a.backend == "dynalite" else "loadgen"
    if cores() < 2:
        a.server_cpus = a.loadgen_cpu = None
    return a


class Bench:
    def __init__(self, a):
        self.a = a
        self.wl = WORKLOADS[a.workload]
        self.table = f"bench_{a.items}_{a.item_size}" + ("_idx" if self.wl["index"] else "")
        self.tmp = tempfile.mkdtemp(prefix="ddbx-bench-")
        self.reaper = Reaper()
        self.notes = []
        self.runs = []
        self.facts = {}

    # ---- setup -----------------------------------------------------------------------------------

    def gen_args(self, workload=None):
        a = self.a
        args = ["--workload", workload or self.wl["gen"], "--table", self.table, "--items", str(a.items),
                "--item-size", str(a.item_size), "--zipf", str(a.zipf), "--boards", str(a.boards),
                "--write-fraction", str(a.write_fraction)]
        if (workload or self.wl["gen"]) == "catalog-batch":
            args += ["--batch", str(a.batch)]
        if self.wl.get("consistent"):
            args.append("--consistent")
        return args

    def start(self):
        a = self.a
        cpu = a.server_cpus
        backend_cpu = backend_core(a)
        self.loadgen = Loadgen(build_loadgen(self.tmp), a.loadgen_cpu, [])
        if a.backend_url:
            self.backend = servers.external_backend(a.backend_url)
        elif a.backend == "dynalite":
            self.backend = servers.start_dynalite(self.reaper, self.tmp, backend_cpu, a.dynalite_dir)
        else:
            self.backend = servers.start_moto(self.reaper, self.tmp, backend_cpu)
        self.load_data()
        self.targets = []
        for t in a.target_list:
            wrap = callgrind.wrap(os.path.join(self.tmp, f"cg-{t}")) if a.callgrind and t != "backend" else None
            if t == "backend":
                self.targets.append(self.backend)
            elif t in ("ddbx", "ddbx-base"):
                self.targets.append(self.start_ddbx(t, a.ddbx if t == "ddbx" else a.ddbx_baseline, wrap))
            elif t == "ddbx-spill":
                continue  # started once ddbx holds the working set (its --memory is a share of it)
            elif t == "nginx-proxy":
                self.targets.append(servers.start_nginx_proxy(self.reaper, self.tmp, cpu, self.backend, wrap))
            else:
                bodies = servers.canned_bodies(self.table, a.item_size, a.boards, a.batch, self.wl.get("ops"))
                self.targets.append(servers.start_nginx(self.reaper, self.tmp, cpu, bodies,
                                                        a.ceiling == "file", wrap))
            self.targets[-1].callgrind = os.path.join(self.tmp, f"cg-{t}") if wrap else None
        ram = next((t for t in self.targets if t.name == "ddbx"), None)
        if ram and "ddbx-spill" in a.target_list:
            with spill.RssSampler(ram) as sampler:  # anonymous RSS against bytes cached
                self.prewarm(ram)
            self.rss_samples = {"ddbx (RAM only)": sampler.points}
            self.start_spill()
        elif "ddbx-spill" in a.target_list:
            self.start_spill()
        else:
            for t in self.targets:
                if t.name.startswith("ddbx"):
                    self.prewarm(t)

    def ddbx_extra_args(self, path=None, args=None):
        """--ddbx-args (or args), with what every ddbx target of a run gets unless given."""
        a = self.a
        path = path or a.ddbx
        if not os.path.exists(path):
            raise SystemExit(f"{path} not found: build ddbx first (see bench/README.md)")
        flags = servers.ddbx_flags(path)
        extra = (a.ddbx_args if args is None else args).split()
        # Entries must outlive the whole run, or later rounds measure refills.
        for flag, value in (("item-ttl", "1h"), ("negative-ttl", "1h"), ("query-ttl", "1h")):
            if flag in flags and f"--{flag}" not in extra:
                extra += [f"--{flag}", value]
        return extra

    def start_spill(self):
        """ddbx-spill, with --memory the working set / --spill-ratio, filled by
        its own prewarm (every key read once: most go on to the spill)."""
        a = self.a
        ram = next((t for t in self.targets if t.name == "ddbx"), None)
        ws, memory = spill.spill_memory(ram, a.items, a.item_size, a.spill_ratio)
        t = spill.start_spill_target(self, memory)
        self.facts["spill_args"] = " ".join(t.args)
        self.facts["working_set"] = ws
        with spill.RssSampler(t) as sampler:
            self.prewarm(t)
        self.rss_samples = dict(getattr(self, "rss_samples", {}), **{"ddbx-spill": sampler.points})
        self.facts["spill_after_prewarm"] = spill.figures_after_prewarm(t)
        self.targets.append(t)

    def start_ddbx(self, name, path, wrap):
        """ddbx or ddbx-base (path: its binary), holding every item in RAM."""
        a = self.a
        args = a.ddbx_args if name == "ddbx" or a.ddbx_baseline_args is None else a.ddbx_baseline_args
        extra = self.ddbx_extra_args(path, args)
        if "--memory" not in extra and "memory" in servers.ddbx_flags(path):
            extra += ["--memory", "1GiB"]
        t = servers.start_ddbx(self.reaper, self.tmp, a.server_cpus, path, self.backend, a.ddbx_threads,
                               extra, name=name, wrap=wrap)
        self.facts[f"{name}_args"] = " ".join(t.args)
        self.facts[f"{name}_path"] = os.path.relpath(path, REPO)
        time.sleep(0.3)
        self.facts[f"{name}_idle_rss_kib"] = t.servers[0].rss_kib("VmRSS")
        self.facts[f"{name}_idle_rss_anon_kib"] = t.servers[0].rss_kib("RssAnon")
        return t

    def load_data(self):
        a = self.a
        url = self.backend.url()
        t0 = time.time()
        marker = servers.ensure_table(url, self.table, self.wl["index"])
        if marker and int(marker["items"]["N"]) >= a.items:
            self.facts["load"] = f"table {self.table} already held {a.items} items (reused)"
            return
        # Several connections: moto serves each on its own thread (it is
        # GIL-bound, so a few suffice); dynalite is one event loop.
        res = self.loadgen.run(self.backend.port, self.gen_args("load") + ["--connections", "4",
                                                                          "--duration", "0"], timeout=3600)
        errs = res["errors"]
        if errs["http"] or errs["connection"] or errs["parse"] or errs["unprocessed"]:
            raise RuntimeError(f"loading failed: {errs} {res['first_error']}")
        servers.mark_loaded(url, self.table, a.items)
        dt = time.time() - t0
        self.facts["load"] = (f"{a.items:,} items of ~{a.item_size} B loaded into {self.backend.name} with "
                              f"BatchWriteItem (25 items, 4 connections) in {dt:.1f} s "
                              f"({a.items / dt:,.0f} items/s)")
        print(self.facts["load"])

    def prewarm(self, ddbx):
        """Reads every key once through a ddbx target (BatchGetItem of 100,
        fewer for large items: an answer stays under 16 MB), so the rounds
        measure a warm cache rather than its filling."""
        a = self.a
        if not ddbx or a.no_prewarm or not self.wl["reads"]:
            return
        batch = max(1, min(100, 12_000_000 // (a.item_size + 200)))
        t0 = time.time()
        res = self.loadgen.run(ddbx.port, self.gen_args("prewarm") + ["--batch", str(batch), "--connections", "4",
                                                                      "--duration", "0"], timeout=3600)
        dt = time.time() - t0
        errs = res["errors"]
        self.facts.setdefault("prewarm", "")
        self.facts["prewarm"] += ("; " if self.facts["prewarm"] else "") + (
            f"every key read once through {ddbx.name} with BatchGetItem of {batch} keys: "
            f"{res['requests']} calls in {dt:.1f} s; errors {errs}")
        print(self.facts["prewarm"])

    # ---- runs ------------------------------------------------------------------------------------

    def run_all(self, label, connections, rate=None, rounds=None, duration=None):
        a = self.a
        out = []
        for r in range(rounds or a.rounds):
            # Rotate the order each round so no target always runs first or last.
            order = self.targets[r % len(self.targets):] + self.targets[:r % len(self.targets)]
            for t in order:
                args = self.gen_args() + ["--connections", str(connections)]
                rr = rate(t) if callable(rate) else rate
                if rr:
                    args += ["--rate", f"{rr:.1f}"]
                waited = wait_quiet(self.all_servers(), a.wait_quiet) if a.wait_quiet > 0 else 0
                perf = self.start_perf(t) if a.profile else None
                cg = getattr(t, "callgrind", None)
                if cg:
                    callgrind.zero(t.servers[0].pid)
                try:
                    res = measure(t, self.loadgen, args, duration or a.duration, label)
                finally:
                    self.stop_perf(perf)
                if cg:
                    path, ir = callgrind.dump(t.servers[0].pid, cg)
                    res.update(callgrind_file=path, instructions=ir,
                               instructions_per_req=ir / res["requests"] if res["requests"] else None)
                res.update(round=r + 1, connections=connections, waited_s=waited)
                out.append(res)
                lat = res["latency_us"]
                print(f"  {label:>14} round {r + 1} {t.name:>8}: {res['throughput']:>10,.0f} req/s  "
                      f"p50 {lat['p50']:>8.1f} µs  p99 {lat['p99']:>8.1f} µs  "
                      f"cpu {res['server_cpu_us_per_req'] or 0:>7.1f} µs/req  "
                      f"errors {res['errors']['http'] + res['errors']['connection']}  "
                      f"other cpu {res['foreign_cpu_util'] * 100:.0f}%"
                      + (" NOISY" if res["noisy"] else "") + (" BEHIND" if res["behind"] else "")
                      + (f"  {res['instructions_per_req']:,.0f} instructions/req" if cg else ""), flush=True)
        self.runs += out
        return out

    def all_servers(self):
        return list({s.pid: s for t in self.targets for s in t.servers + t.extra}.values())

    def start_perf(self, t):
        """perf record of the target's processes (all threads; nginx: master
        and worker), one file per target and run."""
        self.perf_data = getattr(self, "perf_data", [])
        path = os.path.join(self.tmp, f"perf-{len(self.perf_data)}-{t.name}.data")
        self.perf_data.append(path)
        pids = [str(s.pid) for s in t.servers] + [str(c) for s in t.servers for c in descendants(s.pid)]
        p = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4999", "-g", "-p",
                              ",".join(pids), "-o", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(0.3)
        return p

    @staticmethod
    def stop_perf(p):
        if p is None:
            return
        p.send_signal(2)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def write_profile(self, base):
        """The hottest functions of ddbx over its profiled runs (self time),
        and the callers of the top ones, as perf report prints them."""
        out = []
        for path in getattr(self, "perf_data", []):
            if not os.path.exists(path):
                continue
            flat = subprocess.run(["perf", "report", "-i", path, "--no-children", "--stdio", "-g", "none",
                                   "--percent-limit", "0.5", "--sort", "dso,symbol"],
                                  capture_output=True, text=True).stdout
            dso = subprocess.run(["perf", "report", "-i", path, "--no-children", "--stdio", "-g", "none",
                                  "--sort", "dso"], capture_output=True, text=True).stdout
            out.append(f"### {os.path.basename(path)}: self time by object\n\n" + dso)
            out.append(f"### {os.path.basename(path)}: self time by function\n\n" + flat)
        if not out:
            return None
        path = os.path.join(self.a.out, base + "-perf.txt")
        with open(path, "w") as f:
            f.write("\n".join(out))
        return path

    def warmup(self):
        if self.a.warmup <= 0:
            return
        for t in self.targets:
            measure(t, self.loadgen, self.gen_args() + ["--connections", str(self.a.connections)],
                    self.a.warmup, "warmup")

    def go(self):
        a = self.a
        self.start()
        self.warmup()
        results = {}
        if a.sweep_connections:
            counts = [int(c) for c in a.sweep_connections.split(",")]
            for c in counts:
                results[f"c{c}"] = self.run_all(f"{c} conns", c, rate=a.rate)
        else:
            results["main"] = self.run_all(f"{a.connections} conns" + (f" @{a.rate:.0f}/s" if a.rate else ""),
                                           a.connections, rate=a.rate)
        if a.restart_items:
            print(f"warm restart with {a.restart_items:,} items spilled ...", flush=True)
            self.restart = spill.warm_restart(self, a.restart_items, a.item_size)
        if a.half_peak:
            base = results.get("main") or results[f"c{max(int(c) for c in a.sweep_connections.split(','))}"]
            rows = report.aggregate(base)
            peak = {name: row["throughput"] for name, row in rows.items()}
            self.facts["peaks"] = peak
            results["half"] = self.run_all("half peak", a.connections,
                                           rate=lambda t: peak[t.name] / 2)
        return results

    def stop(self):
        self.reaper.stop_all()
        if self.a.keep_tmp:
            print(f"temp dir kept: {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- report ----------------------------------------------------------------------------------

    def write_report(self, results, argv):
        a = self.a
        os.makedirs(a.out, exist_ok=True)
        stamp = datetime.datetime.now()
        mode = "-smoke" if a.smoke else "-sweep" if a.sweep_connections else ""
        base = f"{stamp:%Y-%m-%d}-{a.workload}{mode}{('-' + a.tag) if a.tag else ''}"
        md_path = os.path.join(a.out, base + ".md")
        raw_dir = os.path.join(a.out, "raw")
        os.makedirs(raw_dir, exist_ok=True)
        with open(os.path.join(raw_dir, f"{stamp:%Y-%m-%dT%H%M%S}-{a.workload}{mode}.json"), "w") as f:
            json.dump({"argv": argv, "facts": self.facts, "runs": self.runs}, f)

        main_key = "main" if "main" in results else sorted(
            (k for k in results if k.startswith("c")), key=lambda k: int(k[1:]))[-1]
        rows = report.aggregate(results[main_key])
        batch = a.workload == "catalog-batch"
        L = [f"# ddbx benchmark: {a.workload}, {stamp:%Y-%m-%d %H:%M}", ""]
        L += ["Command:", "", "```", "bench/run.py " + " ".join(argv), "```", ""]
        L += self.setup_section()
        L += [f"## Results ({results[main_key][0]['label']}, {a.rounds} round(s) of {a.duration:g} s, "
              "targets interleaved)", "",
              "Throughput is the median over rounds; latency percentiles come from the rounds' histograms "
              "merged; CPU is utime+stime from /proc of the target's processes (nginx: master and worker) "
              "over all rounds divided by requests answered; *+backend CPU* adds the backend's CPU "
              "spent during ddbx's runs; peak RSS is VmHWM, reset before each run; *generator CPU* is the "
              "load generator's share of its core; *other CPU* is what processes outside the run used "
              "meanwhile (in cores: noise from other jobs on the machine). A round in which other processes "
              f"used more than {NOISY_CPU * 100:.0f}% of a core (*noisy*), or, at a constant rate, in which "
              "the generator fell behind its schedule (*behind*), is left out of these figures when a clean "
              "round of the same target remains (*rounds used*); every run is listed at the end.", "",
              report.target_table(rows, batch), ""]
        L += self.ratio_section(rows, batch)
        L += self.goal_section(rows, results)
        if "ddbx-spill" in rows:
            L += spill.spill_section(self, rows, base)
        if getattr(self, "restart", None):
            L += spill.restart_section(self.restart)
        if "half" in results:
            hrows = report.aggregate(results["half"])
            L += ["## Constant rate at half of each target's peak", "",
                  "Each target is offered half the median throughput it reached above, at a constant rate "
                  "(open loop: latency counts from when each request was due, so queueing is not hidden).", "",
                  report.target_table(hrows, batch), "",
                  "How late the generator dispatched requests after they were due (its own lag, before any wait for a free connection) (p99, worst round): "
                  + ", ".join(f"{r['target']} {r['send_lag_p99']:,.1f} µs" for r in hrows.values())
                  + "; largest queue of due requests waiting for a free connection: "
                  + ", ".join(f"{r['target']} {r['max_backlog']}" for r in hrows.values()) + ".", ""]
            self.plot(hrows, base + "-half-latency.png", f"{a.workload}: latency at half of peak", L)
        if a.sweep_connections:
            L += self.sweep_section(results, base)
        L += self.callgrind_section(self.runs, base)
        self.plot(rows, base + "-latency.png",
                  f"{a.workload}: latency by percentile ({results[main_key][0]['label']})", L)
        prof = self.write_profile(base)
        if prof:
            L += ["## Profile", "", f"perf record -e cpu-clock -g of ddbx during its measured runs: "
                                    f"[{os.path.basename(prof)}]({os.path.basename(prof)}).", ""]
        L += ["## Every run", "", report.runs_table(self.runs), ""]
        if self.notes:
            L += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        with open(md_path, "w") as f:
            f.write("\n".join(L))
        print(f"\nreport: {os.path.relpath(md_path)}")
        return md_path, rows

    def plot(self, rows, name, title, L):
        path = os.path.join(self.a.out, name)
        if report.plot_latency(rows, path, self.tmp, title):
            L += [f"![{title}]({name})", ""]

    def setup_section(self):
        a = self.a
        cpu_model = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu_model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip()
        L = ["## Setup", "",
             f"- Machine: {os.cpu_count()} cores ({cpu_model}), Linux {platform.release()}; ddbx at {git}.",
             f"- Pinning: ddbx and nginx on core(s) {a.server_cpus}, load generator on core {a.loadgen_cpu}, "
             f"backend on core {backend_core(a)}."
             if a.server_cpus is not None else "- Pinning: none (one core).",
             f"- Workload **{a.workload}**: {self.wl['what']}; {a.items:,} items of ~{a.item_size} B, "
             f"zipf {a.zipf}" + (f", {a.boards} boards" if a.workload == "leaderboard" else "")
             + (f", write fraction {a.write_fraction}" if a.write_fraction else "")
             + (f", {a.batch} keys per call" if a.workload == "catalog-batch" else "") + ".",
             f"- Load generator: bench/loadgen (C, libuv), one thread, "
             + (f"constant rate {a.rate:g}/s" if a.rate else "closed loop") + ", SDK-like headers.",
             f"- Backend: {self.backend.name} on 127.0.0.1:{self.backend.port}. {self.facts.get('load', '')}"]
        for name in ("ddbx", "ddbx-base"):
            if f"{name}_args" in self.facts:
                L.append(f"- {name}: `{self.facts[name + '_path']} {self.facts[name + '_args']}`; idle RSS at start "
                         f"{self.facts[name + '_idle_rss_kib'] / 1024:.1f} MiB "
                         f"(anonymous {self.facts[name + '_idle_rss_anon_kib'] / 1024:.1f} MiB).")
        if "nginx-proxy" in a.target_list:
            L.append("- nginx-proxy: nginx (Debian), one worker, `proxy_pass` to the backend over HTTP/1.1 with "
                     "an upstream `keepalive 128` pool; it neither parses the body nor signs.")
        if a.callgrind:
            L.append("- **callgrind**: ddbx and the nginx targets ran under `valgrind --tool=callgrind`; their "
                     "throughput, latency and CPU figures are valgrind's, not theirs: only instructions per "
                     "request mean anything here.")
        if "prewarm" in self.facts:
            L.append(f"- Prewarm: {self.facts['prewarm']}.")
        L.append("- Ceiling: nginx (Debian), one worker, answering every POST with a fixed valid body for its "
                 "X-Amz-Target (GetItem: one item; BatchGetItem: the batch; Query: 10 items; writes: `{}`), "
                 "keep-alive, `Content-Type: application/x-amz-json-1.0`, matching `x-amz-crc32`"
                 + ("; bodies sent from files with sendfile." if a.ceiling == "file" else "; bodies from `return`."))
        L.append("")
        return L

    def ratio_section(self, rows, batch):
        d = rows.get("ddbx")
        b = rows.get(self.backend.name)
        if not d or len(rows) < 2:
            return []
        L = ["## Ratios", "", "| ratio | throughput | p50 | p99 | server CPU/req |", "|---|---|---|---|---|"]
        tp = "keys_per_s" if batch else "throughput"
        for name in (self.backend.name, "ddbx-base", "nginx", "nginx-proxy"):
            other = rows.get(name)
            if not other:
                continue
            L.append(f"| ddbx / {name} | {report.fmt(report.ratio(d[tp], other[tp]), 2)}× | "
                     f"{report.fmt(report.ratio(d['p50'], other['p50']), 2)}× | "
                     f"{report.fmt(report.ratio(d['p99'], other['p99']), 2)}× | "
                     f"{report.fmt(report.ratio(d['server_cpu_us_per_req'], other['server_cpu_us_per_req']), 2)}× |")
        if b and b["p50"] is not None:
            for name in ("ddbx", "ddbx-base", "nginx-proxy"):
                x = rows.get(name)
                if x and x["p50"] is not None:
                    L += ["", f"Added latency, {name} − {self.backend.name} (same run): "
                              f"p50 {x['p50'] - b['p50']:+.1f} µs, p99 {x['p99'] - b['p99']:+.1f} µs, "
                              f"mean {x['mean'] - b['mean']:+.1f} µs (percentiles are histogram buckets at most "
                              f"{b['p50'] / 64:.0f} µs wide at the backend's p50; the mean is exact)."]
        gen = max(r["generator_cpu_util"] for r in rows.values())
        if gen > 0.9:
            L += ["", f"The load generator's core was {gen * 100:.0f}% busy in the fastest target's runs: "
                      "that target may be limited by the generator, so compare CPU per request there."]
        L.append("")
        return L

    def callgrind_section(self, runs, base):
        """Instructions per request of every target that ran under callgrind,
        and the top functions of each target's last dump."""
        cg = [r for r in runs if r.get("instructions_per_req")]
        if not cg:
            return []
        L = ["## Instructions per request (callgrind)", "",
             "User-space instructions counted by callgrind between a zero and a dump around each run, "
             "over the requests answered in it; deterministic, whatever else the machine runs. Kernel work "
             "(loopback TCP, epoll) is not in these figures.", "",
             "| target | round | requests | instructions | instructions/req |", "|---|---|---|---|---|"]
        per = {}
        for r in cg:
            L.append(f"| {r['target']} | {r['round']} | {r['requests']:,} | {r['instructions']:,} | "
                     f"{r['instructions_per_req']:,.0f} |")
            per.setdefault(r["target"], []).append(r["instructions_per_req"])
        med = {t: report.median(v) for t, v in per.items()}
        if "ddbx" in med:
            for other in ("ddbx-base", "nginx", "nginx-proxy"):
                if other in med:
                    L += ["", f"ddbx / {other}: {med['ddbx'] / med[other]:.2f}× the instructions per request "
                              f"({med['ddbx']:,.0f} / {med[other]:,.0f})."]
        out = []
        last = {r["target"]: r["callgrind_file"] for r in cg}
        for t, path in last.items():
            out.append(f"### {t}: {os.path.basename(path)}\n\n" + callgrind.top_functions(path) + "\n")
        path = os.path.join(self.a.out, base + "-callgrind.txt")
        with open(path, "w") as f:
            f.write("\n".join(out))
        L += ["", f"Top functions by instructions (self), each target's last run: "
                  f"[{os.path.basename(path)}]({os.path.basename(path)}).", ""]
        return L

    def goal_section(self, rows, results):
        """Issue 4's goals that this workload can check, met or missed by how much."""
        a = self.a
        d, b, n = rows.get("ddbx"), rows.get(self.backend.name), rows.get("nginx")
        goals = []

        def check(name, value, op, target, unit="×"):
            if value is None:
                goals.append(f"| {name} | n/a | {op} {target:g}{unit} | not measured |")
                return
            ok = value >= target if op == "≥" else value <= target
            if ok:
                miss = ""
            elif target:
                miss = f" (missed by {abs(value - target) / target * 100:.0f}%)"
            else:
                miss = f" (missed by {value:,.3g}{unit})"
            goals.append(f"| {name} | {value:,.2f}{unit} | {op} {target:g}{unit} | "
                         f"{'met' if ok else 'MISSED'}{miss} |")

        if not d:
            return []
        if a.workload == "catalog":
            if n:
                check("throughput vs nginx", report.ratio(d["throughput"], n["throughput"]), "≥", 0.8)
                check("server CPU/req vs nginx",
                      report.ratio(d["server_cpu_us_per_req"], n["server_cpu_us_per_req"]), "≤", 1.25)
            if b:
                check(f"throughput vs {b['target']}", report.ratio(d["throughput"], b["throughput"]), "≥",
                      3 if b["target"] == "dynalite" else 50)
            if "half" in results:
                h = report.aggregate(results["half"]).get("ddbx")
                check("p99 at half of peak", h["p99"] / 1000 if h and h["p99"] else None, "≤", 1, " ms")
            check("backend calls per request once warm", d.get("backend_per_request"), "≤", 0, "")  # wanted: none
        elif a.workload == "catalog-batch" and b:
            check(f"items/s vs {b['target']}", report.ratio(d["keys_per_s"], b["keys_per_s"]), "≥", 10)
        elif a.workload == "catalog-spill" and rows.get("ddbx-spill"):
            sp = rows["ddbx-spill"]
            check("spill-hit throughput vs RAM-hit throughput (ddbx-spill / ddbx)",
                  report.ratio(sp["throughput"], d["throughput"]), "≥", 0.5)
            check("backend calls per request once warm (ddbx-spill)", sp.get("backend_per_request"), "≤",
                  0, "")
        elif a.workload == "write-heavy" and b:
            check(f"throughput vs {b['target']}", report.ratio(d["throughput"], b["throughput"]), "≥", 0.9)
        earlier = goals  # issue 4's (issue 11's for catalog-spill)
        goals = []
        p, cpu = rows.get("nginx-proxy"), "server_cpu_us_per_req"
        if a.workload == "catalog" and n:
            check("CPU/req vs nginx (1 KB items at 32 connections: 1.05×)", report.ratio(d[cpu], n[cpu]), "≤", 1.05)
            check("p99 vs nginx", report.ratio(d["p99"], n["p99"]), "≤", 1.5)
        elif a.workload == "catalog-batch" and n:
            check("calls/s vs nginx's canned answer", report.ratio(d["throughput"], n["throughput"]), "≥", 0.8)
            check("CPU/call vs nginx", report.ratio(d[cpu], n[cpu]), "≤", 1.5)
        elif a.workload.startswith("get-") and n:
            check("throughput vs nginx (same body)", report.ratio(d["throughput"], n["throughput"]), "≥", 0.8)
        elif a.workload in ("relay-get", "write-heavy"):
            if p:
                check("CPU/req vs nginx-proxy", report.ratio(d[cpu], p[cpu]), "≤", 1.5)
            if p and b and a.workload == "relay-get" and None not in (d["p50"], p["p50"], b["p50"]):
                # meaningful where the backend is not queueing (1 connection): an added
                # latency at or under zero says the run cannot tell
                added = (d["p50"] - b["p50"], p["p50"] - b["p50"])
                check(f"added p50 vs nginx-proxy's ({a.connections} connection{'s' if a.connections > 1 else ''}"
                      + ("" if a.connections == 1 else ": queueing at the backend, not the relay's own") + ")",
                      added[0] / added[1] if min(added) > 0 else None, "≤", 1.5)
            if b and a.workload == "write-heavy":
                check(f"throughput vs {b['target']} directly", report.ratio(d["throughput"], b["throughput"]),
                      "≥", 0.95)
        out = []
        issue = 11 if a.workload == "catalog-spill" else 4
        for title, g in ((f"Goals (issue {issue})", earlier), ("Goals (issue 14)", goals)):
            if g:
                out += [f"## {title}", "", "| goal | measured | wanted | verdict |", "|---|---|---|---|"] + g + [""]
        return out

    def sweep_section(self, results, base):
        a = self.a
        sweep, rows_by_c = {}, {}
        for k, runs in results.items():
            if not k.startswith("c"):
                continue
            c = int(k[1:])
            rows_by_c[c] = report.aggregate(runs)
            for name, row in rows_by_c[c].items():
                sweep.setdefault(name, []).append((c, row["throughput"]))
        L = ["## Throughput against connections", "",
             "| connections | " + " | ".join(f"{t} req/s | {t} p99 µs" for t in sweep) + " |",
             "|---|" + "---|---|" * len(sweep)]
        for c in sorted(rows_by_c):
            cells = []
            for t in sweep:
                r = rows_by_c[c].get(t)
                cells += [report.fmt(r["throughput"]), report.fmt(r["p99"], 1)] if r else ["", ""]
            L.append(f"| {c} | " + " | ".join(cells) + " |")
        L.append("")
        name = base + "-throughput.png"
        if report.plot_sweep(sweep, os.path.join(a.out, name), self.tmp,
                             f"{a.workload}: throughput against connections"):
            L += [f"![throughput against connections]({name})", ""]
        return L


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    bench = Bench(a)
    try:
        results = bench.go()
        bench.write_report(results, argv)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every server this run started", file=sys.stderr)
        return 130
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
