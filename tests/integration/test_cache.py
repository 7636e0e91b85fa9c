"""test_cache.py: the item cache, seen from the backend.

ddbx --backend points at a FaultProxy in front of moto, so every test knows
exactly which requests reached the backend (proxy.ops_since) and can make the
backend slow, failing, or answer with a body of its own. Writes that bypass
ddbx go straight to moto (self.direct). Each test has its own table.

Where moto's answer differs from DynamoDB's, the expected values here are
DynamoDB's (ddbx answers hits itself, so it answers like DynamoDB).
"""
import contextlib
import itertools
import json
import threading
import time
import unittest
import zlib

from botocore.exceptions import ClientError

from harness import (Ddbx, FaultProxy, IntegrationTestCase, MotoServer, RawHttp, client,
                     create_table, wait_until)

DDB_ERR = "com.amazonaws.dynamodb.v20120810#"
HITS = "ddbx_item_cache_hits_total"
MISSES = "ddbx_item_cache_misses_total"
NEGATIVE_HITS = "ddbx_item_cache_negative_hits_total"
COALESCED = "ddbx_item_cache_coalesced_waits_total"
FILLS = "ddbx_item_cache_fills_total"
REFUSED = "ddbx_item_cache_fills_refused_total"
EVICTIONS = "ddbx_item_cache_evictions_total"


def S(v):
    return {"S": v}


def N(v):
    return {"N": v}


def key(pk):
    return {"pk": S(pk)}


def item(pk, **attrs):
    return dict(key(pk), **attrs)


def stops_cleanly(d):
    """Stops ddbx; a crash, a sanitizer report or an unclean exit fails the test."""
    code = d.stop()
    if code != 0:
        raise AssertionError("ddbx exited with %s; its log ends:\n%s" % (code, d.log_text()[-4000:]))


def by_pk(items):
    return sorted(items, key=lambda i: i["pk"]["S"])


class CacheTestCase(IntegrationTestCase):
    """moto, a FaultProxy and a ddbx in front of it, shared by a class's tests."""

    ddbx_flags = ("--backend-timeout", "5s")
    _tables = itertools.count()

    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, *cls.ddbx_flags))
        cls.addClassCleanup(stops_cleanly, cls.ddbx)
        cls.c = client(cls.ddbx.endpoint)
        cls.direct = client(cls.moto.endpoint)

    def setUp(self):
        self.addCleanup(self.proxy.clear)
        self.c1 = client(self.ddbx.endpoint, attempts=1)  # errors are seen, not retried

    def own_ddbx(self, *flags):
        d = self.start(Ddbx(self.proxy.endpoint, *flags))
        self.addCleanup(stops_cleanly, d)
        self.addCleanup(self.proxy.clear)  # runs first: nothing held keeps ddbx waiting
        return d

    def table(self, c=None, key_type="S"):
        """A new table (key pk of key_type) created through ddbx, which learns its schema."""
        name = "cache_%s_%d" % (self._testMethodName[5:25], next(self._tables))
        c = c or self.c
        if key_type == "S":
            create_table(c, name)
        else:
            c.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk",
                                                  "AttributeType": key_type}])
        return name

    @contextlib.contextmanager
    def backend(self, **expected):
        """Asserts the block made exactly these backend requests ({op: count}), nothing else."""
        before = self.proxy.snapshot()
        yield
        self.assertEqual(self.proxy.ops_since(before), expected, "backend requests")

    def get(self, t, k, c=None, **params):
        """GetItem's Item, or None when not found."""
        return (c or self.c).get_item(TableName=t, Key=k, **params).get("Item")

    def moto_item(self, t, k):
        """What the backend holds (a consistent read straight from moto)."""
        return self.direct.get_item(TableName=t, Key=k, ConsistentRead=True).get("Item")

    def direct_put_all(self, t, items):
        """Writes items straight to moto, bypassing ddbx."""
        for i in range(0, len(items), 25):
            self.direct.batch_write_item(RequestItems={t: [
                {"PutRequest": {"Item": it}} for it in items[i:i + 25]]})


