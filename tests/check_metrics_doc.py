#!/usr/bin/env python3
"""docs/metrics.md against the metrics table, both ways.

1. The doc's generated tables are exactly what `ddbx --help-metrics` prints
   from src/metrics/metrics.def: no row undocumented, no documented metric
   that is not a row, same types and help texts.
2. A running ddbx exports exactly the documented metrics, each with the
   documented type, and a sample for every one but the labelled families
   (whose series appear once an operation is seen).
Usage: check_metrics_doc.py <ddbx binary> <docs/metrics.md>
"""
import difflib
import re
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_tables(doc):
    m = re.search(r"<!-- metrics:begin -->\n(.*?)<!-- metrics:end -->", doc, re.S)
    if not m:
        sys.exit("docs/metrics.md has no <!-- metrics:begin/end --> markers")
    return m.group(1)


def documented(tables):
    """{name: (type, labelled)} from the table lines."""
    rows = {}
    for line in tables.splitlines():
        m = re.match(r"\| `(\w+)(\{[\w,]+\})?` \| (\w+) \|", line)
        if m:
            rows[m.group(1)] = (m.group(3), m.group(2) is not None)
    return rows


def scrape(binary):
    admin = free_port()
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:%d" % admin,
                             "--backend", "http://127.0.0.1:9", "--threads", "1",
                             "--log-level", "error"])
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=2) as r:
                    return r.read().decode()
            except OSError:
                if proc.poll() is not None:
                    sys.exit("ddbx exited with status %d" % proc.returncode)
                time.sleep(0.05)
        sys.exit("no /metrics answer from ddbx")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    binary, doc_path = sys.argv[1], sys.argv[2]
    failures = []
    tables = doc_tables(open(doc_path).read())
    printed = subprocess.run([binary, "--help-metrics"], capture_output=True, text=True,
                             check=True).stdout
    if tables != printed:
        failures.append("%s's tables differ from `ddbx --help-metrics` (run scripts/doc-tables):\n%s"
                        % (doc_path, "".join(difflib.unified_diff(
                            tables.splitlines(True), printed.splitlines(True),
                            "docs/metrics.md", "ddbx --help-metrics"))))
    rows = documented(tables)
    text = scrape(binary)
    exported = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M))
    for name in sorted(set(exported) - set(rows)):
        failures.append("exported but not documented: %s" % name)
    for name in sorted(set(rows) - set(exported)):
        failures.append("documented but not exported: %s" % name)
    for name in sorted(set(rows) & set(exported)):
        kind, labelled = rows[name]
        if exported[name] != kind:
            failures.append("%s is a %s, documented as a %s" % (name, exported[name], kind))
        series = name + "_count" if kind == "histogram" else name
        if not labelled and not re.search(r"^%s \S+$" % re.escape(series), text, re.M):
            failures.append("%s has no sample in /metrics" % name)
    for f in failures:
        print(f)
    if failures:
        return 1
    print("docs/metrics.md lists exactly the %d metrics of the table, and ddbx exports them"
          % len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
