"""test_overload.py: issue 10's edges under load, end to end.

- Past --max-connections a connection is answered DynamoDB's
  ThrottlingException (400) with its message, and boto3, which retries
  throttling with back-off, gets through once a slot frees up.
- Past --max-backend-inflight (the FaultProxy holds a backend read), a
  request that needs the backend is answered ThrottlingException at once,
  without a backend call; a write so refused changes nothing; hits are still
  served; boto3 retries its way through once the backend drains.
- A body over 16 MiB sent whole before the client reads (a raw socket, and
  boto3's PutItem) gets its 413: ddbx reads and drops the rest (lingering
  close) instead of resetting the connection under the answer.
"""
import itertools
import os
import socket
import threading
import unittest

from botocore.exceptions import ClientError

from harness import (HERE, MAX_BODY, TARGET_PREFIX, Ddbx, FaultProxy, IntegrationTestCase,
                     MotoServer, RawHttp, client, create_table, wait_until)


def throttled_text():
    with open(os.path.join(HERE, "..", "..", "proto", "messages.tsv")) as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            if row[0] == "throttled":
                return row[2]
    raise AssertionError("no 'throttled' row in proto/messages.tsv")


THROTTLED = {"__type": "com.amazon.coral.availability#ThrottlingException",
             "message": throttled_text()}


def get(c, pk, table="ov_t"):
    return c.get_item(TableName=table, Key={"pk": {"S": pk}})


class ConnectionCapTest(IntegrationTestCase):
    def test_past_max_connections(self):
        moto = self.start(MotoServer())
        d = self.start(Ddbx(moto.endpoint, "--max-connections", "2"))
        setup = client(d.endpoint)
        create_table(setup, "ov_t")
        setup.close()  # its kept-alive connection would hold one of the two slots
        wait_until(lambda: d.metric("ddbx_client_connections") == 0, 10.0,
                   what="the setup client's connection to close")
        held = [RawHttp(d.port), RawHttp(d.port)]
        for c in held:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
        extra = RawHttp(d.port)
        resp = extra.read_response()
        extra.close()
        self.assertEqual((resp.status, resp.json()), (400, THROTTLED))
        # boto3 retries throttling with back-off: it gets through once a slot frees
        result = {}

        def sdk():
            try:
                result["answer"] = get(client(d.endpoint, attempts=10), "x")
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e
        t = threading.Thread(target=sdk)
        t.start()
        wait_until(lambda: d.metric("ddbx_client_connections_refused_total") >= 2, 10.0,
                   what="the SDK to be refused once")
        for c in held:
            c.close()
        t.join(60)
        self.assertNotIn("error", result)
        self.assertGreater(result["answer"]["ResponseMetadata"]["RetryAttempts"], 0)


class BackendInflightTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, "--max-backend-inflight", "1"))
        c = client(cls.ddbx.endpoint)
        create_table(c, "ov_t")
        c.put_item(TableName="ov_t", Item={"pk": {"S": "hot"}, "v": {"S": "v1"}})
        get(c, "hot")  # cached
        cls.keys = itertools.count()

    def hold_one_read(self):
        """A backend GetItem of a key never read before, held by the proxy
        until released: the one slot taken."""
        key = "slow-%d" % next(self.keys)
        gate = self.proxy.inject("GetItem", "gate", match='"%s"' % key, once=True)
        t = threading.Thread(target=lambda: get(client(self.ddbx.endpoint), key))
        t.start()
        gate.wait_arrived()
        return gate, t

    def test_past_the_bound(self):
        c = client(self.ddbx.endpoint, attempts=1)
        gate, t = self.hold_one_read()
        try:
            before, calls = self.ddbx.metrics(), self.proxy.count()
            for call in (lambda: get(c, "cold"),
                         lambda: c.put_item(TableName="ov_t",
                                            Item={"pk": {"S": "hot"}, "v": {"S": "v2"}})):
                with self.assertRaises(ClientError) as cm:
                    call()
                r = cm.exception.response
                self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 400)
                self.assertEqual((r["Error"]["Code"], r["Error"]["Message"]),
                                 ("ThrottlingException", THROTTLED["message"]))
            self.assertEqual(self.proxy.count(), calls, "a throttled request reached the backend")
            # hits are served, and the refused write changed nothing
            self.assertEqual(get(c, "hot")["Item"]["v"], {"S": "v1"})
            grown = self.ddbx.metrics_since(before)
            self.assertEqual(grown["ddbx_backend_throttled_total"], 2)
            self.assertEqual(self.ddbx.metric("ddbx_backend_inflight"), 1)
        finally:
            gate.release()
            t.join(30)
        self.assertNotIn("Item", get(c, "cold"))  # the slot is free again
        wait_until(lambda: self.ddbx.metric("ddbx_backend_inflight") == 0, 5.0,
                   what="the backend to drain")

    def test_sdk_retries_through(self):
        gate, t = self.hold_one_read()
        throttled = self.ddbx.metric("ddbx_backend_throttled_total")
        result = {}

        def put():
            result["answer"] = client(self.ddbx.endpoint, attempts=10).put_item(
                TableName="ov_t", Item={"pk": {"S": "retried"}, "v": {"S": "r"}})
        sdk = threading.Thread(target=put)
        sdk.start()
        try:
            wait_until(lambda: self.ddbx.metric("ddbx_backend_throttled_total") > throttled, 10.0,
                       what="the SDK's first try to be throttled")
        finally:
            gate.release()  # the backend drains; the SDK's next try goes through
            t.join(30)
            sdk.join(60)
        self.assertGreater(result["answer"]["ResponseMetadata"]["RetryAttempts"], 0)
        self.assertEqual(get(client(self.ddbx.endpoint), "retried")["Item"]["v"], {"S": "r"})


class LingeringCloseTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(cls.moto.endpoint))
        create_table(client(cls.ddbx.endpoint), "ov_t")

    def test_raw_client_sending_17mib_before_reading(self):
        size = MAX_BODY + 1024 * 1024
        s = socket.create_connection(("127.0.0.1", self.ddbx.port), timeout=30)
        try:
            s.sendall(("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %sPutItem\r\n"
                       "Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n"
                       % (TARGET_PREFIX, size)).encode())
            chunk = b"x" * (1 << 20)
            for _ in range(size // len(chunk)):
                s.sendall(chunk)  # raises if ddbx reset the connection
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data[:100])
        self.assertIn(b"RequestEntityTooLarge", data)
        wait_until(lambda: self.ddbx.metric("ddbx_http_lingering_closes_total") >= 1, 5.0,
                   what="the lingering close")

    def test_boto3_put_of_17mib(self):
        c = client(self.ddbx.endpoint, attempts=1, timeout=60)
        with self.assertRaises(ClientError) as cm:
            c.put_item(TableName="ov_t", Item={"pk": {"S": "big"},
                                               "v": {"S": "x" * (MAX_BODY + 1024)}})
        r = cm.exception.response
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 413)
        self.assertEqual(r["Error"]["Code"], "RequestEntityTooLarge")
        # the same client goes on
        self.assertNotIn("Item", get(c, "big"))


if __name__ == "__main__":
    unittest.main()
