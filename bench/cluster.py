#!/usr/bin/env python3
"""cluster.py: what a ddbx cluster costs and gives (issue 13), on this machine.

    bench/cluster.py --items 10000 --duration 10 --writes 1000

Starts moto and a counting proxy in front of it (the integration tests'
FaultProxy, so backend reads are counted outside ddbx), loads --items items
of 1 KB straight into moto with the load generator, and measures:

- hits: 1, 2 and 3 ddbx nodes (one worker thread each, --peers between them
  when more than one), each node read by its own load generator (the catalog
  workload: GetItem, zipfian keys) for --duration seconds after every node
  read every key once. Reported: requests per second for the cluster, the
  CPU all ddbx processes used per request (this VM has 2 cores, shared by
  the nodes, the generators and moto, so throughput is capped by the cores
  and CPU per request is the figure that compares), how reads were answered
  (local hits, near copies included; forwarded to the owner; the backend).
- the extra latency of a forwarded read: one client, keep-alive, GetItems of
  warm keys that node 1 owns, then of keys node 2 owns, through node 1, on a
  cluster started with --peer-near-ttl 0 (no near copies: every read of a
  key node 1 does not own is forwarded).
- freshness: --writes PutItems, each through node (i mod 3), then the same
  key read through the two other nodes until they return it: the lag from
  the write's answer to the first fresh read, p50/p99.
- backend reads per cold key: 100 keys read in turn through all three nodes,
  100 read through all three at once, 100 by BatchGetItem (25 keys) through
  all three; backend GetItem calls and BatchGetItem keys counted at the proxy.

Writes bench/results/<date>-cluster.md (or --out). Everything it starts is
stopped on exit.
"""
import argparse
import datetime
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from benchlib import servers  # noqa: E402
from benchlib.measure import Loadgen, build_loadgen  # noqa: E402
from benchlib.procs import Reaper, Server, free_port, wait_http, wait_port  # noqa: E402
from harness import FaultProxy  # noqa: E402

TABLE = "bench"
SECRET = "bench-cluster-peer-secret-0123456789"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


def start_cluster(reaper, tmp, ddbx, backend_url, n, extra=()):
    """n ddbx nodes (one worker thread each), peers of each other when n > 1."""
    peer_ports = [free_port() for _ in range(n)]
    peers = ",".join("127.0.0.1:%d" % p for p in peer_ports)
    nodes = []
    for i in range(n):
        port, admin = free_port(), free_port()
        args = [ddbx, "--listen", "127.0.0.1:%d" % port, "--admin", "127.0.0.1:%d" % admin,
                "--backend", backend_url, "--threads", "1", "--log-level", "warn",
                "--item-ttl", "1h", "--negative-ttl", "1h", "--memory", "256MiB"] + list(extra)
        if n > 1:
            args += ["--peer-listen", "127.0.0.1:%d" % peer_ports[i], "--peers", peers]
        env = dict(os.environ, **servers.BENCH_ENV, DDBX_PEER_SECRET=SECRET)
        srv = reaper.add(Server("ddbx%d" % i, args, os.path.join(tmp, "ddbx%d-%d.log" % (n, i)),
                                env=env))
        wait_http("http://127.0.0.1:%d/healthz" % admin, srv)
        wait_port(port, srv)
        nodes.append(servers.Target("ddbx%d" % i, port, [srv], admin="127.0.0.1:%d" % admin))
    end = time.monotonic() + 10
    while n > 1 and time.monotonic() < end:
        if all(t.metrics().get("ddbx_peers_up") == n - 1 for t in nodes):
            break
        time.sleep(0.05)
    return nodes


def stop(nodes):
    for t in nodes:
        for s in t.servers:
            s.stop()


def prewarm(node, items):
    c = servers.boto_client(node.url())
    for i in range(0, items, 100):
        keys = [{"pk": {"S": "k%09d" % j}} for j in range(i, min(items, i + 100))]
        while keys:
            r = c.batch_get_item(RequestItems={TABLE: {"Keys": keys}})
            keys = r.get("UnprocessedKeys", {}).get(TABLE, {}).get("Keys", [])


def delta(after, before, name):
    return sum(v - before.get(k, 0.0) for k, v in after.items()
               if k == name or k.startswith(name + "{"))


