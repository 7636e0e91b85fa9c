#!/usr/bin/env python3
"""ddbx memory per cached item (issue 3's figure).

    bench/memory.py --items 1000000 --item-size 100

Writes --items items of about --item-size bytes through ddbx with
BatchWriteItem (25 items a call, from bench/loadgen), so write-through puts
every one of them in the item cache, then reports

    overhead per item = (anonymous RSS after - anonymous RSS before
                         - items x (item JSON bytes + key bytes)) / items

where the item JSON bytes are the item exactly as DynamoDB returns it
(compact JSON of its attribute map) and the key bytes are the table name and
the partition key value. It also reads the cache's own accounting
(ddbx_item_cache_bytes / entries) and checks with a short GetItem run that
the items are really served from the cache.

The backend does not matter for this figure, so by default it is a stub:
nginx answering DescribeTable with the table's schema, BatchWriteItem with
"no unprocessed items" and GetItem with "not found" (a miss would show). With
--backend moto the items really go to moto (about 9,000 items/s here).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import items, servers  # noqa: E402
from benchlib.measure import Loadgen, build_loadgen, metric_sum  # noqa: E402
from benchlib.procs import Reaper, cores  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
TABLE = "mem"


def stub_bodies():
    describe = {"Table": {
        "TableName": TABLE, "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ItemCount": 0, "TableSizeBytes": 0, "CreationDateTime": 1700000000,
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{TABLE}",
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}}
    return {"DescribeTable": json.dumps(describe, separators=(",", ":")), "GetItem": "{}",
            "BatchWriteItem": '{"UnprocessedItems":{}}', "PutItem": "{}"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=1000000)
    p.add_argument("--item-size", type=int, default=100, help="DynamoDB item bytes (100)")
    p.add_argument("--backend", choices=["stub", "moto"], default="stub")
    p.add_argument("--ddbx", default=os.path.join(os.path.dirname(BENCH), "build", "ddbx"))
    p.add_argument("--memory", default="4GiB", help="ddbx --memory, large enough that nothing is evicted")
    p.add_argument("--threads", type=int, default=1, help="ddbx --threads (1)")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--out", default=os.path.join(BENCH, "results"))
    a = p.parse_args(argv)

    server_cpu, gen_cpu = ("1", "0") if cores() >= 2 else (None, None)
    tmp = tempfile.mkdtemp(prefix="ddbx-bench-mem-")
    reaper = Reaper()
    try:
        gen = Loadgen(build_loadgen(tmp), gen_cpu, ["--table", TABLE, "--item-size", str(a.item_size),
                                                   "--items", str(a.items)])
        if a.backend == "moto":
            backend = servers.start_moto(reaper, tmp, server_cpu)
            servers.ensure_table(backend.url(), TABLE, False)
        else:
            backend = servers.start_nginx(reaper, tmp, server_cpu, stub_bodies())
            backend.name = "stub (nginx)"
        ddbx = servers.start_ddbx(reaper, tmp, server_cpu, a.ddbx, backend, a.threads,
                                  ["--memory", a.memory, "--item-ttl", "1h", "--negative-ttl", "1h"])
        srv = ddbx.servers[0]
        # One request first, so lazily made things (the backend connection,
        # the table's key schema, allocator arenas) are in the baseline.
        # (keys just past the measured ones, so every measured item is new)
        gen.run(ddbx.port, ["--workload", "load", "--first", str(a.items), "--items", str(a.items + 25),
                            "--connections", "1", "--duration", "0"], timeout=60)
        time.sleep(0.2)
        m0 = ddbx.metrics()
        before = {f: srv.rss_kib(f) for f in ("RssAnon", "VmRSS")}

        t0 = time.time()
        res = gen.run(ddbx.port, ["--workload", "load", "--connections", str(a.connections), "--duration", "0"],
                      timeout=7200)
        load_s = time.time() - t0
        errs = res["errors"]
        if errs["http"] or errs["connection"] or errs["unprocessed"]:
            raise RuntimeError(f"loading through ddbx failed: {errs} {res['first_error']}")
        time.sleep(0.5)
        after = {f: srv.rss_kib(f) for f in ("RssAnon", "VmRSS", "VmHWM")}
        m1 = ddbx.metrics()

        # Are the items really cached? A short zipfian GetItem run must be all hits.
        check = gen.run(ddbx.port, ["--workload", "catalog", "--connections", "8", "--zipf", "0",
                                    "--duration", "1"], timeout=60)
        m2 = ddbx.metrics()
    finally:
        reaper.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    n = a.items
    json_bytes = sum(len(items.item_json(i, a.item_size)) for i in range(n))
    ddb_bytes = sum(items.dynamodb_size(items.item(i, a.item_size)) for i in range(0, n, max(1, n // 1000)))
    ddb_avg = ddb_bytes / len(range(0, n, max(1, n // 1000)))
    key_bytes = n * (len(TABLE) + len(items.key(0)))
    anon_delta = (after["RssAnon"] - before["RssAnon"]) * 1024
    overhead = (anon_delta - json_bytes - key_bytes) / n
    entries = metric_sum(m1, "ddbx_item_cache_entries")
    cache_bytes = metric_sum(m1, "ddbx_item_cache_bytes")
    evictions = metric_sum(m1, "ddbx_item_cache_evictions_total") - metric_sum(m0, "ddbx_item_cache_evictions_total")
    hits = metric_sum(m2, "ddbx_item_cache_hits_total") - metric_sum(m1, "ddbx_item_cache_hits_total")
    misses = metric_sum(m2, "ddbx_item_cache_misses_total") - metric_sum(m1, "ddbx_item_cache_misses_total")

    lines = [
        f"# ddbx memory per cached item, {time.strftime('%Y-%m-%d %H:%M')}", "",
        "Command:", "", "```", "bench/memory.py " + " ".join(argv if argv is not None else sys.argv[1:]), "```", "",
        f"- {n:,} items of ~{ddb_avg:.0f} B (DynamoDB size; {json_bytes / n:.1f} B as JSON) written through ddbx "
        f"(`ddbx {' '.join(ddbx.args)}`) with BatchWriteItem of 25 from bench/loadgen, "
        f"{a.connections} connections, backend {backend.name}: {load_s:.1f} s ({n / load_s:,.0f} items/s).",
        f"- Cache after loading: {entries:,.0f} entries (25 of them from the warm-up call), {cache_bytes:,.0f} bytes by ddbx's own count "
        f"({cache_bytes / entries if entries else 0:.1f} B per entry), {evictions:,.0f} evictions.",
        f"- Check: a 1 s uniform GetItem run over all keys afterwards: {hits:,.0f} hits, {misses:,.0f} misses, "
        f"{check['get_found']:,} found, {check['get_empty']:,} not found.", "",
        "| figure | value |", "|---|---|",
        f"| anonymous RSS before loading | {before['RssAnon'] / 1024:,.1f} MiB |",
        f"| anonymous RSS after loading | {after['RssAnon'] / 1024:,.1f} MiB |",
        f"| RSS / peak RSS after loading | {after['VmRSS'] / 1024:,.1f} / {after['VmHWM'] / 1024:,.1f} MiB |",
        f"| anonymous RSS added per item | {anon_delta / n:.1f} B |",
        f"| item JSON bytes per item | {json_bytes / n:.1f} B |",
        f"| key bytes per item (table name + key value) | {key_bytes / n:.1f} B |",
        f"| **overhead per item** (added RSS − item − key) | **{overhead:.1f} B** (goal ≤ 100 B: "
        f"{'met' if overhead <= 100 else 'MISSED by %.0f B' % (overhead - 100)}) |",
        f"| overhead per item by ddbx's count (cache bytes − item − key) | "
        f"{(cache_bytes - json_bytes - key_bytes) / n if entries else float('nan'):.1f} B |", ""]
    text = "\n".join(lines)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"{time.strftime('%Y-%m-%d')}-memory.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"report: {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
