"""test_query_cache.py: the Query and Scan cache, seen from the backend.

ddbx --backend points at a FaultProxy in front of moto, so each test counts
the Query and Scan calls that reached moto (never ddbx's own metrics for
that). moto's indexes never lag, so ddbx runs with --query-lag-window 0 here
(the window itself is unit-tested in tests/unit/handler/test_query.c).

The leaderboard (issue 12): a GSI by_score (board, score), top 5 descending;
a score updated through ddbx shows at once on its board while every other
board stays a hit, also after the stream record of that very write arrived.
"""
import time
import unittest

from botocore.exceptions import ClientError

from harness import Ddbx, FaultProxy, IntegrationTestCase, MotoServer, client
from test_cache import stops_cleanly

DDB_ERR = "com.amazonaws.dynamodb.v20120810#"


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def create_scores(c, name, stream=True):
    """board (hash) / player (range), GSI by_score (board, score), LSI by_when."""
    spec = {"StreamSpecification": {"StreamEnabled": True,
                                    "StreamViewType": "NEW_AND_OLD_IMAGES"}} if stream else {}
    c.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "board", "KeyType": "HASH"},
                   {"AttributeName": "player", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in
                              (("board", "S"), ("player", "S"), ("score", "N"), ("when", "N"))],
        GlobalSecondaryIndexes=[{
            "IndexName": "by_score",
            "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                          {"AttributeName": "score", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
        LocalSecondaryIndexes=[{
            "IndexName": "by_when",
            "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                          {"AttributeName": "when", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST", **spec)


def fill_boards(c, table, boards, players=10):
    for b in boards:
        for i in range(players):
            c.put_item(TableName=table, Item={"board": S(b), "player": S("p%02d" % i),
                                              "score": N(100 + 10 * i), "when": N(i)})


class QueryCacheTest(IntegrationTestCase):

    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, "--query-lag-window", "0",
                                        "--backend-timeout", "1s"))
        cls.addClassCleanup(stops_cleanly, cls.ddbx)
        cls.c = client(cls.ddbx.endpoint)
        cls.direct = client(cls.moto.endpoint)
        cls.n = 0

    def setUp(self):
        self.addCleanup(self.proxy.clear)
        type(self).n += 1
        self.table = "qc%d" % self.n

    def reading(self, table):
        """Waits until ddbx reads the table's stream (its start drops the table's pages)."""
        self.ddbx.wait_stream_reading(table)

    def backend_queries(self, since, needle=None):
        """Query and Scan calls that reached moto since `since` (a count of
        proxy.requests), whose body holds needle when given."""
        return sum(1 for r in self.proxy.requests[since:]
                   if r.op in ("Query", "Scan") and (needle is None or needle.encode() in r.body))

    def top5(self, board, table=None):
        r = self.c.query(TableName=table or self.table, IndexName="by_score",
                         KeyConditionExpression="board = :b",
                         ExpressionAttributeValues={":b": S(board)},
                         ScanIndexForward=False, Limit=5)
        return [(i["player"]["S"], int(i["score"]["N"])) for i in r["Items"]]

    def test_the_same_query_twice_is_one_backend_query(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1"])
        start = len(self.proxy.requests)
        first = self.top5("b1")
        self.assertEqual(first, [("p09", 190), ("p08", 180), ("p07", 170), ("p06", 160),
                                 ("p05", 150)])
        for _ in range(5):
            self.assertEqual(self.top5("b1"), first)
        self.assertEqual(self.backend_queries(start), 1)

    def test_the_same_scan_twice_is_one_backend_scan(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1", "b2"], players=3)
        start = len(self.proxy.requests)
        first = self.c.scan(TableName=self.table)["Items"]
        self.assertEqual(len(first), 6)
        for _ in range(3):
            self.assertEqual(self.c.scan(TableName=self.table)["Items"], first)
        self.assertEqual(self.backend_queries(start), 1)
        # any write makes every Scan of the table stale
        self.c.put_item(TableName=self.table, Item={"board": S("b3"), "player": S("x"),
                                                    "score": N(1), "when": N(1)})
        self.assertEqual(len(self.c.scan(TableName=self.table)["Items"]), 7)
        self.assertEqual(self.backend_queries(start), 2)

    def test_leaderboard_shows_a_new_score_at_once_and_other_boards_stay_hits(self):
        create_scores(self.c, self.table, stream=True)
        self.reading(self.table)
        boards = ["b%d" % i for i in range(5)]
        fill_boards(self.c, self.table, boards)
        time.sleep(1.5)  # the records of those writes (ddbx's own) are applied meanwhile
        start = len(self.proxy.requests)
        for b in boards:
            self.top5(b)
        self.assertEqual(self.backend_queries(start), 5)
        before = self.ddbx.metrics()
        self.c.update_item(TableName=self.table, Key={"board": S("b1"), "player": S("p00")},
                           UpdateExpression="SET score = :s",
                           ExpressionAttributeValues={":s": N(999)})
        self.assertEqual(self.top5("b1")[0], ("p00", 999))  # at once
        self.assertEqual(self.backend_queries(start, '"b1"'), 2)
        for b in boards:
            self.top5(b)
        self.assertEqual(self.backend_queries(start), 6)  # only b1 read again
        time.sleep(2.5)  # the update's own stream record arrives: nothing to redo
        for b in boards:
            self.top5(b)
        self.assertEqual(self.backend_queries(start), 6)
        d = self.ddbx.metrics_since(before)
        self.assertGreaterEqual(d["ddbx_stream_records_own_total"], 1)
        self.assertEqual(d["ddbx_query_cache_misses_total"], 1)

    def test_a_write_makes_its_partition_stale_and_leaves_the_others_hits(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1", "b2"], players=3)

        def base(b):
            return self.c.query(TableName=self.table, KeyConditionExpression="board = :b",
                                ExpressionAttributeValues={":b": S(b)})["Items"]
        start = len(self.proxy.requests)
        self.assertEqual(len(base("b1")), 3)
        self.assertEqual(len(base("b2")), 3)
        self.c.delete_item(TableName=self.table, Key={"board": S("b1"), "player": S("p00")})
        self.assertEqual(len(base("b1")), 2)  # read again
        self.assertEqual(len(base("b2")), 3)  # a hit
        self.assertEqual(self.backend_queries(start, '"b1"'), 2)
        self.assertEqual(self.backend_queries(start, '"b2"'), 1)

    def test_pages_are_cached_one_by_one(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1"])

        def all_pages():
            seen, esk = [], None
            while True:
                kw = {"ExclusiveStartKey": esk} if esk else {}
                r = self.c.query(TableName=self.table, KeyConditionExpression="board = :b",
                                 ExpressionAttributeValues={":b": S("b1")}, Limit=3, **kw)
                seen += [i["player"]["S"] for i in r["Items"]]
                esk = r.get("LastEvaluatedKey")
                if not esk:
                    return seen
        start = len(self.proxy.requests)
        first = all_pages()
        self.assertEqual(first, ["p%02d" % i for i in range(10)])
        pages = self.backend_queries(start)
        self.assertGreaterEqual(pages, 4)
        self.assertEqual(all_pages(), first)
        self.assertEqual(self.backend_queries(start), pages)

    def test_consistent_reads_always_go_to_the_backend(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1"], players=2)
        start = len(self.proxy.requests)
        for _ in range(3):
            self.c.query(TableName=self.table, KeyConditionExpression="board = :b",
                         ExpressionAttributeValues={":b": S("b1")}, ConsistentRead=True)
        self.assertEqual(self.backend_queries(start), 3)

    def test_an_unprojected_query_fills_the_item_cache(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1"], players=3)
        self.c.query(TableName=self.table, KeyConditionExpression="board = :b",
                     ExpressionAttributeValues={":b": S("b1")})
        start = len(self.proxy.requests)
        got = self.c.get_item(TableName=self.table,
                              Key={"board": S("b1"), "player": S("p01")})["Item"]
        self.assertEqual(got["score"], N(110))
        self.assertEqual([r.op for r in self.proxy.requests[start:]], [])

    def test_a_write_of_unknown_outcome_holds_the_tables_pages(self):
        create_scores(self.c, self.table, stream=False)
        fill_boards(self.c, self.table, ["b1"], players=2)
        self.top5("b1")
        # moto applies the put, its answer is lost
        self.proxy.inject("PutItem", "status", status=500, forward=True, once=True,
                          body={"__type": DDB_ERR + "InternalServerError", "message": "lost"})
        c1 = client(self.ddbx.endpoint, attempts=1)
        with self.assertRaises(ClientError):
            c1.put_item(TableName=self.table, Item={"board": S("b1"), "player": S("new"),
                                                    "score": N(500), "when": N(0)})
        start = len(self.proxy.requests)
        self.assertEqual(self.top5("b1")[0], ("new", 500))
        self.assertEqual(self.top5("b1")[0], ("new", 500))
        self.assertEqual(self.backend_queries(start), 2)  # held: read, never installed
        time.sleep(2.2)  # the hold-off: twice --backend-timeout
        self.top5("b1")
        self.top5("b1")
        self.assertEqual(self.backend_queries(start), 3)

    def test_random_writes_serve_what_moto_answers(self):
        """Range-precise pages (docs/QUERY_CACHE.md): random writes through
        ddbx (scores far and near, new players, deletes, scores removed,
        moves to another board); after each, every cached page ddbx serves
        holds what moto answers for the same Query, while most far writes
        leave the pages hits."""
        import random
        rnd = random.Random(12)
        create_scores(self.c, self.table, stream=False)
        players = ["p%02d" % i for i in range(30)]
        for p in players:
            self.c.put_item(TableName=self.table, Item={"board": S("b1"), "player": S(p),
                                                        "score": N(rnd.randrange(1000)),
                                                        "when": N(0)})
        queries = [
            dict(IndexName="by_score", ScanIndexForward=False, Limit=5),  # the top 5
            dict(IndexName="by_score", Limit=4),  # the bottom 4
            dict(IndexName="by_score", ScanIndexForward=False),  # all of b1: no L
            # a projection without the table's key: not range-precise
            dict(IndexName="by_score", ScanIndexForward=False, Limit=3,
                 ProjectionExpression="player, score"),
            dict(Limit=6),  # the base table, by player
        ]

        def read(c, q):
            r = c.query(TableName=self.table, KeyConditionExpression="board = :b",
                        ExpressionAttributeValues={":b": S("b1")}, **q)
            return r["Items"]

        before = self.ddbx.metrics()
        start = len(self.proxy.requests)
        reads = 0
        for step in range(120):
            p = rnd.choice(players)
            key = {"board": S("b1"), "player": S(p)}
            kind = rnd.random()
            if kind < 0.6:
                self.c.update_item(TableName=self.table, Key=key, UpdateExpression="SET score = :s",
                                   ExpressionAttributeValues={":s": N(rnd.randrange(1000))})
            elif kind < 0.75:
                self.c.put_item(TableName=self.table,
                                Item=dict(key, score=N(rnd.randrange(1000)), when=N(step)))
            elif kind < 0.85:
                self.c.delete_item(TableName=self.table, Key=key)
            elif kind < 0.93:
                self.c.update_item(TableName=self.table, Key=key, UpdateExpression="REMOVE score")
            else:  # the same player on another board: a new item there
                self.c.put_item(TableName=self.table,
                                Item={"board": S("b2"), "player": S(p), "score": N(999)})
            for q in queries:
                got, want = read(self.c, q), read(self.direct, q)
                reads += 1
                self.assertEqual(got, want, "step %d, query %r" % (step, q))
        d = self.ddbx.metrics_since(before)
        self.assertGreater(d["ddbx_query_cache_kept_total"], 50)  # far writes kept pages
        self.assertLess(self.backend_queries(start), reads)


if __name__ == "__main__":
    unittest.main()
