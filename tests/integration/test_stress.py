"""test_stress.py: a randomized run of the write rule (issue 7).

Writer threads, each the only writer of its keys, write increasing versions
through ddbx with PutItem, UpdateItem (every ReturnValues), DeleteItem,
BatchWriteItem and TransactWriteItems, while reader threads read the same
keys with GetItem (projected or not), BatchGetItem, Query (the key's
partition, from the query cache) and Scan (every key at once). The FaultProxy delays
every backend request by a random few milliseconds, loses the answer of a
few writes after moto applied them, and holds a few others past ddbx's
--backend-timeout so they land after ddbx answered 500 (unknown outcomes).

The rule checked on every read: a read that starts after a write of its key
was acknowledged sees that version or a newer one, and what it sees is a
state some write actually produced (never another key's, never invented).
A write of unknown outcome counts as acknowledged once the writer has seen it
in the backend (a consistent read straight from moto, after it can have landed).

DDBX_STRESS_SECONDS sets the length (default 30).
"""
import collections
import os
import random
import threading
import time
import traceback
import unittest

from botocore.exceptions import ClientError

from harness import (Ddbx, FaultProxy, IntegrationTestCase, MotoServer, client, create_table)
from test_cache import stops_cleanly

SECONDS = float(os.environ.get("DDBX_STRESS_SECONDS", "30"))
WRITERS, KEYS_PER_WRITER, READERS = 3, 6, 3
RETURN_VALUES = ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]
ABSENT = None
LATE = 2.5  # seconds a late write is held at the proxy (ddbx's timeout: 2 s)


class History:
    """What the writers did: per key, every state issued (version -> present?)
    and the newest acknowledged version."""

    def __init__(self):
        self.lock = threading.Lock()
        self.issued = collections.defaultdict(dict)  # key -> {version: present}
        self.acked = collections.defaultdict(int)    # key -> version (0: initial, absent)
        self.acks = 0
        self.unknown = 0

    def issue(self, key, version, present):
        with self.lock:
            self.issued[key][version] = present

    def ack(self, key, version):
        with self.lock:
            self.acked[key] = max(self.acked[key], version)
            self.acks += 1

    def snapshot(self, keys):
        with self.lock:
            return {k: self.acked[k] for k in keys}

    def allowed(self, key, floor, seen):
        """True when seen (a version, or ABSENT) is a state of key issued at
        version >= floor (the newest acknowledged when the read started)."""
        with self.lock:
            issued = dict(self.issued[key])
        if seen is ABSENT:
            return (floor == 0) or any(v >= floor and not p for v, p in issued.items())
        return seen >= floor and issued.get(seen) is True