class ItemCacheTest(CacheTestCase):

    # ---- hits

    def test_written_items_read_5_times_each_make_no_backend_reads(self):
        t = self.table()
        items = [item("k%03d" % i, v=N(str(i)), s=S("value %d" % i)) for i in range(100)]
        for it in items:
            self.c.put_item(TableName=t, Item=it)
        before = self.ddbx.metrics()
        with self.backend():
            for _ in range(5):
                for it in items:
                    self.assertEqual(self.get(t, {"pk": it["pk"]}), it)
        d = self.ddbx.metrics_since(before)
        self.assertEqual(d[HITS], 500)
        self.assertEqual(d[MISSES], 0)
        self.assertEqual(d["ddbx_backend_requests_total"], 0)
        self.assertEqual(d['ddbx_requests_total{operation="GetItem"}'], 500)

    def test_a_hit_is_the_value_the_backend_answers(self):
        t = self.table()
        it = item("every type", s=S('quote " backslash \\ newline \n tab \t é ✓ 😀 \u0001'),
                  n=N("-12.5"), big=N("1" + "0" * 30), small=N("0.000000000000000000000000000001"),
                  b={"B": b"\x00\xff binary\n"}, ss={"SS": ["x", "é"]}, ns={"NS": ["1", "2.5"]},
                  bs={"BS": [b"\x01", b"\x02"]}, l={"L": [S("q"), {"BOOL": False}, {"NULL": True}]},
                  m={"M": {"k": {"M": {"deep": {"L": []}}}, "e": {"M": {}}}},
                  **{"name with spaces": S(""), "ünïcode": N("0")})
        self.c.put_item(TableName=t, Item=it)
        with self.backend():
            self.assertEqual(self.get(t, key("every type")), it)
        get = {"TableName": t, "Key": key("every type")}
        ours, theirs = RawHttp(self.ddbx.port), RawHttp(self.moto.port)
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        with self.backend():
            hit = ours.call("GetItem", get)
        # moto_server picks the service from the credential scope
        direct = theirs.call("GetItem", get, Authorization="AWS4-HMAC-SHA256 Credential=AKID/"
                             "20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, "
                             "Signature=0")
        self.assertEqual(json.loads(hit.body), json.loads(direct.body))
        big = item("big", v=S("é" * 150000 + "x" * 50000))  # 350 KB, under the 400 KB limit
        self.c.put_item(TableName=t, Item=big)
        with self.backend():
            self.assertEqual(self.get(t, key("big")), big)

    def test_projections_are_answered_from_the_cached_item(self):
        t = self.table()
        full = item("p", name=S("Ann"), a=N("1"), b=S("bee"),
                    m={"M": {"nest": {"M": {"deep": N("7"), "other": S("o")}},
                             "y": {"L": [S("y0"), S("y1"), S("y2")]}}},
                    l={"L": [N("0"), {"M": {"k": S("kv"), "j": S("jv")}}, S("two")]})
        self.c.put_item(TableName=t, Item=full)
        # (parameters, DynamoDB's answer, whether moto answers the same)
        cases = [
            (dict(ProjectionExpression="#n, m.nest.deep, l[1]",
                  ExpressionAttributeNames={"#n": "name"}),
             {"name": S("Ann"), "m": {"M": {"nest": {"M": {"deep": N("7")}}}},
              "l": {"L": [{"M": {"k": S("kv"), "j": S("jv")}}]}}, True),
            (dict(ProjectionExpression="#m.#i", ExpressionAttributeNames={"#m": "m", "#i": "nest"}),
             {"m": {"M": {"nest": full["m"]["M"]["nest"]}}}, True),
            (dict(ProjectionExpression="l[1].k, pk"),
             {"pk": S("p"), "l": {"L": [{"M": {"k": S("kv")}}]}}, True),
            (dict(ProjectionExpression="pk, nothere, m.nothere"), {"pk": S("p")}, True),
            # DynamoDB returns the selected elements of one list in index order;
            # moto answers with one of them only
            (dict(ProjectionExpression="m.y[2], m.y[0]"),
             {"m": {"M": {"y": {"L": [S("y0"), S("y2")]}}}}, False),
            # DynamoDB returns just these attributes; moto ignores AttributesToGet
            (dict(AttributesToGet=["a", "name", "missing"]),
             {"a": N("1"), "name": S("Ann")}, False),
        ]
        for params, expected, moto_agrees in cases:
            with self.subTest(**params):
                with self.backend():
                    got = self.c.get_item(TableName=t, Key=key("p"), **params)["Item"]
                self.assertEqual(got, expected)
                if moto_agrees:  # the expectation is also what a backend computes
                    self.assertEqual(
                        self.direct.get_item(TableName=t, Key=key("p"), **params)["Item"], got)
        with self.backend(DeleteItem=1):
            self.c.delete_item(TableName=t, Key=key("p"))
        with self.backend():  # a negative entry answers projected reads too
            self.assertNotIn("Item", self.c.get_item(TableName=t, Key=key("p"),
                                                     **cases[0][0]))

    # ---- read your writes

    def test_update_item_read_your_writes_in_the_shape_asked_for(self):
        t = self.table()
        k = key("u")
        self.c.put_item(TableName=t, Item=item("u", n=N("1"), s=S("a")))
        inc = dict(TableName=t, Key=k, UpdateExpression="SET n = n + :one",
                   ExpressionAttributeValues={":one": N("1")})
        n = 1
        for rv in ("NONE", None):  # no ReturnValues is NONE
            with self.subTest(ReturnValues=rv):
                with self.backend(UpdateItem=1):
                    answer = self.c.update_item(**inc, **({"ReturnValues": rv} if rv else {}))
                n += 1
                self.assertNotIn("Attributes", answer)
                sent = json.loads(self.proxy.bodies("UpdateItem")[-1])
                self.assertEqual(sent["ReturnValues"], "ALL_NEW", "ddbx needs the new image")
                with self.backend():
                    self.assertEqual(self.get(t, k), item("u", n=N(str(n)), s=S("a")))
        with self.backend(UpdateItem=1):
            answer = self.c.update_item(**inc, ReturnValues="ALL_NEW")
        n += 1
        new = item("u", n=N(str(n)), s=S("a"))
        self.assertEqual(answer["Attributes"], new)
        with self.backend():
            self.assertEqual(self.get(t, k), new)
        # UPDATED_NEW cannot be derived from ALL_NEW: relayed as asked, key invalidated
        with self.backend(UpdateItem=1):
            answer = self.c.update_item(TableName=t, Key=k, UpdateExpression="SET s = :b",
                                        ExpressionAttributeValues={":b": S("b")},
                                        ReturnValues="UPDATED_NEW")
        self.assertEqual(answer["Attributes"], {"s": S("b")})
        self.assertEqual(json.loads(self.proxy.bodies("UpdateItem")[-1])["ReturnValues"],
                         "UPDATED_NEW")
        new = item("u", n=N(str(n)), s=S("b"))
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, k), new)
        with self.backend():
            self.assertEqual(self.get(t, k), new)
        self.assertEqual(self.moto_item(t, k), new)

    def test_delete_item_leaves_a_negative_entry(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("d", v=S("x")))
        with self.backend():
            self.assertEqual(self.get(t, key("d")), item("d", v=S("x")))
        with self.backend(DeleteItem=1):
            self.c.delete_item(TableName=t, Key=key("d"))
        before = self.ddbx.metrics()
        with self.backend():
            for _ in range(3):
                self.assertIsNone(self.get(t, key("d")))
        self.assertEqual(self.ddbx.metrics_since(before)[NEGATIVE_HITS], 3)
        self.assertIsNone(self.moto_item(t, key("d")))

    def test_conditional_check_failed_invalidates_the_key(self):
        t = self.table()
        attempts = {
            "PutItem": lambda k: self.c.put_item(TableName=t, Item=dict(k, v=N("3")),
                                                 ConditionExpression="v = :one",
                                                 ExpressionAttributeValues={":one": N("1")}),
            "UpdateItem": lambda k: self.c.update_item(TableName=t, Key=k,
                                                       UpdateExpression="SET v = :three",
                                                       ConditionExpression="v = :one",
                                                       ExpressionAttributeValues={
                                                           ":one": N("1"), ":three": N("3")}),
            "DeleteItem": lambda k: self.c.delete_item(TableName=t, Key=k,
                                                       ConditionExpression="v = :one",
                                                       ExpressionAttributeValues={":one": N("1")}),
        }
        for op, attempt in attempts.items():
            with self.subTest(op=op):
                k = key("cc-" + op)
                self.c.put_item(TableName=t, Item=dict(k, v=N("1")))
                self.direct.put_item(TableName=t, Item=dict(k, v=N("2"), by=S("moto")))
                with self.backend():  # ddbx still holds what it wrote
                    self.assertEqual(self.get(t, k), dict(k, v=N("1")))
                with self.backend(**{op: 1}):
                    with self.assertRaises(ClientError) as cm:
                        attempt(k)
                self.assertEqual(cm.exception.response["Error"]["Code"],
                                 "ConditionalCheckFailedException")
                with self.backend(GetItem=1):
                    got = self.get(t, k)
                self.assertEqual(got, self.moto_item(t, k))
                self.assertEqual(got["v"], N("2"))
                with self.backend():
                    self.assertEqual(self.get(t, k), got)

    # ---- reads that always reach the backend

    def test_consistent_reads_always_reach_the_backend(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("c", v=N("1")))
        start = len(self.proxy.requests)
        with self.backend(GetItem=10):
            for _ in range(10):
                self.assertEqual(self.get(t, key("c"), ConsistentRead=True), item("c", v=N("1")))
        for req in self.proxy.requests[start:]:
            self.assertIs(json.loads(req.body)["ConsistentRead"], True)
        self.direct.put_item(TableName=t, Item=item("c", v=N("2")))
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, key("c"), ConsistentRead=True), item("c", v=N("2")))
        with self.backend():  # it installed what it saw
            self.assertEqual(self.get(t, key("c")), item("c", v=N("2")))
        # BatchGetItem honours ConsistentRead per table, even for cached keys
        with self.backend(BatchGetItem=3):
            for _ in range(3):
                got = self.c.batch_get_item(RequestItems={t: {"Keys": [key("c")],
                                                              "ConsistentRead": True}})
                self.assertEqual(got["Responses"][t], [item("c", v=N("2"))])
        # TransactGetItems: always the backend
        self.direct.put_item(TableName=t, Item=item("c", v=N("3")))
        with self.backend(TransactGetItems=2):
            for _ in range(2):
                got = self.c.transact_get_items(TransactItems=[{"Get": {"TableName": t,
                                                                        "Key": key("c")}}])
                self.assertEqual(got["Responses"][0]["Item"], item("c", v=N("3")))
        with self.backend():
            self.assertEqual(self.get(t, key("c")), item("c", v=N("3")))

    # ---- keys are values

    def test_numeric_keys_are_one_entry_whatever_their_text(self):
        t = self.table(key_type="N")
        self.direct.put_item(TableName=t, Item={"pk": N("1"), "v": S("one")})
        before = self.ddbx.metrics()
        start = len(self.proxy.requests)
        with self.backend(GetItem=1):
            for text in ("1", "1.0", "1E0", "01", "10E-1", "0.1e1", "1.000"):
                with self.subTest(key=text):
                    self.assertEqual(self.get(t, {"pk": N(text)}), {"pk": N("1"), "v": S("one")})
        d = self.ddbx.metrics_since(before)
        self.assertEqual((d[MISSES], d[HITS]), (1, 6))
        # a miss reads with ConsistentRead (--fill-consistent), never older than a write
        (fill,) = self.proxy.requests[start:]
        self.assertEqual(json.loads(fill.body),
                         {"TableName": t, "Key": {"pk": N("1")}, "ConsistentRead": True})

    def test_an_item_written_with_non_canonical_numbers_reads_back_as_stored(self):
        # DynamoDB stores 1.50 as 1.5 and 1E2 as 100; moto keeps the text. Either
        # way ddbx must answer what the backend answers, not what was sent.
        t = self.table(key_type="N")
        written = {"pk": N("2"), "price": N("1.50"), "e": N("1E2"), "ns": {"NS": ["3.0", "4"]}}
        with self.backend(PutItem=1):
            self.c.put_item(TableName=t, Item=written)
        with self.backend(GetItem=1):
            got = self.get(t, {"pk": N("2")})
        self.assertEqual(got, self.moto_item(t, {"pk": N("2")}))
        with self.backend():
            self.assertEqual(self.get(t, {"pk": N("2.0")}), got)

    # ---- BatchGetItem

    def test_batch_get_of_25_cached_and_25_uncached_keys_makes_one_backend_call(self):
        t = self.table()
        cached = [item("b%02d" % i, v=N(str(i))) for i in range(0, 50, 2)]
        uncached = [item("b%02d" % i, v=N(str(i))) for i in range(1, 50, 2)]
        for it in cached:
            self.c.put_item(TableName=t, Item=it)
        self.direct_put_all(t, uncached)
        keys = [key("b%02d" % i) for i in range(50)]
        with self.backend(BatchGetItem=1):
            got = self.c.batch_get_item(RequestItems={t: {"Keys": keys}})
        self.assertEqual(by_pk(got["Responses"][t]), by_pk(cached + uncached))
        self.assertEqual(got["UnprocessedKeys"], {})
        sent = json.loads(self.proxy.bodies("BatchGetItem")[-1])["RequestItems"]
        self.assertEqual(list(sent), [t])
        self.assertEqual(sorted(k["pk"]["S"] for k in sent[t]["Keys"]),
                         sorted(it["pk"]["S"] for it in uncached))
        with self.backend():
            again = self.c.batch_get_item(RequestItems={t: {"Keys": keys}})
        self.assertEqual(by_pk(again["Responses"][t]), by_pk(cached + uncached))

    def test_batch_get_unprocessed_keys_come_back_in_dynamodb_shape_and_are_not_cached(self):
        t = self.table()
        a, b, c, d = (item(x, v=S(x.upper())) for x in "abcd")
        self.c.put_item(TableName=t, Item=a)
        self.direct_put_all(t, [b, c, d])
        # the backend reads b and leaves c and d unprocessed
        self.proxy.inject("BatchGetItem", "status", once=True, status=200, body={
            "Responses": {t: [b]},
            "UnprocessedKeys": {t: {"Keys": [key("c"), key("d")], "ConsistentRead": True}}})
        params = {"ProjectionExpression": "pk, #v", "ExpressionAttributeNames": {"#v": "v"}}
        with self.backend(BatchGetItem=1):
            got = self.c.batch_get_item(RequestItems={t: dict(
                params, Keys=[key(x) for x in "abcd"])})
        self.assertEqual(by_pk(got["Responses"][t]), [a, b])
        # what the caller asked for, for the keys left: ready to resend as it is
        self.assertEqual(got["UnprocessedKeys"], {t: dict(params, Keys=[key("c"), key("d")])})
        with self.backend():
            self.assertEqual(self.get(t, key("b")), b)
        with self.backend(GetItem=2):
            self.assertEqual(self.get(t, key("c")), c)
            self.assertEqual(self.get(t, key("d")), d)
        with self.backend():
            resent = self.c.batch_get_item(RequestItems=got["UnprocessedKeys"])
        self.assertEqual(by_pk(resent["Responses"][t]), [c, d])

    # ---- no stampede, no stale set

    def test_40_concurrent_misses_on_one_key_make_one_backend_read(self):
        t = self.table()
        it = item("hot", v=S("x" * 100))
        self.direct.put_item(TableName=t, Item=it)
        conns = [RawHttp(self.ddbx.port, timeout=15) for _ in range(40)]
        for conn in conns:
            self.addCleanup(conn.close)
        gate = self.proxy.inject("GetItem", "gate", once=True)  # a backend as slow as we like
        before, snap = self.ddbx.metrics(), self.proxy.snapshot()
        answers = [None] * 40

        def read(i):
            answers[i] = conns[i].call("GetItem", {"TableName": t, "Key": key("hot")})
        threads = [threading.Thread(target=read, args=(i,)) for i in range(40)]
        for th in threads:
            th.start()
        gate.wait_arrived()
        wait_until(lambda: self.ddbx.metrics_since(before)[MISSES] >= 40, 10.0,
                   what="all 40 reads to reach the cache")
        gate.release()
        for th in threads:
            th.join(10)
        for a in answers:
            self.assertEqual(a.status, 200, a)
            self.assertEqual(a.json()["Item"], it)
            self.assertEqual(int(a.headers["x-amz-crc32"]), zlib.crc32(a.body))
        self.assertEqual(self.proxy.ops_since(snap), {"GetItem": 1})
        d = self.ddbx.metrics_since(before)
        self.assertEqual((d[MISSES], d[COALESCED], d[FILLS]), (40, 39, 1))

    def test_a_fill_that_started_before_a_write_never_installs_its_older_value(self):
        t = self.table()
        n = 1000
        self.direct_put_all(t, [item("r%d" % i, v=S("old")) for i in range(n)])
        reader, writer = RawHttp(self.ddbx.port), RawHttp(self.ddbx.port)
        self.addCleanup(reader.close)
        self.addCleanup(writer.close)
        before, snap = self.ddbx.metrics(), self.proxy.snapshot()
        start = time.monotonic()
        for i in range(n):
            get = {"TableName": t, "Key": key("r%d" % i)}
            # moto reads "old" at once; ddbx gets that answer only on release
            hold = self.proxy.inject("GetItem", "hold", once=True)
            filled = {}
            th = threading.Thread(target=lambda: filled.update(r=reader.call("GetItem", get)))
            th.start()
            hold.wait_arrived()
            put = writer.call("PutItem", {"TableName": t, "Item": item("r%d" % i, v=S("new"))})
            self.assertEqual(put.status, 200, put)
            hold.release()
            th.join(5)
            self.assertEqual(filled["r"].status, 200, filled["r"])
            after = writer.call("GetItem", get)
            self.assertEqual(after.json().get("Item"), item("r%d" % i, v=S("new")),
                             "iteration %d installed the older value" % i)
        elapsed = time.monotonic() - start
        self.assertEqual(self.proxy.ops_since(snap), {"GetItem": n, "PutItem": n})
        d = self.ddbx.metrics_since(before)
        self.assertEqual((d[REFUSED], d[FILLS]), (n, 0))
        with self.backend():
            for i in range(0, n, 100):
                got = self.c.batch_get_item(RequestItems={t: {
                    "Keys": [key("r%d" % j) for j in range(i, i + 100)]}})
                self.assertEqual(len(got["Responses"][t]), 100)
                self.assertEqual({x["v"]["S"] for x in got["Responses"][t]}, {"new"})
        self.assertLess(elapsed, 30.0, "%d iterations took %.1fs" % (n, elapsed))

    def test_every_kind_of_write_keeps_an_older_fill_out(self):
        t = self.table()
        keys = {op: [key("%s-%d" % (op, i)) for i in range(10)] for op in self.WRITES}
        self.direct_put_all(t, [dict(k, v=S("old")) for ks in keys.values() for k in ks])
        reader = RawHttp(self.ddbx.port)
        self.addCleanup(reader.close)
        before = self.ddbx.metrics()
        for op, ks in keys.items():
            for k in ks:
                with self.subTest(op=op, key=k):
                    hold = self.proxy.inject("GetItem", "hold", once=True)
                    filled = {}
                    th = threading.Thread(target=lambda: filled.update(
                        r=reader.call("GetItem", {"TableName": t, "Key": k})))
                    th.start()
                    hold.wait_arrived()
                    self.write(self.c, op, t, k)
                    hold.release()
                    th.join(5)
                    self.assertEqual(filled["r"].status, 200)
                    # a transaction invalidates: one read from the backend
                    with self.backend(**({"GetItem": 1} if op == "TransactWriteItems" else {})):
                        self.assertEqual(self.get(t, k), self.written(op, k))
        self.assertEqual(self.ddbx.metrics_since(before)[REFUSED], 50)

    def test_write_answers_arriving_out_of_order_leave_the_backends_value(self):
        # Two writes of one key: the backend applies the first, then the second,
        # but the first one's answer reaches ddbx last (another backend
        # connection, a slow network path). The cache must not end up holding
        # the first write's value while the backend holds the second's.
        t = self.table()
        first, second = RawHttp(self.ddbx.port), RawHttp(self.ddbx.port)
        self.addCleanup(first.close)
        self.addCleanup(second.close)

        def put(pk, v):
            return "PutItem", {"TableName": t, "Item": item(pk, v=S(v))}

        def update(pk, v):
            return "UpdateItem", {"TableName": t, "Key": key(pk), "UpdateExpression": "SET v = :v",
                                  "ExpressionAttributeValues": {":v": S(v)}}

        def delete(pk, v):
            return "DeleteItem", {"TableName": t, "Key": key(pk)}
        for w1, w2 in [(put, put), (update, update), (put, delete), (delete, put),
                       (update, put)]:
            pk = "%s-then-%s" % (w1.__name__, w2.__name__)
            with self.subTest(first=w1.__name__, second=w2.__name__):
                self.c.put_item(TableName=t, Item=item(pk, v=S("0")))
                op1, body1 = w1(pk, "1")
                hold = self.proxy.inject(op1, "hold", once=True)  # applied now, answered on release
                answer = {}
                th = threading.Thread(target=lambda: answer.update(r=first.call(op1, body1)))
                th.start()
                hold.wait_arrived()
                self.assertEqual(second.call(*w2(pk, "2")).status, 200)
                hold.release()
                th.join(5)
                self.assertEqual(answer["r"].status, 200, answer["r"])
                self.assertEqual(self.get(t, key(pk)), self.moto_item(t, key(pk)))

    # ---- BatchWriteItem, TransactWriteItems

    def test_batch_write_caches_processed_puts_and_deletes(self):
        t = self.table()
        gone = [item("del%d" % i, v=S("old")) for i in range(5)]
        for it in gone:
            self.c.put_item(TableName=t, Item=it)
        puts = [item("put%d" % i, v=N(str(i))) for i in range(10)]
        with self.backend(BatchWriteItem=1):
            answer = self.c.batch_write_item(RequestItems={t: [
                {"PutRequest": {"Item": it}} for it in puts] + [
                {"DeleteRequest": {"Key": {"pk": it["pk"]}}} for it in gone]})
        self.assertEqual(answer["UnprocessedItems"], {})
        before = self.ddbx.metrics()
        with self.backend():
            for it in puts:
                self.assertEqual(self.get(t, {"pk": it["pk"]}), it)
            for it in gone:
                self.assertIsNone(self.get(t, {"pk": it["pk"]}))
        d = self.ddbx.metrics_since(before)
        self.assertEqual((d[HITS], d[NEGATIVE_HITS]), (15, 5))

    def test_batch_write_leaves_unprocessed_items_uncached(self):
        t = self.table()
        kept = item("kept", v=S("still here"))
        self.c.put_item(TableName=t, Item=kept)
        done = [item("done%d" % i, v=N(str(i))) for i in range(3)]
        late = item("late", v=S("not written"))
        # a backend that wrote `done` and left the put of `late` and the delete of
        # `kept` unprocessed: moto is given what such a backend would hold
        self.direct_put_all(t, done)
        unprocessed = [{"PutRequest": {"Item": late}},
                       {"DeleteRequest": {"Key": key("kept")}}]
        self.proxy.inject("BatchWriteItem", "status", once=True, status=200,
                          body={"UnprocessedItems": {t: unprocessed}})
        with self.backend(BatchWriteItem=1):
            answer = self.c.batch_write_item(RequestItems={t: [
                {"PutRequest": {"Item": it}} for it in done + [late]] + [
                {"DeleteRequest": {"Key": key("kept")}}]})
        self.assertEqual(answer["UnprocessedItems"], {t: unprocessed})
        with self.backend():
            for it in done:
                self.assertEqual(self.get(t, {"pk": it["pk"]}), it)
            self.assertEqual(self.get(t, key("kept")), kept)
        with self.backend(GetItem=1):
            self.assertIsNone(self.get(t, key("late")))

    def test_transact_write_items_invalidates_every_key_it_names(self):
        t = self.table()
        for x in "abcd":
            self.c.put_item(TableName=t, Item=item(x, v=S("before")))
        with self.backend(TransactWriteItems=1):
            self.c.transact_write_items(TransactItems=[
                {"Put": {"TableName": t, "Item": item("a", v=S("put"))}},
                {"Update": {"TableName": t, "Key": key("b"), "UpdateExpression": "SET v = :v",
                            "ExpressionAttributeValues": {":v": S("updated")}}},
                {"Delete": {"TableName": t, "Key": key("c")}},
                {"ConditionCheck": {"TableName": t, "Key": key("d"),
                                    "ConditionExpression": "attribute_exists(v)"}}])
        expected = {"a": item("a", v=S("put")), "b": item("b", v=S("updated")), "c": None,
                    "d": item("d", v=S("before"))}
        with self.backend(GetItem=4):
            self.assertEqual({x: self.get(t, key(x)) for x in "abcd"}, expected)
        with self.backend():
            self.assertEqual({x: self.get(t, key(x)) for x in "abcd"}, expected)

    def test_a_cancelled_transaction_invalidates_too(self):
        t = self.table()
        for x in "ab":
            self.c.put_item(TableName=t, Item=item(x, v=S("cached")))
            self.direct.put_item(TableName=t, Item=item(x, v=S("moto")))  # ddbx does not know
        with self.backend(TransactWriteItems=1):
            with self.assertRaises(ClientError) as cm:
                self.c.transact_write_items(TransactItems=[
                    {"Put": {"TableName": t, "Item": item("a", v=S("tx"))}},
                    {"ConditionCheck": {"TableName": t, "Key": key("b"),
                                        "ConditionExpression": "v = :never",
                                        "ExpressionAttributeValues": {":never": S("never")}}}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "TransactionCanceledException")
        with self.backend(GetItem=2):
            for x in "ab":
                self.assertEqual(self.get(t, key(x)), item(x, v=S("moto")))

    # ---- writes whose outcome is unknown

    @staticmethod
    def written(op, k):
        """What the backend holds for k after write(op, ..., k) (None: no item)."""
        return None if op == "DeleteItem" else dict(k, v=S("written"))

    def write(self, c, op, t, k):
        """Writes v="written" to key k (deletes it for DeleteItem) with op, through client c."""
        new = dict(k, v=S("written"))
        if op == "PutItem":
            c.put_item(TableName=t, Item=new)
        elif op == "UpdateItem":
            c.update_item(TableName=t, Key=k, UpdateExpression="SET v = :w",
                          ExpressionAttributeValues={":w": S("written")})
        elif op == "DeleteItem":
            c.delete_item(TableName=t, Key=k)
        elif op == "BatchWriteItem":
            c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": new}}]})
        elif op == "TransactWriteItems":
            c.transact_write_items(TransactItems=[{"Put": {"TableName": t, "Item": new}}])

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

    def check_ambiguous_write(self, t, c, op, fault, **fault_kw):
        """A write through c that moto carries out but whose answer is lost to
        `fault`: the client gets a 5xx and the next read goes to the backend."""
        k = key("amb-%s-%s-%s" % (op, fault, fault_kw.get("status", "")))
        c.put_item(TableName=t, Item=dict(k, v=S("cached")))
        with self.backend():
            self.assertEqual(self.get(t, k, c), dict(k, v=S("cached")))
        self.proxy.inject(op, fault, forward=True, **fault_kw)
        with self.assertRaises(ClientError) as cm:
            self.write(c, op, t, k)
        self.assertGreaterEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.proxy.clear()
        expected = self.written(op, k)
        self.assertEqual(self.moto_item(t, k), expected)
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, k, c), expected)

    def test_ambiguous_writes_invalidate_the_key(self):
        t = self.table()
        err = {"__type": DDB_ERR + "InternalServerError", "message": "lost"}
        cases = [(op, "status", dict(status=500, body=err)) for op in self.WRITES] + [
            ("PutItem", "status", dict(status=503, body=b"<html>busy</html>",
                                       content_type="text/html")),
            ("PutItem", "reset", {}), ("UpdateItem", "reset", {})]
        for op, fault, kw in cases:
            with self.subTest(op=op, fault=fault, **kw):
                self.check_ambiguous_write(t, self.c1, op, fault, **kw)

    def test_a_refused_write_changes_nothing(self):
        t = self.table()
        for op in self.WRITES:
            with self.subTest(op=op):
                k = key("refused-" + op)
                self.c.put_item(TableName=t, Item=dict(k, v=S("cached")))
                self.proxy.inject(op, "status", once=True, status=400, body={
                    "__type": DDB_ERR + "ThrottlingException", "message": "slow down"})
                with self.backend(**{op: 1}):
                    with self.assertRaises(ClientError) as cm:
                        self.write(self.c1, op, t, k)
                self.assertEqual(cm.exception.response["Error"]["Code"], "ThrottlingException")
                with self.backend():
                    self.assertEqual(self.get(t, k), dict(k, v=S("cached")))
                self.assertEqual(self.moto_item(t, k), dict(k, v=S("cached")))

    def test_a_write_that_times_out_invalidates_the_key(self):
        d = self.own_ddbx("--backend-timeout", "1s")
        c = client(d.endpoint, attempts=1)
        t = self.table(c)
        before = d.metric("ddbx_backend_timeouts_total")
        self.check_ambiguous_write(t, c, "PutItem", "hang", once=True)
        self.assertEqual(d.metric("ddbx_backend_timeouts_total") - before, 1)

    # ---- what a hit answers

    def test_hits_report_the_callers_capacity_and_a_valid_crc(self):
        # what the caller's own read consumes in DynamoDB (README: an eventually
        # consistent read of up to 4 KB is 0.5), whether the cache answered or not
        t = self.table()
        it = item("cap", v=S("x"), m={"M": {"k": N("1")}})
        self.c.put_item(TableName=t, Item=it)
        with self.backend():
            total = self.c.get_item(TableName=t, Key=key("cap"), ReturnConsumedCapacity="TOTAL")
            indexes = self.c.get_item(TableName=t, Key=key("cap"),
                                      ReturnConsumedCapacity="INDEXES")
            batch = self.c.batch_get_item(RequestItems={t: {"Keys": [key("cap")]}},
                                          ReturnConsumedCapacity="TOTAL")
        self.assertEqual(total["Item"], it)
        self.assertEqual(total["ConsumedCapacity"], {"TableName": t, "CapacityUnits": 0.5})
        self.assertEqual(indexes["ConsumedCapacity"], {"TableName": t, "CapacityUnits": 0.5,
                                                       "Table": {"CapacityUnits": 0.5}})
        self.assertEqual(batch["ConsumedCapacity"], [{"TableName": t, "CapacityUnits": 0.5}])
        # botocore checked x-amz-crc32 above; check it by hand on raw answers too
        conn = RawHttp(self.ddbx.port)
        self.addCleanup(conn.close)
        get = {"TableName": t, "Key": key("cap")}
        requests = [("GetItem", get),
                    ("GetItem", dict(get, ProjectionExpression="m.k")),
                    ("GetItem", dict(get, ReturnConsumedCapacity="INDEXES")),
                    ("GetItem", {"TableName": t, "Key": key("absent")}),
                    ("GetItem", {"TableName": t, "Key": key("absent")}),
                    ("BatchGetItem", {"RequestItems": {t: {"Keys": [key("cap"), key("absent")]}},
                                      "ReturnConsumedCapacity": "TOTAL"})]
        for op, body in requests:
            with self.subTest(op=op, body=body):
                resp = conn.call(op, body)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(int(resp.headers["x-amz-crc32"]), zlib.crc32(resp.body))
                self.assertEqual(resp.headers["content-type"], "application/x-amz-json-1.0")
                json.loads(resp.body)

    # ---- tables

    def test_delete_and_create_table_drop_the_tables_entries(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("old", v=S("before")))
        with self.backend():
            self.assertEqual(self.get(t, key("old")), item("old", v=S("before")))
        self.c.delete_table(TableName=t)
        create_table(self.c, t)
        with self.backend(GetItem=1):
            self.assertIsNone(self.get(t, key("old")))
        with self.backend():
            self.assertIsNone(self.get(t, key("old")))

    def test_partiql_writes_drop_the_tables_entries(self):
        t = self.table()
        for x in "ab":
            self.c.put_item(TableName=t, Item=item(x, v=N("1")))
        with self.backend(ExecuteStatement=1):  # a SELECT changes nothing
            self.c.execute_statement(Statement='SELECT * FROM "%s" WHERE pk = ?' % t,
                                     Parameters=[S("a")])
        with self.backend():
            self.assertEqual(self.get(t, key("b")), item("b", v=N("1")))
        with self.backend(ExecuteStatement=1):
            self.c.execute_statement(Statement='UPDATE "%s" SET v = ? WHERE pk = ?' % t,
                                     Parameters=[N("2"), S("a")])
        # ddbx dropped every entry of the table, not only the key written (its
        # epoch changed); the key schema itself is kept
        with self.backend(GetItem=2):
            self.assertEqual(self.get(t, key("a")), item("a", v=N("2")))
            self.assertEqual(self.get(t, key("b")), item("b", v=N("1")))

    # ---- a failing backend

    def test_a_failed_read_is_never_cached(self):
        t = self.table()
        it = item("f", v=S("fine"))
        self.direct.put_item(TableName=t, Item=it)
        self.proxy.inject("GetItem", "status", once=True, status=500,
                          body={"__type": DDB_ERR + "InternalServerError", "message": "injected"})
        with self.backend(GetItem=1):
            with self.assertRaises(ClientError) as cm:
                self.get(t, key("f"), self.c1)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, key("f"), self.c1), it)
        with self.backend():
            self.assertEqual(self.get(t, key("f"), self.c1), it)
        # the same for BatchGetItem, and for requests waiting on the failed read
        self.direct.put_item(TableName=t, Item=item("g", v=S("fine")))
        gate = self.proxy.inject("BatchGetItem", "status", once=True, gated=True, status=500,
                                 body={"__type": DDB_ERR + "InternalServerError",
                                       "message": "injected"})
        waiter = {}
        # the GetItem waiting on the failed read does not inherit its error (it
        # could be about another key or table of the batch): it reads its key itself
        with self.backend(BatchGetItem=1, GetItem=1):
            batch = threading.Thread(target=lambda: waiter.update(batch=self.failed(
                lambda: self.c1.batch_get_item(RequestItems={t: {"Keys": [key("g")]}}))))
            batch.start()
            gate.wait_arrived()
            before = self.ddbx.metrics()
            single = threading.Thread(target=lambda: waiter.update(get=self.failed(
                lambda: self.get(t, key("g"), self.c1))))
            single.start()
            wait_until(lambda: self.ddbx.metrics_since(before)[COALESCED] == 1, 5.0,
                       what="the GetItem to wait on the BatchGetItem's read")
            gate.release()
            batch.join(10)
            single.join(10)
        self.assertEqual(waiter, {"batch": 500, "get": None})
        with self.backend():  # the waiter's own read was cached; the error never was
            self.assertEqual(self.get(t, key("g"), self.c1), item("g", v=S("fine")))

    def failed(self, call):
        """The HTTP status of call's error (None if it succeeded)."""
        try:
            call()
        except ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"]
        return None

    def test_hits_are_served_while_the_backend_is_down(self):
        t = self.table()
        cached = [item("up%d" % i, v=N(str(i))) for i in range(3)]
        for it in cached:
            self.c.put_item(TableName=t, Item=it)
        self.c.delete_item(TableName=t, Key=key("gone"))
        self.direct.put_item(TableName=t, Item=item("never-read", v=S("x")))
        self.proxy.inject("*", "status", status=503,
                          body={"__type": DDB_ERR + "ServiceUnavailable", "message": "down"})
        with self.backend():
            for it in cached:
                self.assertEqual(self.get(t, {"pk": it["pk"]}, self.c1), it)
            self.assertIsNone(self.get(t, key("gone"), self.c1))
            got = self.c1.batch_get_item(RequestItems={t: {"Keys": [
                {"pk": it["pk"]} for it in cached] + [key("gone")]}})
            self.assertEqual(by_pk(got["Responses"][t]), cached)
        with self.backend(GetItem=1):
            with self.assertRaises(ClientError) as cm:
                self.get(t, key("never-read"), self.c1)
        self.assertEqual(cm.exception.response["Error"]["Code"], "ServiceUnavailable")
        self.proxy.clear()
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, key("never-read"), self.c1), item("never-read", v=S("x")))


