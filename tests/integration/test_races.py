"""test_races.py: the paths where a cache can serve a stale or foreign answer
(issue 7), each made deterministic with the FaultProxy's per-request rules:
a chosen backend request is held at the proxy (before moto acts on it, or
with moto's answer held back) while the test makes the race happen.

Each test failed against ddbx before the fix (the old binary answered the old
value or another table's item) and passes now. The write rule they check:
no read that starts after a write was acknowledged returns an older value,
and no read returns another table's data.
"""
import threading
import time
import unittest

from botocore.exceptions import ClientError

from harness import Ddbx, RawHttp, client, wait_until
from test_cache import CacheTestCase, N, S, item, key, stops_cleanly

COALESCED = "ddbx_item_cache_coalesced_waits_total"
HELD = "ddbx_item_cache_held_keys"


def in_thread(fn):
    """Runs fn in a thread; returns (thread, result dict with 'value' or 'error')."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:  # noqa: BLE001 (the test inspects it)
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def table_is(name):
    """A FaultProxy match: the request names table `name` (TableName or RequestItems)."""
    def match(doc):
        if not isinstance(doc, dict):
            return False
        return doc.get("TableName") == name or name in (doc.get("RequestItems") or {})
    return match


class RaceTest(CacheTestCase):

    ddbx_flags = ("--backend-timeout", "5s", "--write-holdoff", "3s")

    def cached(self, t, pk, value):
        """Writes pk = value through ddbx and checks it is served from the cache."""
        self.c.put_item(TableName=t, Item=item(pk, v=S(value)))
        with self.backend():
            self.assertEqual(self.get(t, key(pk)), item(pk, v=S(value)))

    # ---- 1. a table's schema forgotten while a write is in flight

    def forget_triggers(self, t):
        """Requests that made ddbx forget (or drop) table t's entries, by name."""
        def create_again():
            with self.assertRaises(ClientError):  # ResourceInUseException
                self.c.create_table(TableName=t, BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "pk",
                                                           "AttributeType": "S"}])

        def statement_not_understood():
            with self.assertRaises(ClientError):
                self.c1.execute_statement(Statement="EXPLAIN SELECT * FROM \"%s\"" % t)

        def partiql_write_of_another_key():
            self.c.execute_statement(Statement="UPDATE \"%s\" SET v = 'x' WHERE pk = 'other'" % t)

        def resource_not_found():
            self.proxy.inject("GetItem", "status", once=True, status=400, match="nosuchkey",
                              body={"__type": "com.amazonaws.dynamodb.v20120810#"
                                    "ResourceNotFoundException",
                                    "message": "Requested resource not found"})
            with self.assertRaises(ClientError):
                self.c1.get_item(TableName=t, Key=key("nosuchkey"))

        # the statement ddbx cannot read goes last: moto answers it 500, so ddbx
        # holds every table for the hold-off
        return [create_again, partiql_write_of_another_key, resource_not_found,
                statement_not_understood]

    def test_schema_forgotten_while_a_write_is_in_flight(self):
        for i in range(4):
            with self.subTest(trigger=i):
                t = self.table()
                trigger = self.forget_triggers(t)[i]
                self.cached(t, "k", "V0")
                gate = self.proxy.inject("PutItem", "gate", once=True, match=table_is(t),
                                         after=1.5)
                put, res = in_thread(lambda: self.c.put_item(TableName=t,
                                                             Item=item("k", v=S("V1"))))
                gate.wait_arrived()
                trigger()
                # a read during the hold sees V0 (the write is not applied yet)
                self.assertEqual(self.get(t, key("k")), item("k", v=S("V0")))
                put.join(10)
                self.assertNotIn("error", res)
                # acknowledged: every read from now on sees V1
                for _ in range(3):
                    self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))
                self.proxy.clear()
        time.sleep(3.0)  # --write-holdoff: the last trigger's hold ends before the next test

    # ---- 2. multi-table writes ddbx cannot key entirely

    def test_batch_write_with_an_undescribable_table_still_invalidates(self):
        for op in ("batch", "transact"):
            with self.subTest(op=op):
                t = self.table()
                other = "undescribable_%s_%d" % (op, time.monotonic_ns())
                self.direct.create_table(  # ddbx never saw it
                    TableName=other, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
                self.cached(t, "k", "V0")
                self.proxy.inject("DescribeTable", "status", status=500, match=other,
                                  body={"__type": "com.amazonaws.dynamodb.v20120810#"
                                        "InternalServerError", "message": "injected"})
                if op == "batch":
                    self.c.batch_write_item(RequestItems={
                        t: [{"PutRequest": {"Item": item("k", v=S("V1"))}}],
                        other: [{"PutRequest": {"Item": item("x", v=S("y"))}}]})
                else:
                    self.c.transact_write_items(TransactItems=[
                        {"Put": {"TableName": t, "Item": item("k", v=S("V1"))}},
                        {"Put": {"TableName": other, "Item": item("x", v=S("y"))}}])
                self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))
                self.proxy.clear()

    def test_write_with_a_key_ddbx_cannot_key_still_invalidates(self):
        t = self.table()
        tb = self.table(key_type="B")
        self.c.put_item(TableName=tb, Item={"pk": {"B": b"A"}, "v": S("V0")})
        with self.backend():
            self.assertEqual(self.get(tb, {"pk": {"B": b"A"}})["v"], S("V0"))
        self.cached(t, "k", "V0")
        # "QR==" is not canonical base64: ddbx cannot be sure it is the key
        # "QQ==" (it decodes to the same byte), so it does not key it, but the
        # backend writes item "A" all the same
        body = {"RequestItems": {
            t: [{"PutRequest": {"Item": item("k", v=S("V1"))}}],
            tb: [{"PutRequest": {"Item": {"pk": {"B": "QR=="}, "v": S("V1")}}}]}}
        http = RawHttp(self.ddbx.port)
        self.addCleanup(http.close)
        self.assertEqual(http.call("BatchWriteItem", body).status, 200)
        self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))
        self.assertEqual(self.get(tb, {"pk": {"B": b"A"}})["v"], S("V1"))
        # and a single PutItem of that key
        body = {"TableName": tb, "Item": {"pk": {"B": "QR=="}, "v": S("V2")}}
        self.assertEqual(http.call("PutItem", body).status, 200)
        self.assertEqual(self.get(tb, {"pk": {"B": b"A"}})["v"], S("V2"))

    # ---- 3. table ARNs

    def test_an_arn_of_another_account_or_region_is_another_table(self):
        t = self.table()
        self.cached(t, "k", "V0")
        for arn in ("arn:aws:dynamodb:us-east-1:999999999999:table/%s" % t,
                    "arn:aws:dynamodb:eu-west-1:123456789012:table/%s" % t):
            with self.subTest(arn=arn):
                for _ in range(2):  # relayed every time, as sent, never answered from the cache
                    with self.backend(GetItem=1):
                        with self.assertRaises(ClientError) as cm:
                            self.c1.get_item(TableName=arn, Key=key("k"))
                    self.assertEqual(cm.exception.response["Error"]["Code"],
                                     "ResourceNotFoundException")
                    self.assertIn(arn.encode(), self.proxy.bodies("GetItem")[-1])
        # the table's own ARN (moto's account) is the table: a hit
        own = "arn:aws:dynamodb:us-east-1:123456789012:table/%s" % t
        with self.backend():
            self.assertEqual(self.get(own, key("k")), item("k", v=S("V0")))
        # a write by its own ARN is seen by name, and the other way round
        self.c.put_item(TableName=own, Item=item("k", v=S("V1")))
        with self.backend():
            self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))
            self.assertEqual(self.get(own, key("k")), item("k", v=S("V1")))

    # ---- 4. a waiter on another request's failed read

    def test_a_waiter_never_inherits_another_tables_error(self):
        x, y = self.table(), self.table()
        self.direct.put_item(TableName=y, Item=item("k2", v=S("fine")))
        self.c.put_item(TableName=x, Item=item("k1", v=S("x")))
        self.c.delete_item(TableName=x, Key=key("k1"))  # a negative entry: not a miss
        with self.backend(GetItem=1):
            self.c.get_item(TableName=x, Key=key("k9"))  # x's schema known, k9 absent
        gate = self.proxy.inject("BatchGetItem", "gate", once=True)
        batch, bres = in_thread(lambda: self.c1.batch_get_item(RequestItems={
            x: {"Keys": [key("k8")]}, y: {"Keys": [key("k2")]}}))
        gate.wait_arrived()
        self.direct.delete_table(TableName=x)
        before = self.ddbx.metrics()
        single, sres = in_thread(lambda: self.get(y, key("k2"), self.c1))
        wait_until(lambda: self.ddbx.metrics_since(before)[COALESCED] == 1, 5.0,
                   what="the GetItem to wait on the BatchGetItem's read")
        gate.release()
        batch.join(10)
        single.join(10)
        self.assertEqual(bres["error"].response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(sres, {"value": item("k2", v=S("fine"))})

    # ---- 6. enumerations carry their length

    def test_an_enum_with_a_nul_inside_is_not_its_prefix(self):
        t = self.table()
        self.cached(t, "k", "V0")
        http = RawHttp(self.ddbx.port)
        self.addCleanup(http.close)
        body = ('{"TableName":"%s","Key":{"pk":{"S":"k"}},"UpdateExpression":"SET v = :v",'
                '"ExpressionAttributeValues":{":v":{"S":"V1"}},'
                '"ReturnValues":"NONE\\u0000junk"}' % t)
        r = http.call("UpdateItem", body)
        self.assertEqual((r.status, r.error_code()), (400, "ValidationException"))
        self.assertEqual(self.moto_item(t, key("k")), item("k", v=S("V0")))
        self.assertEqual(self.get(t, key("k")), item("k", v=S("V0")))
        body = ('{"TableName":"%s","Key":{"pk":{"S":"k"}},'
                '"ReturnConsumedCapacity":"TOTAL\\u0000x"}' % t)
        r = http.call("GetItem", body)
        self.assertEqual(r.status, 400, r)


class AmbiguousWriteTest(CacheTestCase):
    """A write the backend applies after ddbx stopped waiting for it."""

    ddbx_flags = ("--backend-timeout", "1s", "--write-holdoff", "4s")

    def test_a_write_applied_after_the_timeout_is_never_hidden(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("k", v=S("V0")))
        with self.backend():
            self.assertEqual(self.get(t, key("k")), item("k", v=S("V0")))
        # moto gets the write 2 s after ddbx sent it: ddbx gives up at 1 s
        self.proxy.inject("PutItem", "gate", once=True, match=table_is(t), after=2.0)
        t0 = time.monotonic()
        with self.assertRaises(ClientError) as cm:
            self.c1.put_item(TableName=t, Item=item("k", v=S("V1")))
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.assertEqual(self.ddbx.metric(HELD), 1)
        # reads go to the backend while the write may land, and are not cached
        seen = []
        while time.monotonic() - t0 < 3.5:
            with self.backend(GetItem=1):
                seen.append(self.get(t, key("k"))["v"]["S"])
            time.sleep(0.1)
        self.assertEqual(seen[0], "V0")
        self.assertEqual(seen[-1], "V1")  # it landed at 2 s
        self.assertEqual(self.moto_item(t, key("k")), item("k", v=S("V1")))
        for _ in range(3):
            self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))
        # once the hold-off is over the key is cached again
        wait_until(lambda: self.ddbx.metric(HELD) == 0, 5.0, what="the hold to end")
        self.assertGreaterEqual(time.monotonic() - t0, 4.0)
        self.get(t, key("k"))
        with self.backend():
            self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))

    def test_a_partiql_write_of_unknown_outcome_holds_its_table(self):
        t = self.table()
        self.c.put_item(TableName=t, Item=item("k", v=S("V0")))
        self.get(t, key("k"))
        self.proxy.inject("ExecuteStatement", "gate", once=True, after=2.0)
        with self.assertRaises(ClientError):
            self.c1.execute_statement(Statement="UPDATE \"%s\" SET v = 'V1' WHERE pk = 'k'" % t)
        time.sleep(1.5)  # the statement lands at 2 s; no read may cache V0 meanwhile
        for _ in range(5):
            self.get(t, key("k"))
            time.sleep(0.05)
        time.sleep(0.5)
        self.assertEqual(self.get(t, key("k")), item("k", v=S("V1")))


if __name__ == "__main__":
    unittest.main()
