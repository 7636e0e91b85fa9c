"""test_zero_copy.py: hits written from the cache's own bytes (issue 14).

A GetItem or BatchGetItem hit is sent as the stored value itself, held by a
reference until the socket write completes (cache/cache.h cache_get_ref,
handler/request.h request_splice). These drive the lifetimes that matter
through the real binary: pipelined answers on one connection, large values
stuck in a full socket buffer while the key is rewritten under them, and
clients that hang up in the middle of such a write. Every answer is checked
against its x-amz-crc32; ddbx must keep serving and, under the ASan build,
exit 0 (LeakSanitizer fails the exit on a reference never released, ASan
aborts on a value freed while still being written).
"""
import signal
import socket
import struct
import time
import unittest
import zlib

from harness import (Ddbx, IntegrationTestCase, MotoServer, RawHttp, api_request, client,
                     create_table)

TABLE = "zc_t"
BIG = 300 * 1024  # under DynamoDB's 400 KB item limit


def get_body(pk):
    return {"TableName": TABLE, "Key": {"pk": {"S": pk}}}


def batch_body(pks):
    return {"RequestItems": {TABLE: {"Keys": [{"pk": {"S": p}} for p in pks]}}}


class ZeroCopyTest(IntegrationTestCase):
    def setUp(self):
        self.moto = self.start(MotoServer())
        self.ddbx = self.start(Ddbx(self.moto.endpoint))
        self.c = client(self.ddbx.endpoint)
        create_table(self.c, TABLE)
        for i in range(25):
            self.c.put_item(TableName=TABLE, Item={"pk": {"S": "k%d" % i}, "v": {"S": "v%d" % i}})
        self.put_big("a")

    def put_big(self, fill):
        self.c.put_item(TableName=TABLE, Item={"pk": {"S": "big"}, "v": {"S": fill * BIG}})

    def assertCrc(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(int(resp.headers["x-amz-crc32"]), zlib.crc32(resp.body), resp)
        return resp.json()

    def hits(self):
        return self.ddbx.metric("ddbx_item_cache_hits_total")

    def test_pipelined_hits_in_order(self):
        keys = ["k%d" % i for i in range(25)]
        self.c.batch_get_item(RequestItems=batch_body(keys)["RequestItems"])  # cache them all
        self.c.get_item(**get_body("big"))
        before = self.hits()
        conn = RawHttp(self.ddbx.port)
        self.addCleanup(conn.close)
        reqs = [("GetItem", get_body("k3")), ("BatchGetItem", batch_body(keys)),
                ("GetItem", get_body("k24")), ("GetItem", get_body("absent")),
                ("BatchGetItem", batch_body(["k0", "absent", "k1", "big"]))]
        conn.send(b"".join(api_request(op, body) for op, body in reqs))
        answers = [self.assertCrc(conn.read_response()) for _ in reqs]
        self.assertEqual(answers[0]["Item"]["v"]["S"], "v3")
        got = sorted(it["v"]["S"] for it in answers[1]["Responses"][TABLE])
        self.assertEqual(got, sorted("v%d" % i for i in range(25)))
        self.assertEqual(answers[2]["Item"]["v"]["S"], "v24")
        self.assertEqual(answers[3], {})
        # small items are copied into the answer, a large one spliced from the cache
        self.assertEqual(sorted(it["pk"]["S"] for it in answers[4]["Responses"][TABLE]),
                         ["big", "k0", "k1"])
        big = [it for it in answers[4]["Responses"][TABLE] if it["pk"]["S"] == "big"][0]
        self.assertEqual(big["v"]["S"], "a" * BIG)
        self.assertGreaterEqual(self.hits() - before, 1 + 25 + 1 + 2)

    def stuck_connection(self, n):
        """A connection that asked for the big item n times and reads nothing:
        ddbx's writes soon wait on the full socket buffers (the kernel takes a
        few MB first: 20 answers of 300 KB are enough; checked by making
        ddbx abort on a queued write, and by releasing the reference before
        the write, which ASan reports as a use after free)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.ddbx.port))
        self.addCleanup(s.close)
        s.sendall(api_request("GetItem", get_body("big")) * n)
        return s

    def test_values_rewritten_and_connections_dropped_mid_write(self):
        self.assertEqual(len(self.c.get_item(**get_body("big"))["Item"]["v"]["S"]), BIG)
        stuck = [self.stuck_connection(20) for _ in range(6)]
        time.sleep(0.3)  # ddbx answers the first request of each and blocks writing it
        self.put_big("b")  # the cached value those writes are sending is replaced
        self.c.delete_item(TableName=TABLE, Key={"pk": {"S": "k0"}})
        for s in stuck[:3]:  # hang up with a reset in the middle of the writes
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        # the others read everything: the first answer is the old value, whole
        for s in stuck[3:]:
            s.settimeout(10)
            conn = RawHttp.__new__(RawHttp)
            conn.sock, conn.buf = s, b""
            values = [self.assertCrc(conn.read_response())["Item"]["v"]["S"] for _ in range(20)]
            self.assertEqual(values[0], "a" * BIG)
            for v in values[1:]:
                self.assertIn(v, ("a" * BIG, "b" * BIG))
        self.assertEqual(self.c.get_item(**get_body("big"))["Item"]["v"]["S"], "b" * BIG)
        self.assertNotIn("Item", self.c.get_item(**get_body("k0")))
        self.assertTrue(self.ddbx.alive())
        self.assertEqual(self.ddbx.stop(), 0)  # under ASan: no leak, no use after free

    def test_clean_stop_with_writes_pending(self):
        self.c.get_item(**get_body("big"))
        stuck = [self.stuck_connection(20) for _ in range(3)]
        time.sleep(0.3)
        # SIGTERM while answers wait on full sockets, then the clients reset:
        # the failed writes release what they held and the stop ends cleanly
        # (workers joined) well before --shutdown-timeout
        start = time.monotonic()
        self.ddbx.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        for s in stuck:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.assertEqual(self.ddbx.wait(8), 0)
        self.assertLess(time.monotonic() - start, 8)

if __name__ == "__main__":
    unittest.main()