class TtlTest(CacheTestCase):
    ddbx_flags = ("--item-ttl", "1s", "--negative-ttl", "2s")

    def test_writes_that_bypass_ddbx_show_once_the_ttl_passes(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("i", v=S("ddbx")))
        self.assertIsNone(self.get(t, key("n")))  # a negative entry
        cached_by = time.monotonic()
        self.direct.put_item(TableName=t, Item=item("i", v=S("moto")))
        self.direct.put_item(TableName=t, Item=item("n", v=S("moto")))
        with self.backend():
            self.assertEqual(self.get(t, key("i")), item("i", v=S("ddbx")))
            self.assertIsNone(self.get(t, key("n")))
        time.sleep(max(0.0, cached_by + 1.2 - time.monotonic()))
        with self.backend(GetItem=1):  # --item-ttl passed, --negative-ttl not yet
            self.assertEqual(self.get(t, key("i")), item("i", v=S("moto")))
            self.assertIsNone(self.get(t, key("n")))
        with self.backend():  # refilled
            self.assertEqual(self.get(t, key("i")), item("i", v=S("moto")))
        self.assertLess(time.monotonic() - cached_by, 1.9, "too slow to see the negative TTL run")
        time.sleep(max(0.0, cached_by + 2.2 - time.monotonic()))
        with self.backend(GetItem=1):
            self.assertEqual(self.get(t, key("n")), item("n", v=S("moto")))
        with self.backend():
            self.assertEqual(self.get(t, key("n")), item("n", v=S("moto")))
        self.assertGreaterEqual(self.ddbx.metric("ddbx_item_cache_expired_total"), 2)


