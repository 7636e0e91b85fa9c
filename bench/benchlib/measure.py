"""One measured run: the load generator against one target, with the
target's CPU, peak memory and /metrics read before and after."""
import json
import os
import subprocess
import time

from .procs import pinned, system_busy_seconds

LOADGEN_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "loadgen")


def build_loadgen(out_dir):
    """Compiles bench/loadgen into out_dir (the run's temp dir); returns the binary."""
    subprocess.run(["make", "-s", "-C", LOADGEN_SRC, f"OUT={out_dir}"], check=True)
    return os.path.join(out_dir, "ddbx-load")


class Loadgen:
    def __init__(self, binary, cpu, common_args):
        self.binary = binary
        self.cpu = cpu
        self.common = list(common_args)

    def run(self, port, args, timeout):
        cmd = pinned([self.binary, "--port", str(port)] + self.common + list(args), self.cpu)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"load generator failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
        return json.loads(p.stdout)


def metric_sum(metrics, name):
    """Sum over all label sets of one Prometheus series name."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def metric_like(metrics, *fragments):
    """Sum of series whose name (without labels) contains every fragment, and
    the names it used, so the report can say what it read."""
    names, total = set(), 0.0
    for k, v in metrics.items():
        base = k.split("{")[0]
        if all(f in base for f in fragments):
            names.add(base)
            total += v
    return total, sorted(names)


def cache_figures(before, after):
    """Hit ratio and backend calls from two /metrics snapshots of ddbx."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    requests = metric_sum(d, "ddbx_requests_total")
    backend = metric_sum(d, "ddbx_backend_requests_total")
    # ddbx_item_cache_hits_total counts negative hits too (see metrics.def).
    hits, hit_names = metric_like(d, "item_cache_hits")
    neg, _ = metric_like(d, "item_cache_negative_hits")
    misses, miss_names = metric_like(d, "item_cache_misses")
    # Query and Scan pages (ddbx_query_cache_*, ddbx_scan_cache_*) are lookups too
    for kind in ("query_cache", "scan_cache"):
        h, hn = metric_like(d, kind + "_hits")
        m, mn = metric_like(d, kind + "_misses")
        hits, misses, hit_names, miss_names = hits + h, misses + m, hit_names + hn, miss_names + mn
    out = {"requests": requests, "backend_requests": backend,
           "backend_saved": requests - backend,
           "backend_per_request": backend / requests if requests else None,
           "cache_metrics": hit_names + miss_names}
    spill_hits, spill_names = metric_like(d, "spill_hits")
    if spill_names:
        out["spill_hits"] = spill_hits
    if hit_names or miss_names:
        looked = hits + misses
        out.update(hits=hits, negative_hits=neg, misses=misses,
                   hit_ratio=hits / looked if looked else None)
    return out


def settled_metrics(target, timeout=10):
    """/metrics once the requests the generator left in flight are done (a
    request is counted when answered, its backend call when sent: reading
    too early would show up to --connections backend calls too many)."""
    if not target.admin:
        return {}
    deadline = time.time() + timeout
    prev = target.metrics()
    while time.time() < deadline:
        time.sleep(0.2)
        cur = target.metrics()
        settled = (metric_sum(cur, "ddbx_client_connections") == 0
                   and metric_sum(cur, "ddbx_requests_total") == metric_sum(prev, "ddbx_requests_total")
                   and metric_sum(cur, "ddbx_backend_requests_total")
                   == metric_sum(prev, "ddbx_backend_requests_total"))
        prev = cur
        if settled:
            break
    return prev


def measure(target, loadgen, args, duration, label):
    """Runs the generator for `duration` seconds against `target`."""
    for s in target.servers:
        s.check_alive()
        s.reset_peak_rss()
    cpu0 = sum(s.cpu_seconds() for s in target.servers)
    extra0 = sum(s.cpu_seconds() for s in target.extra)
    m0 = target.metrics()
    sys0 = system_busy_seconds()
    t0 = time.time()
    res = loadgen.run(target.port, list(args) + ["--duration", str(duration)], timeout=duration + 120)
    wall = time.time() - t0
    sys1 = system_busy_seconds()
    m1 = settled_metrics(target)
    cpu1 = sum(s.cpu_seconds() for s in target.servers)
    extra1 = sum(s.cpu_seconds() for s in target.extra)
    n = res["requests"]
    res.update(target=target.name, label=label, wall_s=wall,
               server_cpu_s=cpu1 - cpu0, backend_cpu_s=extra1 - extra0,
               server_cpu_util=(cpu1 - cpu0) / res["elapsed_s"],
               server_cpu_us_per_req=(cpu1 - cpu0) * 1e6 / n if n else None,
               stack_cpu_us_per_req=(cpu1 - cpu0 + extra1 - extra0) * 1e6 / n if n else None,
               # CPU used meanwhile by processes outside this measurement
               # (other jobs on the machine): noise the report should show.
               foreign_cpu_util=max(0.0, (sys1 - sys0) - (cpu1 - cpu0) - (extra1 - extra0)
                                    - res["generator_cpu_s"]) / wall,
               peak_rss_kib=sum(s.rss_kib("VmHWM") for s in target.servers),
               rss_kib=sum(s.rss_kib("VmRSS") for s in target.servers))
    if target.admin:
        res["cache"] = cache_figures(m0, m1)
    # Rounds the summary leaves out when a clean one exists: other processes
    # took more than a quarter of a core, or (constant rate) the generator
    # could not keep its schedule.
    res["noisy"] = res["foreign_cpu_util"] > NOISY_CPU
    res["behind"] = bool(res["rate"]) and (res["throughput"] < 0.97 * res["rate"]
                                           or res["send_lag_us"]["p99"] > 1000)
    return res


NOISY_CPU = 0.25
QUIET_CPU = 0.10


def wait_quiet(servers_, limit_s):
    """Waits up to limit_s for a second in which processes other than
    servers_ use less than QUIET_CPU of a core; returns the seconds waited."""
    t0 = time.time()
    while True:
        b0 = system_busy_seconds()
        c0 = sum(s.cpu_seconds() for s in servers_)
        time.sleep(1)
        busy = (system_busy_seconds() - b0) - (sum(s.cpu_seconds() for s in servers_) - c0)
        if busy < QUIET_CPU or time.time() - t0 >= limit_s:
            return time.time() - t0