def hits_run(a, reaper, tmp, loadgen, backend_url, n):
    nodes = start_cluster(reaper, tmp, a.ddbx, backend_url, n)
    for t in nodes:
        prewarm(t, a.items)
    m0 = [t.metrics() for t in nodes]
    cpu0 = sum(s.cpu_seconds() for t in nodes for s in t.servers)
    results = [None] * n
    conns = max(1, a.connections // n)

    def run(i):
        results[i] = loadgen.run(nodes[i].port, ["--workload", "catalog", "--items", str(a.items),
                                                 "--connections", str(conns), "--duration",
                                                 str(a.duration), "--seed", str(7 + i)],
                                 timeout=a.duration + 120)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.5)
    cpu = sum(s.cpu_seconds() for t in nodes for s in t.servers) - cpu0
    m1 = [t.metrics() for t in nodes]
    stop(nodes)
    reqs = sum(r["requests"] for r in results)
    d = {k: sum(delta(m1[i], m0[i], k) for i in range(n)) for k in (
        "ddbx_item_cache_hits_total", "ddbx_item_cache_misses_total",
        "ddbx_cluster_reads_forwarded_total", "ddbx_cluster_reads_owner_answered_total",
        "ddbx_backend_requests_total", "ddbx_cluster_near_copies_total")}
    lat = [r["latency_us"]["p50"] for r in results]
    return {"nodes": n, "requests": reqs, "rps": reqs / a.duration, "cpu_us": cpu * 1e6 / reqs,
            "hits": d["ddbx_item_cache_hits_total"] / reqs,
            "forwarded": d["ddbx_cluster_reads_forwarded_total"] / reqs,
            "backend": d["ddbx_backend_requests_total"] / reqs,
            "near": d["ddbx_cluster_near_copies_total"], "p50_us": statistics.mean(lat),
            "errors": sum(sum(r["errors"].values()) for r in results)}