class MemoryTest(CacheTestCase):
    ddbx_flags = ("--memory", "1MiB")

    def test_memory_stays_within_the_budget_and_least_recently_used_go_first(self):
        t = self.table()
        limit = 1 << 20
        self.assertEqual(self.ddbx.metric("ddbx_item_cache_limit_bytes"), limit)
        payload = S("x" * 1000)
        hot = item("hot", v=payload)
        self.c.put_item(TableName=t, Item=hot)
        items = [item("i%04d" % i, v=payload) for i in range(2500)]  # ~2.5 MB of items
        for b in range(0, len(items), 25):
            self.c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": it}}
                                                      for it in items[b:b + 25]]})
            with self.backend():  # read after every batch: never the least recently used
                self.assertEqual(self.get(t, key("hot")), hot)
            m = self.ddbx.metrics()
            self.assertLessEqual(m["ddbx_item_cache_bytes"], limit, "after %d items" % (b + 25))
        m = self.ddbx.metrics()
        self.assertGreater(m[EVICTIONS], 1000)
        self.assertGreater(m["ddbx_item_cache_evicted_bytes_total"], 1000 * 1000)
        self.assertLess(m["ddbx_item_cache_entries"], limit / 1000)
        self.assertGreater(m["ddbx_item_cache_entries"], limit / 2 / 1100)
        with self.backend():  # the newest and the hot one are still there
            for it in items[-25:] + [hot]:
                self.assertEqual(self.get(t, {"pk": it["pk"]}), it)
        with self.backend(GetItem=25):  # the oldest untouched ones went first
            for it in items[:25]:
                self.assertEqual(self.get(t, {"pk": it["pk"]}), it)

    def test_the_hash_tables_growth_is_paid_for_within_the_budget(self):
        # The cache's hash doubles its bucket array as entries pass a power of
        # two; the new array is memory the cache holds like any other. Measure
        # what one entry costs, then give a ddbx a budget at which the doubling
        # past 1,024 entries comes when the cache is nearly full (1,025 entries
        # and 1,024 8-byte buckets fit, twice the buckets do not).
        payload = S("x" * 900)
        probe = self.own_ddbx()
        c = client(probe.endpoint)
        t = self.table(c)
        c.put_item(TableName=t, Item=item("i0000", v=payload))
        before = probe.metric("ddbx_item_cache_bytes")
        c.put_item(TableName=t, Item=item("i0001", v=payload))
        cost = probe.metric("ddbx_item_cache_bytes") - before
        budget = int(1025 * cost + 1024 * 8 + 4096)
        d = self.own_ddbx("--memory", str(budget))
        c = client(d.endpoint)
        t = self.table(c)
        self.assertEqual(d.metric("ddbx_item_cache_limit_bytes"), budget)
        items = [item("i%04d" % i, v=payload) for i in range(1060)]
        for b in range(0, 1000, 25):
            c.batch_write_item(RequestItems={t: [{"PutRequest": {"Item": it}}
                                                 for it in items[b:b + 25]]})
        for it in items[1000:]:
            c.put_item(TableName=t, Item=it)
            m = d.metrics()
            self.assertLessEqual(m["ddbx_item_cache_bytes"], budget,
                                 "holding %d entries" % m["ddbx_item_cache_entries"])


if __name__ == "__main__":
    unittest.main()
