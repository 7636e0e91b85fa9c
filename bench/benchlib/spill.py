"""The catalog-spill workload's own parts (bench/run.py --workload catalog-spill):
the ddbx-spill target (a --memory a tenth of the working set, over a spill
tier in the run's temp dir), anonymous RSS sampled against the bytes cached
while the two ddbx targets fill, and the warm-restart figure (time from
start to the first hit with a million spilled items, behind a stub backend).
"""
import http.client
import json
import os
import threading
import time

from . import servers
from .measure import metric_sum
from .procs import Server

RESTART_TABLE = "mem"  # the stub backend's table (bench/memory.py's)


class RssSampler:
    """Samples a ddbx target's anonymous RSS and the bytes it caches (RAM by
    ddbx_item_cache_bytes, disk by ddbx_spill_bytes) every `every` seconds."""

    def __init__(self, target, every=0.25):
        self.target, self.every = target, every
        self.points = []  # (cached bytes, RAM bytes, spill bytes, RssAnon KiB, VmRSS KiB)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self):
        m = self.target.metrics()
        srv = self.target.servers[0]
        ram, disk = metric_sum(m, "ddbx_item_cache_bytes"), metric_sum(m, "ddbx_spill_bytes")
        self.points.append((ram + disk, ram, disk, srv.rss_kib("RssAnon"), srv.rss_kib("VmRSS")))

    def run(self):
        while not self.stop.wait(self.every):
            try:
                self.sample()
            except (OSError, ValueError):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sample()


def spill_memory(ram_target, items, item_size, ratio):
    """--memory for ddbx-spill: the working set (what the RAM-only ddbx holds
    once every key was read) divided by ratio; estimated when there is no
    RAM target to ask (1.2 B of JSON per DynamoDB byte, 100 B of overhead)."""
    ws = metric_sum(ram_target.metrics(), "ddbx_item_cache_bytes") if ram_target else 0
    if not ws:
        ws = items * (item_size * 1.2 + 100)
    return int(ws), max(int(ws / ratio), 1 << 20)


def start_spill_target(bench, memory):
    """ddbx-spill: the same binary and flags as ddbx, --memory `memory`, a spill
    directory in the run's temp dir."""
    a = bench.a
    spill_dir = os.path.join(bench.tmp, "spill")
    os.makedirs(spill_dir, exist_ok=True)
    extra = bench.ddbx_extra_args() + ["--memory", str(memory), "--spill-dir", spill_dir]
    return servers.start_ddbx(bench.reaper, bench.tmp, a.server_cpus, a.ddbx, bench.backend,
                              a.ddbx_threads, extra, name="ddbx-spill")


def figures_after_prewarm(target):
    m = target.metrics()
    return {k: metric_sum(m, "ddbx_" + k) for k in
            ("item_cache_bytes", "item_cache_entries", "spill_entries", "spill_bytes",
             "spill_dropped_total", "spill_paused")}


def plot_rss(samples, path_png, tmp, title):
    """Anonymous RSS against bytes cached, one line per target."""
    from .report import _gnuplot
    plots = []
    for i, (name, pts) in enumerate(samples.items()):
        dat = os.path.join(tmp, f"rss-{i}.dat")
        with open(dat, "w") as f:
            for cached, _, _, anon, _ in pts:
                f.write(f"{cached / 2**20:.2f} {anon / 1024:.2f}\n")
        plots.append(f"'{dat}' using 1:2 with linespoints lw 2 pt 7 ps 0.5 title '{name}'")
    settings = ("set xlabel 'bytes cached, RAM + spill (MiB, ddbx''s count)'\n"
                "set ylabel 'anonymous RSS (MiB)'\nset key top left")
    return _gnuplot(path_png, title, settings, plots, tmp)


# ---- the warm restart ------------------------------------------------------------------------------

def get_item_body(i):
    return json.dumps({"TableName": RESTART_TABLE, "Key": {"pk": {"S": "k%09d" % i}}}).encode()


def first_hit(port, key, deadline):
    """Polls GetItem of key until ddbx answers it with an Item; the time it did."""
    body = get_item_body(key)
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("POST", "/", body=body, headers={
                "X-Amz-Target": "DynamoDB_20120810.GetItem",
                "Content-Type": "application/x-amz-json-1.0"})
            r = c.getresponse()
            data = r.read()
            c.close()
            if r.status == 200 and b'"Item"' in data:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"no hit of key {key} before the deadline")


