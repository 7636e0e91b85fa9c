#!/usr/bin/env python3
"""soak.py: ddbx under mixed load for a fixed time, with a backend fault every
20 s (issue 10).

    tests/soak/soak.py --seconds 600          # the documented 10-minute run
    tests/soak/soak.py --seconds 60           # what CI runs (CTest soak.short)

Writers (each the only writer of its keys) and readers go through ddbx to
moto behind the FaultProxy; every 20 s one fault (a hang, resets, 500s, slow
answers, truncated answers, answers lost after moto applied the write) lasts
3 s. Checked at the end:
- 0 wrong answers: every read saw a version at least as new as the newest
  write acknowledged before it started (test_stress.py's rule);
- anonymous RSS flat: the last quarter's median within 10% (+4 MiB) of the
  median after warm-up;
- open descriptors flat: back within 4 of the warm baseline once faults end;
- ddbx exits 0 on SIGTERM.
Prints one line per sample and a summary; exits 1 on any failure.
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from botocore.exceptions import ClientError  # noqa: E402

from harness import Ddbx, FaultProxy, MotoServer, client, create_table  # noqa: E402
from test_stress import ABSENT, History  # noqa: E402

FAULTS = [
    dict(kind="hang", after=3.0),
    dict(kind="reset"),
    dict(kind="status", status=500, body={"__type": "com.amazonaws.dynamodb.v20120810#"
                                          "InternalServerError", "message": "soak"}),
    dict(kind="delay", seconds=0.8),
    dict(kind="truncate"),
    dict(kind="status", status=500, forward=True, body={"__type": "com.amazonaws.dynamodb."
                                                        "v20120810#InternalServerError",
                                                        "message": "soak"}),
]


def rss_anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--readers", type=int, default=3)
    ap.add_argument("--keys", type=int, default=200, help="keys per writer")
    args = ap.parse_args()

    moto = MotoServer().start()
    proxy = FaultProxy(moto.endpoint).start()
    ddbx = Ddbx(proxy.endpoint, "--backend-timeout", "1s", "--write-holdoff", "2s",
                "--memory", "8MiB", "--log-level", "warn").start()
    failures = []
    try:
        c = client(ddbx.endpoint)
        direct = client(moto.endpoint)
        create_table(c, "soak")
        hist, stop = History(), threading.Event()
        reads, errors, wrong = [0], [0], []
        lock = threading.Lock()

        def writer(w):
            cw = client(ddbx.endpoint, attempts=1, timeout=5)
            rng = random.Random(w)
            version = {}
            while not stop.is_set():
                k = "w%d-%d" % (w, rng.randrange(args.keys))
                v = version.get(k, 0) + 1
                version[k] = v
                delete = rng.random() < 0.1
                hist.issue(k, v, not delete)
                try:
                    if delete:
                        cw.delete_item(TableName="soak", Key={"pk": {"S": k}})
                    elif rng.random() < 0.5:
                        cw.put_item(TableName="soak", Item={"pk": {"S": k}, "v": {"N": str(v)},
                                                            "pad": {"S": "p" * rng.randrange(900)}})
                    else:
                        cw.update_item(TableName="soak", Key={"pk": {"S": k}},
                                       UpdateExpression="SET v = :v",
                                       ExpressionAttributeValues={":v": {"N": str(v)}})
                    hist.ack(k, v)
                except ClientError:
                    with lock:
                        errors[0] += 1
                    time.sleep(3.5)  # an unknown outcome: acknowledged once it is in moto
                    held = direct.get_item(TableName="soak", Key={"pk": {"S": k}},
                                           ConsistentRead=True).get("Item")
                    if (held is None and delete) or (held and int(held["v"]["N"]) == v):
                        hist.ack(k, v)

        def reader(n):
            cr = client(ddbx.endpoint, attempts=1, timeout=5)
            rng = random.Random(1000 + n)
            while not stop.is_set():
                k = "w%d-%d" % (rng.randrange(args.writers), rng.randrange(args.keys))
                floor = hist.snapshot([k])[k]
                try:
                    got = cr.get_item(TableName="soak", Key={"pk": {"S": k}}).get("Item")
                except ClientError:
                    with lock:
                        errors[0] += 1
                    continue
                seen = ABSENT if got is None else int(got["v"]["N"])
                with lock:
                    reads[0] += 1
                    if got is not None and got["pk"]["S"] != k:
                        wrong.append("%s answered for %s" % (got["pk"]["S"], k))
                    elif not hist.allowed(k, floor, seen):
                        wrong.append("%s: saw %s, acknowledged %d at start" % (k, seen, floor))

        threads = [threading.Thread(target=writer, args=(w,), daemon=True)
                   for w in range(args.writers)]
        threads += [threading.Thread(target=reader, args=(n,), daemon=True)
                    for n in range(args.readers)]
        for t in threads:
            t.start()
        pid = ddbx.proc.pid
        start = time.monotonic()
        samples, next_fault, n_fault = [], start + 20, 0
        while time.monotonic() - start < args.seconds:
            now = time.monotonic()
            if now >= next_fault:
                fault = dict(FAULTS[n_fault % len(FAULTS)])
                kind = fault.pop("kind")
                proxy.inject("*", kind, **fault)
                threading.Timer(3.0, proxy.clear).start()
                print("t=%4.0fs fault: %s %s" % (now - start, kind, fault), flush=True)
                n_fault += 1
                next_fault += 20
            samples.append((now - start, rss_anon_kib(pid), open_fds(pid)))
            print("t=%4.0fs RssAnon %6d KiB, fds %3d, reads %7d, errors %5d, wrong %d"
                  % (samples[-1] + (reads[0], errors[0], len(wrong))), flush=True)
            time.sleep(5)
        stop.set()
        proxy.clear()
        for t in threads:
            t.join(10)
        time.sleep(2.5)
        settled_fds = open_fds(pid)

        warm = [s for s in samples if s[0] >= min(15, args.seconds / 4)]
        quarter = max(1, len(warm) // 4)
        first = statistics.median(s[1] for s in warm[:quarter])
        last = statistics.median(s[1] for s in warm[-quarter:])
        base_fds = min(s[2] for s in warm)
        print("summary: %.0f s, %d reads, %d errors (faults), %d wrong answers; RssAnon "
              "%d -> %d KiB; fds %d at the quietest, %d after the run"
              % (args.seconds, reads[0], errors[0], len(wrong), first, last, base_fds,
                 settled_fds))
        if wrong:
            failures.append("wrong answers: %s" % wrong[:5])
        if last > first * 1.10 + 4096:
            failures.append("anonymous RSS grew from %d to %d KiB" % (first, last))
        if settled_fds > base_fds + 4:
            failures.append("descriptors grew from %d to %d" % (base_fds, settled_fds))
        if reads[0] < 100:
            failures.append("only %d reads: the load did not run" % reads[0])
    finally:
        code = ddbx.stop()
        proxy.stop()
        moto.stop()
    if code != 0:
        failures.append("ddbx exited with %s" % code)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