class StressTest(IntegrationTestCase):

    def setUp(self):
        self.moto = self.start(MotoServer())
        self.proxy = self.start(FaultProxy(self.moto.endpoint))
        self.ddbx = self.start(Ddbx(self.proxy.endpoint, *self.ddbx_flags()))
        self.addCleanup(stops_cleanly, self.ddbx)
        self.table = "stress"
        self.direct = client(self.moto.endpoint)
        create_table(client(self.ddbx.endpoint), self.table)
        rng = random.Random(7)
        lost = lambda doc: rng.random() < 0.03  # noqa: E731
        late = lambda doc: rng.random() < 0.01  # noqa: E731
        for op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
            # moto applies the write, its answer is lost: an unknown outcome
            self.proxy.inject(op, "status", status=500, forward=True, match=lost,
                              body={"__type": "com.amazonaws.dynamodb.v20120810#"
                                    "InternalServerError", "message": "injected"})
            # moto gets the write 2.5 s after ddbx sent it; ddbx gave up at 2 s
            self.proxy.inject(op, "gate", after=LATE, match=late)
            self.proxy.inject(op, "delay", seconds=lambda: random.uniform(0, 0.02))
        self.proxy.inject("*", "delay", seconds=lambda: random.uniform(0, 0.01))
        self.history = History()
        self.violations = []
        self.reads = collections.Counter()
        self.stop = threading.Event()

    def ddbx_flags(self):
        """The flags of the ddbx under test (a subclass may add its own)."""
        # the hold-off after an unknown outcome is its default, twice the timeout
        return ("--backend-timeout", "2s", "--item-ttl", "10m")

    def background(self):
        """Functions run in threads beside the writers and readers until self.stop."""
        return []

    # ---- writers

    def writer(self, w):
        c = client(self.ddbx.endpoint, attempts=1)
        rng = random.Random(100 + w)
        keys = ["w%d-k%d" % (w, i) for i in range(KEYS_PER_WRITER)]
        version = collections.defaultdict(int)
        h, t = self.history, self.table
        while not self.stop.is_set():
            op = rng.choice(["put", "update", "delete", "batch", "transact"])
            chosen = rng.sample(keys, rng.randint(1, 3)) if op in ("batch", "transact") \
                else [rng.choice(keys)]
            plan = []
            for k in chosen:
                version[k] += 1
                present = not (op == "delete" or (op in ("batch", "transact")
                                                  and rng.random() < 0.3))
                plan.append((k, version[k], present))
                h.issue(k, version[k], present)

            def it(k, v):
                return {"pk": {"S": k}, "v": {"N": str(v)}, "pad": {"S": "x" * rng.randint(0, 64)}}
            try:
                if op == "put":
                    k, v, _ = plan[0]
                    c.put_item(TableName=t, Item=it(k, v))
                elif op == "update":
                    k, v, _ = plan[0]
                    c.update_item(TableName=t, Key={"pk": {"S": k}}, UpdateExpression="SET v = :v",
                                  ExpressionAttributeValues={":v": {"N": str(v)}},
                                  ReturnValues=rng.choice(RETURN_VALUES))
                elif op == "delete":
                    k, v, _ = plan[0]
                    c.delete_item(TableName=t, Key={"pk": {"S": k}})
                elif op == "batch":
                    c.batch_write_item(RequestItems={t: [
                        {"PutRequest": {"Item": it(k, v)}} if p
                        else {"DeleteRequest": {"Key": {"pk": {"S": k}}}} for k, v, p in plan]})
                else:
                    c.transact_write_items(TransactItems=[
                        {"Put": {"TableName": t, "Item": it(k, v)}} if p
                        else {"Delete": {"TableName": t, "Key": {"pk": {"S": k}}}}
                        for k, v, p in plan])
            except ClientError:
                with h.lock:
                    h.unknown += 1
                # not acknowledged: it may have been applied, or may still be. Once
                # it can no longer land, what moto holds is as good as acknowledged
                time.sleep(LATE + 0.5)
                for k, v, p in plan:
                    held = self.direct.get_item(TableName=t, Key={"pk": {"S": k}},
                                                ConsistentRead=True).get("Item")
                    if (held is None and not p) or (held is not None and p and
                                                    int(held["v"]["N"]) == v):
                        h.ack(k, v)
                continue
            for k, v, _ in plan:
                h.ack(k, v)

    # ---- readers

    def check(self, key, floor, seen, how):
        self.reads[how] += 1
        if not self.history.allowed(key, floor, seen):
            self.violations.append("%s of %s saw %s, newest acknowledged at start %d"
                                   % (how, key, seen, floor))

    @staticmethod
    def version_of(item):
        return ABSENT if item is None else int(item["v"]["N"])

    def reader(self, n):
        c = client(self.ddbx.endpoint, attempts=1)
        rng = random.Random(200 + n)
        all_keys = ["w%d-k%d" % (w, i) for w in range(WRITERS) for i in range(KEYS_PER_WRITER)]
        t = self.table
        while not self.stop.is_set():
            try:
                dice = rng.random()
                if dice < 0.15:
                    self.query(c, rng.choice(all_keys))
                elif dice < 0.22:
                    self.scan(c, all_keys)
                elif dice < 0.7:
                    k = rng.choice(all_keys)
                    floor = self.history.snapshot([k])[k]
                    params = {}
                    if rng.random() < 0.3:
                        params = {"ProjectionExpression": "v, #p",
                                  "ExpressionAttributeNames": {"#p": "pk"}}
                    got = c.get_item(TableName=t, Key={"pk": {"S": k}}, **params).get("Item")
                    if got is not None and got["pk"]["S"] != k:
                        self.violations.append("GetItem of %s answered %s" % (k, got))
                        continue
                    self.check(k, floor, self.version_of(got), "GetItem")
                else:
                    ks = rng.sample(all_keys, rng.randint(2, 8))
                    floors = self.history.snapshot(ks)
                    r = c.batch_get_item(RequestItems={t: {"Keys": [{"pk": {"S": k}} for k in ks]}})
                    found = {i["pk"]["S"]: i for i in r["Responses"].get(t, [])}
                    unprocessed = {u["pk"]["S"] for u in
                                   r.get("UnprocessedKeys", {}).get(t, {}).get("Keys", [])}
                    for k in ks:
                        if k not in unprocessed:
                            self.check(k, floors[k], self.version_of(found.get(k)), "BatchGetItem")
                    extra = set(found) - set(ks)
                    if extra:
                        self.violations.append("BatchGetItem answered keys not asked: %s" % extra)
            except ClientError:
                self.reads["error"] += 1

    def query(self, c, k):
        """A Query of k's partition: k's item, or nothing."""
        floor = self.history.snapshot([k])[k]
        items = c.query(TableName=self.table, KeyConditionExpression="pk = :k",
                        ExpressionAttributeValues={":k": {"S": k}})["Items"]
        if len(items) > 1 or any(i["pk"]["S"] != k for i in items):
            self.violations.append("Query of %s answered %s" % (k, items))
            return
        self.check(k, floor, self.version_of(items[0] if items else None), "Query")

    def scan(self, c, keys):
        """A Scan: every key at once, each checked against its own floor."""
        floors = self.history.snapshot(keys)
        found = {i["pk"]["S"]: i for i in c.scan(TableName=self.table)["Items"]}
        for k in keys:
            self.check(k, floors[k], self.version_of(found.get(k)), "Scan")
        if set(found) - set(keys):
            self.violations.append("Scan answered keys never written: %s" % (set(found) - set(keys)))

    def test_no_read_older_than_an_acknowledged_write(self):
        before = self.ddbx.metrics()
        threads = [threading.Thread(target=self.guarded(self.writer), args=(w,))
                   for w in range(WRITERS)]
        threads += [threading.Thread(target=self.guarded(self.reader), args=(n,))
                    for n in range(READERS)]
        threads += [threading.Thread(target=self.guarded(fn)) for fn in self.background()]
        for th in threads:
            th.start()
        time.sleep(SECONDS)
        self.stop.set()
        for th in threads:
            th.join(30)
        d = self.ddbx.metrics_since(before)
        print("\nstress: %d acknowledged writes, %d of unknown outcome; reads %s; "
              "cache hits %d, held misses %d; query/scan page hits %d, refused fills %d"
              % (self.history.acks, self.history.unknown, dict(self.reads),
                 d["ddbx_item_cache_hits_total"], d["ddbx_item_cache_held_misses_total"],
                 d["ddbx_query_cache_hits_total"] + d["ddbx_scan_cache_hits_total"],
                 d["ddbx_query_cache_fills_refused_total"]))
        self.assertEqual(self.violations[:20], [])
        self.assertGreater(self.history.acks, 50)
        self.assertGreater(self.reads["GetItem"] + self.reads["BatchGetItem"], 200)
        self.assertGreater(self.reads["Query"], 50)
        self.check_in_play(d)

    def guarded(self, fn):
        """fn, with any exception it dies of recorded as a violation (an answer of
        an unexpected shape must fail the test, not end a thread quietly)."""
        def run(*args):
            try:
                fn(*args)
            except Exception:  # noqa: BLE001
                self.violations.append("%s died: %s" % (fn.__name__, traceback.format_exc()))
                self.stop.set()
        return run

    def check_in_play(self, d):
        """The caches this run is about answered some reads (d: metric growth)."""
        self.assertGreater(d["ddbx_item_cache_hits_total"], 0)
        self.assertGreater(d["ddbx_query_cache_hits_total"], 0)


if __name__ == "__main__":
    unittest.main()