def warm_restart(bench, n_items, item_size, memory="64MiB"):
    """Writes n_items through a ddbx with --memory `memory` over a spill, behind
    a stub backend whose GetItem always answers "not found" (so an Item can
    only come from ddbx); stops it with SIGTERM; starts it again and times the
    first hit. Returns the figures as a dict."""
    from memory import stub_bodies  # bench/memory.py's stub backend
    a = bench.a
    stub = servers.start_nginx(bench.reaper, bench.tmp, a.loadgen_cpu, stub_bodies())
    spill_dir = os.path.join(bench.tmp, "spill-restart")
    os.makedirs(spill_dir, exist_ok=True)
    flags = ["--memory", memory, "--spill-dir", spill_dir, "--item-ttl", "1h", "--negative-ttl", "1h",
             "--log-level", "info"]
    d = servers.start_ddbx(bench.reaper, bench.tmp, a.server_cpus, a.ddbx, stub, 1, flags,
                           name="ddbx-restart")
    gen = ["--table", RESTART_TABLE, "--item-size", str(item_size)]
    # In slices the spill's writer keeps up with: write-through is faster than
    # it (random inserts into a tree of a million records), and a put that
    # finds the queue full is dropped, as it would be in service.
    t0 = time.time()
    for first in range(0, n_items, RESTART_SLICE):
        last = min(first + RESTART_SLICE, n_items)
        res = bench.loadgen.run(d.port, gen + ["--workload", "load", "--first", str(first),
                                               "--items", str(last), "--connections", "2",
                                               "--duration", "0"], timeout=7200)
        if res["errors"]["http"] or res["errors"]["connection"] or res["errors"]["unprocessed"]:
            raise RuntimeError(f"loading through ddbx-restart failed: {res['errors']} {res['first_error']}")
        cur = settle(d)
    load_s = time.time() - t0
    before_stop = cur
    srv = d.servers[0]
    t_stop = time.monotonic()
    srv.stop(timeout=600)
    stop_s = time.monotonic() - t_stop
    with open(srv.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    # the same command again, on the same directory
    t_start = time.monotonic()
    srv2 = bench.reaper.add(Server("ddbx-restart-2", srv.cmd, srv.log_path, env=srv_env()))
    port = d.port
    hit_at = first_hit(port, 0, t_start + 120)
    first_s = hit_at - t_start
    admin = d.admin
    t2 = servers.Target("ddbx-restart-2", port, [srv2], admin=admin)
    m = t2.metrics()
    check = bench.loadgen.run(port, gen + ["--items", str(n_items), "--workload", "catalog", "--zipf", "0",
                                           "--connections", "8", "--duration", "2"], timeout=120)
    m2 = t2.metrics()
    srv2.stop(timeout=600)
    stub.servers[0].stop()
    with open(srv.log_path, "rb") as f:
        start_log = [l for l in f.read().decode(errors="replace")[len(log):].splitlines()
                     if "spill:" in l][:1]
    return {
        "items": n_items, "item_size": item_size, "memory": memory, "load_s": load_s,
        "ram_entries": before_stop["item_cache_entries"], "spilled": before_stop["spill_entries"],
        "spill_bytes": before_stop["spill_bytes"], "dropped": before_stop["spill_dropped_total"],
        "stop_s": stop_s, "stop_log": [l for l in log.splitlines() if "spill:" in l][-1:] + start_log,
        "first_hit_s": first_s,
        "warm_entries": metric_sum(m, "ddbx_spill_entries"),
        "check_found": check["get_found"], "check_empty": check["get_empty"],
        "check_requests": check["requests"], "check_throughput": check["throughput"],
        "check_spill_hits": metric_sum(m2, "ddbx_spill_hits_total") - metric_sum(m, "ddbx_spill_hits_total"),
        "args": " ".join(d.args),
    }


RESTART_SLICE = 10000


def settle(d):
    """Waits until the spill's record count stops moving (the writer has
    committed what was queued); returns figures_after_prewarm."""
    last, same = -1, 0
    while same < 2:
        time.sleep(0.2)
        cur = figures_after_prewarm(d)
        same = same + 1 if cur["spill_entries"] == last else 0
        last = cur["spill_entries"]
    return cur


def srv_env():
    env = dict(os.environ, **servers.BENCH_ENV)
    env.pop("AWS_PROFILE", None)
    return env


def restart_section(r):
    spilled = r["spilled"]
    return [
        "## Warm restart", "",
        f"`ddbx {r['args']}` behind a stub backend (nginx; GetItem always answers \"not found\", so an "
        f"Item can only come from ddbx). {r['items']:,} items of ~{r['item_size']} B written through it "
        f"with BatchWriteItem (2 connections, slices of {RESTART_SLICE:,}, each left to settle in the "
        f"spill) in {r['load_s']:.1f} s; then {spilled:,.0f} records in the "
        f"spill ({r['spill_bytes'] / 2**20:,.0f} MiB of map), {r['ram_entries']:,.0f} entries in RAM, "
        f"{r['dropped']:,.0f} puts dropped (queue full or paused).", "",
        "| figure | value |", "|---|---|",
        f"| SIGTERM to exit (RAM written to the spill, committed, synced, marked clean) | {r['stop_s']:.2f} s |",
        f"| records after the restart | {r['warm_entries']:,.0f} |",
        f"| **start to the first hit** (exec to a GetItem answered with its Item, key 0, written first) | "
        f"**{r['first_hit_s'] * 1000:,.0f} ms** |",
        f"| then 2 s of uniform GetItem over every key, 8 connections | {r['check_requests']:,} requests "
        f"({r['check_throughput']:,.0f}/s), {r['check_found']:,} found, {r['check_empty']:,} not found; "
        f"{r['check_spill_hits']:,.0f} spill hits |", "",
        "The logs of the stop and of the start after it: " + "; ".join(f"`{l.split('] ', 1)[-1]}`" for l in r["stop_log"]), ""]


# ---- the report ----------------------------------------------------------------------------------

def spill_section(bench, rows, base):
    """RAM hits next to spill hits (same run), what ddbx-spill held, and
    anonymous RSS against bytes cached (table and plot)."""
    from .report import fmt, ratio
    a, f = bench.a, bench.facts
    d, sp = rows.get("ddbx"), rows["ddbx-spill"]
    after = f.get("spill_after_prewarm", {})
    share = sp["spill_hits"] / sp["ddbx_requests"] if sp.get("spill_hits") is not None and \
        sp.get("ddbx_requests") else None
    L = ["## RAM hits and spill hits", "",
         f"- ddbx-spill: `ddbx {f.get('spill_args', '')}`; working set {f.get('working_set', 0) / 2**20:,.1f} MiB "
         f"(what ddbx holds with every key cached), {a.spill_ratio:g}× its --memory.",
         f"- After its prewarm: {after.get('item_cache_entries', 0):,.0f} entries in RAM "
         f"({after.get('item_cache_bytes', 0) / 2**20:,.1f} MiB), {after.get('spill_entries', 0):,.0f} records "
         f"in the spill ({after.get('spill_bytes', 0) / 2**20:,.1f} MiB of map, in the page cache), "
         f"{after.get('spill_dropped_total', 0):,.0f} puts dropped.",
         f"- During the rounds {fmt(share, 3)} of ddbx-spill's answers came from the spill "
         f"(`ddbx_spill_hits_total` per request); the rest were RAM hits.", ""]
    if d:
        L += ["| | ddbx (RAM hits) | ddbx-spill (mostly spill hits) | ratio |", "|---|---|---|---|"]
        for label, k, digits in (("req/s (median)", "throughput", 0), ("p50 µs", "p50", 1),
                                 ("p99 µs", "p99", 1), ("p99.9 µs", "p99.9", 1),
                                 ("server CPU µs/req", "server_cpu_us_per_req", 1),
                                 ("backend calls/req", "backend_per_request", 3)):
            L.append(f"| {label} | {fmt(d.get(k), digits)} | {fmt(sp.get(k), digits)} | "
                     f"{fmt(ratio(sp.get(k), d.get(k)), 2)}× |")
        L.append("")
    samples = getattr(bench, "rss_samples", {})
    if samples:
        L += ["### Anonymous RSS against bytes cached", "",
              "Sampled every 0.25 s while each target's prewarm read every key once (RAM: "
              "`ddbx_item_cache_bytes`; spill: `ddbx_spill_bytes`, the map's pages in use).", "",
              "| target | bytes cached at the end (RAM + spill) | anonymous RSS at the start | at the end | "
              "highest | RSS (file-backed map included) at the end |", "|---|---|---|---|---|---|"]
        for name, pts in samples.items():
            if not pts:
                continue
            L.append(f"| {name} | {pts[-1][0] / 2**20:,.1f} MiB ({pts[-1][1] / 2**20:,.1f} + "
                     f"{pts[-1][2] / 2**20:,.1f}) | {pts[0][3] / 1024:,.1f} MiB | {pts[-1][3] / 1024:,.1f} MiB | "
                     f"{max(p[3] for p in pts) / 1024:,.1f} MiB | {pts[-1][4] / 1024:,.1f} MiB |")
        L.append("")
        name = base + "-rss.png"
        if plot_rss(samples, os.path.join(a.out, name), bench.tmp,
                    "anonymous RSS against bytes cached"):
            L += [f"![anonymous RSS against bytes cached]({name})", ""]
    return L