class Raw:
    """A keep-alive connection sending GetItems as an SDK would."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, op, body):
        self.c.request("POST", "/", body=json.dumps(body), headers={
            "X-Amz-Target": "DynamoDB_20120810." + op,
            "Content-Type": "application/x-amz-json-1.0"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("%s answered %d: %s" % (op, r.status, data[:200]))
        return json.loads(data)

    def get(self, pk):
        return self.call("GetItem", {"TableName": TABLE, "Key": {"pk": {"S": pk}}}).get("Item")


def owner_of(nodes, raws, pk):
    """The node that serves pk: a cold read through node 0, and who counted it."""
    before = [t.metrics() for t in nodes]
    raws[0].get(pk)
    after = [t.metrics() for t in nodes]
    if delta(after[0], before[0], "ddbx_cluster_reads_owned_total"):
        return 0
    for i in range(1, len(nodes)):
        if delta(after[i], before[i], "ddbx_cluster_peer_gets_filled_total") or \
                delta(after[i], before[i], "ddbx_cluster_peer_gets_hit_total"):
            return i
    raise SystemExit("nobody served " + pk)


def forwarded_latency(a, reaper, tmp, backend_url):
    nodes = start_cluster(reaper, tmp, a.ddbx, backend_url, 3, ["--peer-near-ttl", "0s"])
    raws = [Raw(t.port) for t in nodes]
    own, other = [], []
    for j in range(a.items - 400, a.items):
        pk = "k%09d" % j
        (own if owner_of(nodes, raws, pk) == 0 else other).append(pk)
    out = {}
    for name, keys in (("local hit (node 1 owns the key)", own),
                       ("forwarded to the owner's cache", other)):
        lat = []
        for r in range(a.latency_reads):
            pk = keys[r % len(keys)]
            t = time.perf_counter()
            raws[0].get(pk)
            lat.append((time.perf_counter() - t) * 1e6)
        out[name] = lat
    stop(nodes)
    return out


def freshness(a, reaper, tmp, backend_url):
    nodes = start_cluster(reaper, tmp, a.ddbx, backend_url, 3)
    raws = [Raw(t.port) for t in nodes]
    keys = ["k%09d" % j for j in range(20)]
    for r in raws:
        for k in keys:
            r.get(k)
    lags, stale = [], 0
    for n in range(a.writes):
        k, w = keys[n % len(keys)], n % 3
        raws[w].call("PutItem", {"TableName": TABLE, "Item": {"pk": {"S": k}, "v": {"S": str(n)}}})
        done = time.perf_counter()
        for i in range(3):
            if i == w:
                continue
            first = True
            while (raws[i].get(k) or {}).get("v", {}).get("S") != str(n):
                stale += first
                first = False
            lags.append((time.perf_counter() - done) * 1e3)
    unacked = sum(t.metrics().get("ddbx_cluster_fanouts_unacked_total", 0) for t in nodes)
    fan = [t.metrics() for t in nodes]
    waits = [(m.get("ddbx_cluster_fanout_wait_seconds_sum", 0),
              m.get("ddbx_cluster_fanout_wait_seconds_count", 0)) for m in fan]
    stop(nodes)
    wait_ms = sum(s for s, _ in waits) * 1e3 / max(1, sum(c for _, c in waits))
    return lags, stale, unacked, wait_ms


def cold_reads(a, reaper, tmp, proxy):
    nodes = start_cluster(reaper, tmp, a.ddbx, proxy.endpoint, 3)
    raws = [Raw(t.port) for t in nodes]
    for r in raws:
        r.call("DescribeTable", {"TableName": TABLE})
    base = a.items - 1000
    rows = []
    snap = proxy.snapshot()
    for j in range(base, base + 100):
        for r in raws:
            r.get("k%09d" % j)
    rows.append(("in turn through nodes 1, 2, 3", 100, proxy.ops_since(snap)))
    snap = proxy.snapshot()
    for j in range(base + 100, base + 200):
        ts = [threading.Thread(target=r.get, args=("k%09d" % j,)) for r in raws]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    rows.append(("at once through all three", 100, proxy.ops_since(snap)))
    snap = proxy.snapshot()
    nb = len(proxy.bodies("BatchGetItem"))
    for i in range(base + 200, base + 300, 25):
        for r in raws:
            r.call("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [
                {"pk": {"S": "k%09d" % j}} for j in range(i, i + 25)]}}})
    ops = proxy.ops_since(snap)
    ops["BatchGetItem keys"] = sum(len(json.loads(b)["RequestItems"][TABLE]["Keys"])
                                   for b in proxy.bodies("BatchGetItem")[nb:])
    rows.append(("BatchGetItem of 25 through all three", 100, ops))
    stop(nodes)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ddbx", default=os.path.join(REPO, "build", "ddbx"))
    p.add_argument("--items", type=int, default=10000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--connections", type=int, default=16, help="in all, split over the nodes")
    p.add_argument("--writes", type=int, default=1000)
    p.add_argument("--latency-reads", type=int, default=3000)
    p.add_argument("--out", default=os.path.join(BENCH, "results"))
    a = p.parse_args()
    reaper = Reaper()
    tmp = tempfile.mkdtemp(prefix="ddbx-cluster-bench-")
    moto = servers.start_moto(reaper, tmp, None)
    proxy = FaultProxy(moto.url()).start()
    servers.ensure_table(moto.url(), TABLE, False)
    loadgen = Loadgen(build_loadgen(tmp), None, [])
    loadgen.run(moto.port, ["--workload", "load", "--items", str(a.items), "--connections", "4"],
                timeout=600)
    hits = [hits_run(a, reaper, tmp, loadgen, moto.url(), n) for n in (1, 2, 3)]
    lat = forwarded_latency(a, reaper, tmp, moto.url())
    lags, stale, unacked, wait_ms = freshness(a, reaper, tmp, moto.url())
    cold = cold_reads(a, reaper, tmp, proxy)
    proxy.stop()
    reaper.stop_all()

    lines = ["# ddbx benchmark: a cluster, %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
             "", "Command: `bench/cluster.py %s`" % " ".join(sys.argv[1:]), "",
             "moto on loopback; ddbx nodes with one worker thread each. This VM has 2 cores, "
             "shared by every node, the load generators and moto (and other jobs): adding "
             "nodes cannot add cores, so requests per second are capped by the machine, and "
             "CPU per request is the figure to compare.", "",
             "## Hits: catalog (GetItem, zipfian 0.99, %d items of 1 KB), %d connections in all, "
             "%g s" % (a.items, a.connections, a.duration), "",
             "| nodes | requests/s (cluster) | ddbx CPU per request | p50 (mean of nodes) | "
             "cache hits | forwarded to the owner | backend calls per request | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for h in hits:
        lines.append("| %d | %.0f | %.1f µs | %.0f µs | %.1f%% | %.2f%% | %.4f | %d |" % (
            h["nodes"], h["rps"], h["cpu_us"], h["p50_us"], 100 * h["hits"], 100 * h["forwarded"],
            h["backend"], h["errors"]))
    lines += ["", "## The extra latency of a forwarded read (3 nodes, --peer-near-ttl 0, one "
              "client, keep-alive, %d reads each; the Python client's own time included)"
              % a.latency_reads, "", "| read through node 1 | p50 | p90 | p99 |", "|---|---|---|---|"]
    for name, xs in lat.items():
        lines.append("| %s | %.0f µs | %.0f µs | %.0f µs |" % (name, pct(xs, 50), pct(xs, 90),
                                                            pct(xs, 99)))
    names = list(lat)
    lines += ["", "Extra latency of forwarding, p50: %.0f µs." % (
        pct(lat[names[1]], 50) - pct(lat[names[0]], 50)), "",
        "## Freshness across nodes (3 nodes, %d writes, each read through the 2 others)" % a.writes,
        "", "| reads | p50 | p99 | max | first reads stale | writes past --peer-ack-timeout | "
        "mean fan-out wait |", "|---|---|---|---|---|---|---|",
        "| %d | %.2f ms | %.2f ms | %.2f ms | %d | %d | %.2f ms |" % (
            len(lags), pct(lags, 50), pct(lags, 99), max(lags), stale, unacked, wait_ms), "",
        "The lag runs from the write's answer to the first read through another node that "
        "returns it: it is that read's own latency when, as the write rule asks, the first read "
        "is already fresh.", "",
        "## Backend reads per cold key (3 nodes, counted at a proxy in front of moto)", "",
        "| how | keys | backend GetItem | BatchGetItem keys | per key |", "|---|---|---|---|---|"]
    for name, n, ops in cold:
        g, b = ops.get("GetItem", 0), ops.get("BatchGetItem keys", 0)
        lines.append("| %s | %d | %d | %d | %.2f |" % (name, n, g, b, (g + b) / n))
    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "%s-cluster.md" % stamp)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("\nwritten to %s" % path, file=sys.stderr)


if __name__ == "__main__":
    main()
