"""test_streams.py: writes that bypass ddbx, seen through the table's stream.

moto serves DynamoDB Streams on its DynamoDB port, so ddbx's stream readers
go through the same FaultProxy (--streams-endpoint defaults to --backend).
Item and query TTLs are 10 minutes: anything seen sooner came from the
stream. Writes are made straight to moto (self.direct).
"""
import json
import time
import unittest

from harness import Ddbx, FaultProxy, IntegrationTestCase, MotoServer, client, wait_until
from test_cache import stops_cleanly
from test_query_cache import N, S, create_scores, fill_boards

SEEN_WITHIN = 2.0


class StreamsTest(IntegrationTestCase):

    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, "--item-ttl", "10m",
                                        "--query-ttl", "10m", "--query-lag-window", "0"))
        cls.addClassCleanup(stops_cleanly, cls.ddbx)
        cls.c = client(cls.ddbx.endpoint)
        cls.direct = client(cls.moto.endpoint)
        cls.n = 0

    def setUp(self):
        self.addCleanup(self.proxy.clear)
        type(self).n += 1
        self.table = "st%d" % self.n
        create_scores(self.c, self.table, stream=True)
        self.ddbx.wait_stream_reading(self.table)
        fill_boards(self.c, self.table, ["b1", "b2"], players=3)

    def get(self, player, board="b1"):
        return self.c.get_item(TableName=self.table,
                               Key={"board": S(board), "player": S(player)}).get("Item")

    def top(self, board="b1"):
        r = self.c.query(TableName=self.table, IndexName="by_score",
                         KeyConditionExpression="board = :b",
                         ExpressionAttributeValues={":b": S(board)}, ScanIndexForward=False)
        return [(i["player"]["S"], int(i["score"]["N"])) for i in r["Items"]]

    def seen_within(self, pred, what):
        start = time.monotonic()
        wait_until(pred, 10, 0.02, what)
        took = time.monotonic() - start
        self.assertLess(took, SEEN_WITHIN, "%s took %.2f s" % (what, took))
        return took

    def test_bypassing_put_update_and_delete_are_seen_within_2_seconds(self):
        self.assertEqual(self.get("p01")["score"], N(110))  # cached
        before = self.top()
        self.assertEqual(self.top(), before)  # cached
        took = []
        self.direct.put_item(TableName=self.table, Item={"board": S("b1"), "player": S("new"),
                                                         "score": N(500), "when": N(9)})
        took.append(self.seen_within(lambda: self.top()[0] == ("new", 500), "a bypassing put"))
        self.direct.update_item(TableName=self.table, Key={"board": S("b1"), "player": S("p01")},
                                UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": N(700)})
        took.append(self.seen_within(lambda: self.get("p01")["score"] == N(700),
                                     "a bypassing update (GetItem)"))
        self.assertEqual(self.top()[0], ("p01", 700))
        self.direct.delete_item(TableName=self.table, Key={"board": S("b1"), "player": S("p01")})
        took.append(self.seen_within(lambda: self.get("p01") is None, "a bypassing delete"))
        self.assertNotIn("p01", [p for p, _ in self.top()])
        self.assertEqual(self.top("b2")[0], ("p02", 120))
        print("\nbypassing writes seen after %s s" % ", ".join("%.2f" % t for t in took))

    def test_old_or_duplicated_records_never_resurrect_an_older_value(self):
        self.direct.update_item(TableName=self.table, Key={"board": S("b1"), "player": S("p01")},
                                UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": N(1)})
        self.seen_within(lambda: self.get("p01")["score"] == N(1), "version 1")
        self.direct.update_item(TableName=self.table, Key={"board": S("b1"), "player": S("p01")},
                                UpdateExpression="SET score = :s",
                                ExpressionAttributeValues={":s": N(2)})
        self.seen_within(lambda: self.get("p01")["score"] == N(2), "version 2")
        self.assertEqual(self.top()[-1], ("p01", 2))

        # the next GetRecords answer replays an old record of version 1 and
        # a duplicate that claims a later sequence number
        def record(seq, score):
            image = {"board": S("b1"), "player": S("p01"), "score": N(score), "when": N(1)}
            return {"eventID": "x%s" % seq, "eventName": "MODIFY", "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "dynamodb": {"Keys": {"board": S("b1"), "player": S("p01")},
                                 "NewImage": image, "OldImage": image,
                                 "SequenceNumber": seq, "SizeBytes": 100,
                                 "StreamViewType": "NEW_AND_OLD_IMAGES"}}
        held = {}

        def craft(doc):  # answers with the reader's own iterator, so it reads on after
            it = (doc or {}).get("ShardIterator", "")
            if "f" not in held or "table/%s/stream" % self.table not in it:
                return False  # another test's table
            held["f"].body = {"Records": [record("1", 1), record("9" * 38, 1)],
                              "NextShardIterator": it}
            return True
        fault = held["f"] = self.proxy.inject("GetRecords", "status", status=200, once=True,
                                              match=craft)
        wait_until(lambda: fault not in self.proxy._faults.get("GetRecords", []), 10, 0.02,
                   "the crafted answer to be taken")
        for _ in range(20):  # never version 1 again, in either view
            self.assertEqual(self.get("p01")["score"], N(2))
            self.assertIn(("p01", 2), self.top())
            time.sleep(0.05)

    def test_idle_polling_is_cheap(self):
        time.sleep(2.0)  # backed off to its slowest
        start = len(self.proxy.requests)
        time.sleep(4.0)
        calls = [r.op for r in self.proxy.requests[start:]]
        per_second = len(calls) / 4.0
        print("\nidle stream polling: %.2f backend calls per second (%s)"
              % (per_second, sorted(set(calls))))
        # this module's tables share the ddbx: one open shard each, at most
        # one GetRecords a second per shard when idle
        shards = self.n
        self.assertLessEqual(per_second, 1.3 * shards + 0.5)
        self.assertGreater(len(calls), 0)

    def test_the_lag_of_the_last_record_is_a_metric(self):
        self.direct.put_item(TableName=self.table, Item={"board": S("b9"), "player": S("x"),
                                                         "score": N(1), "when": N(1)})
        series = 'ddbx_stream_lag_seconds{table="%s"}' % self.table
        wait_until(lambda: series in self.ddbx.metrics(), 5, what="the lag metric")
        self.assertLess(self.ddbx.metric(series), 5.0)


class NoStreamTest(IntegrationTestCase):

    def test_a_table_without_a_stream_is_stale_only_until_the_ttls(self):
        moto = self.start(MotoServer())
        proxy = self.start(FaultProxy(moto.endpoint))
        ddbx = self.start(Ddbx(proxy.endpoint, "--item-ttl", "2s", "--query-ttl", "2s",
                               "--query-lag-window", "0"))
        self.addCleanup(stops_cleanly, ddbx)
        c, direct = client(ddbx.endpoint), client(moto.endpoint)
        create_scores(c, "plain", stream=False)
        fill_boards(c, "plain", ["b1"], players=2)
        key = {"board": S("b1"), "player": S("p01")}

        def score():
            return c.get_item(TableName="plain", Key=key)["Item"]["score"]

        def top():
            return c.query(TableName="plain", IndexName="by_score",
                           KeyConditionExpression="board = :b",
                           ExpressionAttributeValues={":b": S("b1")},
                           ScanIndexForward=False)["Items"][0]["score"]
        self.assertEqual(score(), N(110))
        self.assertEqual(top(), N(110))
        direct.update_item(TableName="plain", Key=key, UpdateExpression="SET score = :s",
                           ExpressionAttributeValues={":s": N(999)})
        self.assertEqual(score(), N(110))  # stale: nothing tells ddbx
        self.assertEqual(top(), N(110))
        wait_until(lambda: score() == N(999) and top() == N(999), 4, 0.05,
                   "the TTLs to end the staleness")
        log = ddbx.log_text()
        self.assertEqual(log.count("table plain has no stream"), 1, log[-2000:])
        self.assertEqual(proxy.count("GetRecords"), 0)


if __name__ == "__main__":
    unittest.main()
