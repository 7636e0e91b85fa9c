#!/usr/bin/env python3
"""stream_lag.py: how long a write that bypasses ddbx takes to be served by
it (issue 12), and what stream polling costs the backend when idle.

    bench/stream_lag.py --writes 1000 --writers 8

Starts moto and ddbx (every TTL 10 minutes, so only the stream can make
ddbx see a write; --query-lag-window 0, moto's indexes do
not lag), creates a table with a NEW_AND_OLD_IMAGES stream and a GSI, and
then:

- busy: `--writes` PutItems straight to moto from `--writers` threads,
  back to back. Each puts an item of a key and a GSI partition never used
  before, after reading it through ddbx (which caches its absence: a
  negative entry or an empty page), then polls ddbx every 2 ms until it
  serves the item, by GetItem for even writes and by a Query of its GSI
  partition for odd ones. Only the write's own stream record can end the
  cached absence. The lag is from the write's answer (moto applied it) to
  the first ddbx answer showing it.
- sparse: `--sparse` writes from one thread with a random pause of 0-2 s
  before each, so the reader is caught in every state of its idle back-off.
- idle: backend calls ddbx makes in `--idle` seconds with nothing written
  (ddbx_backend_requests_total; all of them are stream polls then).

Writes a report to bench/results (or --out). Everything it starts is
stopped on exit.
"""
import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import servers  # noqa: E402
from benchlib.procs import Reaper  # noqa: E402

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
TABLE = "lag"


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def create_table(c):
    c.create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "board", "AttributeType": "S"},
                              {"AttributeName": "score", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by_score",
            "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                          {"AttributeName": "score", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for " + what)


class Writer:
    """Writes items of its own straight to moto, each to a key and a GSI
    partition never used before, whose absence ddbx has cached just before
    (a negative entry, an empty page): nothing but the write's own record
    can make ddbx drop that, so the lag measured is the stream's."""

    def __init__(self, n, ddbx_url, moto_url):
        self.n = n
        self.c = servers.boto_client(ddbx_url)
        self.direct = servers.boto_client(moto_url)
        self.version = 0
        self.lags = {"GetItem": [], "Query": []}

    def served(self, how, pk, board):
        if how == "GetItem":
            return "Item" in self.c.get_item(TableName=TABLE, Key={"pk": S(pk)})
        return len(self.c.query(TableName=TABLE, IndexName="by_score",
                                KeyConditionExpression="board = :b",
                                ExpressionAttributeValues={":b": S(board)})["Items"]) > 0

    def write_once(self):
        self.version += 1
        pk, board = "w%d-%d" % (self.n, self.version), "b%d-%d" % (self.n, self.version)
        how = "GetItem" if self.version % 2 == 0 else "Query"
        if self.served(how, pk, board):  # caches the absence
            raise SystemExit("%s %s exists already" % (pk, board))
        self.direct.put_item(TableName=TABLE, Item={"pk": S(pk), "board": S(board),
                                                    "score": N(self.version)})
        start = time.monotonic()
        while not self.served(how, pk, board):
            if time.monotonic() - start > 30:
                raise SystemExit("a write was not served after 30 s")
            time.sleep(0.002)
        self.lags[how].append(time.monotonic() - start)


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def row(name, values):
    ms = [v * 1000 for v in values]
    return "| %s | %d | %.0f | %.0f | %.0f | %.0f |" % (
        name, len(ms), pct(ms, 50), pct(ms, 90), pct(ms, 99), max(ms) if ms else float("nan"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ddbx", default=os.path.join(REPO, "build", "ddbx"))
    p.add_argument("--writes", type=int, default=1000, help="busy writes in all (1000)")
    p.add_argument("--writers", type=int, default=8, help="busy writer threads (8)")
    p.add_argument("--sparse", type=int, default=40, help="writes 0-2 s apart (40)")
    p.add_argument("--idle", type=float, default=10, help="seconds of idle polling measured (10)")
    p.add_argument("--out", default=os.path.join(BENCH, "results"))
    p.add_argument("--tag", default="")
    a = p.parse_args()

    reaper = Reaper()
    tmp = tempfile.mkdtemp(prefix="ddbx-streamlag-")
    moto = servers.start_moto(reaper, tmp, 0)
    ddbx = servers.start_ddbx(reaper, tmp, 1, a.ddbx, moto, 1,
                              ["--item-ttl", "10m", "--negative-ttl", "10m", "--query-ttl",
                               "10m", "--query-lag-window", "0"])
    create_table(servers.boto_client(ddbx.url()))
    series = 'ddbx_stream_state{table="%s",state="reading"}' % TABLE
    wait_for(lambda: ddbx.metrics().get(series) == 1, 10, "the stream reader")

    writers = [Writer(i, ddbx.url(), moto.url()) for i in range(a.writers)]
    per = a.writes // a.writers
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda w=w: [w.write_once() for _ in range(per)])
               for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy_s = time.monotonic() - t0
    busy = {how: [x for w in writers for x in w.lags[how]] for how in ("GetItem", "Query")}

    sparse = Writer(a.writers, ddbx.url(), moto.url())
    rng = random.Random(12)
    for _ in range(a.sparse):
        time.sleep(rng.uniform(0, 2))
        sparse.write_once()

    time.sleep(3)  # backed off to the slowest poll
    before = ddbx.metrics()
    time.sleep(a.idle)
    after = ddbx.metrics()

    def delta(k):
        return after.get(k, 0) - before.get(k, 0)
    idle_backend = delta("ddbx_backend_requests_total") / a.idle
    idle_stream = delta("ddbx_stream_calls_total") / a.idle
    m = ddbx.metrics()

    stamp = datetime.datetime.now().strftime("%Y-%m-%d")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "%s-stream-lag%s.md" % (stamp, "-" + a.tag if a.tag else ""))
    all_busy = busy["GetItem"] + busy["Query"]
    sparse_all = sparse.lags["GetItem"] + sparse.lags["Query"]
    lines = [
        "# ddbx benchmark: stream lag, %s" % datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "",
        "Command: `bench/stream_lag.py %s`" % " ".join(sys.argv[1:]),
        "",
        "moto (one stream shard per table) and `%s`; a PutItem made straight to moto of an "
        "item whose absence ddbx had cached, then ddbx polled every 2 ms until it serves the "
        "item. Lags in ms from the write's answer. This 2-core machine is shared with other "
        "jobs." % " ".join(ddbx.args),
        "",
        "| writes | n | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|---|",
        row("busy, seen by GetItem", busy["GetItem"]),
        row("busy, seen by Query (GSI)", busy["Query"]),
        row("busy, all", all_busy),
        row("sparse (0-2 s apart), all", sparse_all),
        "",
        "Busy: %d writers, %d writes in %.1f s. Records applied %d, gaps %d." % (
            a.writers, len(all_busy), busy_s, m.get("ddbx_stream_records_total", 0),
            m.get("ddbx_stream_gaps_total", 0)),
        "",
        "Idle (%g s, nothing written): %.2f backend calls per second, %.2f of them stream "
        "calls (one table, one shard)." % (a.idle, idle_backend, idle_stream),
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    print("report:", os.path.relpath(path))
    print("mean busy lag %.0f ms" % (statistics.mean(all_busy) * 1000))


if __name__ == "__main__":
    main()
