"""test_backend.py: ddbx's backend client, seen from a FaultProxy in front of moto.

Connection reuse, a dead / hanging / failing / garbling backend, graceful
shutdown with a request in flight, secrets kept out of the logs, and the
SigV4 signature ddbx puts on what it sends.
"""
import hashlib
import itertools
import re
import signal
import socket
import threading
import time
import unittest

from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness import (REGION, Ddbx, FaultProxy, IntegrationTestCase, MotoServer, RawHttp,
                     api_request, client, create_table, free_port, op_series, wait_until)

TABLE = "backend_t"
KEY = {"pk": {"S": "k"}}
ITEM = {"pk": {"S": "k"}, "v": {"S": "value"}}
GET = {"TableName": TABLE, "Key": KEY}
# ddbx answers GET from its item cache once it has seen the item; a consistent
# read always reaches the backend (and so does an eventually consistent read of
# an item ddbx has not cached: see BackendTest.uncached()).
READ = dict(GET, ConsistentRead=True)
DDB_ERR = "com.amazonaws.dynamodb.v20120810#"

AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


class BackendTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, "--backend-timeout", "1s"))
        c = client(cls.ddbx.endpoint)
        create_table(c, TABLE)
        c.put_item(TableName=TABLE, Item=ITEM)
        cls.direct = client(cls.moto.endpoint)
        cls.keys = itertools.count()

    def setUp(self):
        self.addCleanup(self.proxy.clear)
        self.c = client(self.ddbx.endpoint, attempts=1)

    def own_ddbx(self, *flags, env=None, backend=None):
        """A ddbx of the test's own; its cache starts empty, so GET is a miss there."""
        d = self.start(Ddbx(backend or self.proxy.endpoint, *flags, env=env))
        self.addCleanup(self.proxy.clear)  # runs before d.stop(): nothing held keeps it waiting
        return d

    def assertShapedError(self, err, status, code):
        """err: a ClientError; its answer must be DynamoDB-shaped with this status and code."""
        resp = err.response
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, resp)
        self.assertEqual(resp["Error"]["Code"], code, resp)
        self.assertTrue(resp["Error"]["Message"], resp)

    def uncached(self):
        """(GetItem params, item) for an item written straight to moto, bypassing
        ddbx: an eventually consistent GetItem of it is a cache miss, read from
        the backend, until one such read succeeds (ddbx never caches an error)."""
        item = {"pk": {"S": "uncached-%d" % next(self.keys)}, "v": {"S": "direct"}}
        self.direct.put_item(TableName=TABLE, Item=item)
        return {"TableName": TABLE, "Key": {"pk": item["pk"]}}, item

    # ---- connection reuse

    def test_sequential_requests_reuse_a_few_backend_connections(self):
        conns, counts = self.proxy.snapshot()
        opened = self.ddbx.metric("ddbx_backend_connections_opened_total")
        c = client(self.ddbx.endpoint)
        for _ in range(1000):
            self.assertEqual(c.get_item(**READ)["Item"], ITEM)
        new_conns, new_counts = self.proxy.snapshot()
        self.assertEqual(new_counts["GetItem"] - counts["GetItem"], 1000)
        self.assertLessEqual(new_conns - conns, 4, "ddbx opened a backend connection per request")
        self.assertLessEqual(self.ddbx.metric("ddbx_backend_connections_opened_total") - opened, 4)

    # ---- a backend that fails

    def test_dead_backend_gives_a_shaped_5xx_quickly(self):
        d = self.own_ddbx(backend="http://127.0.0.1:%d" % free_port())
        c = client(d.endpoint, attempts=1)
        for call in (lambda: c.get_item(**GET), lambda: c.list_tables()):
            start = time.monotonic()
            with self.assertRaises(ClientError) as cm:
                call()
            self.assertLess(time.monotonic() - start, 1.0)
            status = cm.exception.response["ResponseMetadata"]["HTTPStatusCode"]
            self.assertIn(status, (500, 503))
            self.assertShapedError(cm.exception, status,
                                   "ServiceUnavailable" if status == 503 else "InternalServerError")
        # GetItem: the DescribeTable that would teach ddbx the key schema gets
        # no answer, and that failure is the client's answer (relaying the
        # GetItem would only wait as long again); ListTables: one more.
        self.assertEqual(d.metric("ddbx_backend_failures_total"), 2)
        self.assertEqual(d.metric("ddbx_backend_requests_total"), 2)
        self.assertEqual(d.metric(op_series("ddbx_errors_total", "GetItem")), 1)

    def test_hanging_backend_times_out_and_the_connection_stays_usable(self):
        timeouts = self.ddbx.metric("ddbx_backend_timeouts_total")
        get, item = self.uncached()
        hang = self.proxy.inject("GetItem", "hang", once=True)
        conn = RawHttp(self.ddbx.port, timeout=5)
        self.addCleanup(conn.close)
        start = time.monotonic()
        resp = conn.call("GetItem", get)
        elapsed = time.monotonic() - start
        hang.wait_arrived()
        self.assertEqual(resp.status, 500, resp)
        self.assertEqual(resp.json()["__type"], DDB_ERR + "InternalServerError")
        self.assertTrue(resp.json()["message"])
        self.assertGreaterEqual(elapsed, 0.9, "answered before --backend-timeout 1s")
        self.assertLess(elapsed, 1.5)
        self.assertEqual(self.ddbx.metric("ddbx_backend_timeouts_total") - timeouts, 1)
        before = self.proxy.count("GetItem")
        again = conn.call("GetItem", get)  # the same client connection
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json()["Item"], item)
        self.assertEqual(self.proxy.count("GetItem") - before, 1, "the timeout was cached")

    def test_hanging_backend_on_a_cold_table_costs_one_timeout(self):
        # a fresh ddbx must first learn the table's key schema: when that
        # DescribeTable hangs, the client hears of it after one --backend-timeout,
        # not after a second one spent relaying the GetItem
        d = self.own_ddbx("--backend-timeout", "1s")
        self.proxy.inject("*", "hang")
        conn = RawHttp(d.port, timeout=5)
        self.addCleanup(conn.close)
        start = time.monotonic()
        resp = conn.call("GetItem", GET)
        elapsed = time.monotonic() - start
        self.assertEqual(resp.status, 500, resp)
        self.assertEqual(resp.json()["__type"], DDB_ERR + "InternalServerError")
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 1.5)
        self.assertEqual(d.metric("ddbx_backend_requests_total"), 1)

    def test_backend_error_answers_are_relayed_as_they_came(self):
        cases = [(500, "InternalServerError"), (503, "ServiceUnavailable"),
                 (400, "ProvisionedThroughputExceededException"), (400, "ThrottlingException")]
        get, item = self.uncached()
        for status, code in cases:
            for what, params in (("miss", get), ("consistent", READ)):
                with self.subTest(code=code, read=what):
                    self.proxy.inject("GetItem", "status", once=True, status=status,
                                      body={"__type": DDB_ERR + code, "message": "injected " + code})
                    with self.assertRaises(ClientError) as cm:
                        self.c.get_item(**params)
                    self.assertShapedError(cm.exception, status, code)
                    self.assertEqual(cm.exception.response["Error"]["Message"], "injected " + code)
        self.assertEqual(self.c.get_item(**get)["Item"], item)
        self.assertEqual(self.c.get_item(**READ)["Item"], ITEM)

    def test_backend_reset_gives_a_shaped_500(self):
        get, item = self.uncached()
        self.proxy.inject("GetItem", "reset")
        before = self.proxy.count("GetItem")
        with self.assertRaises(ClientError) as cm:
            self.c.get_item(**get)
        self.assertShapedError(cm.exception, 500, "InternalServerError")
        self.assertGreaterEqual(self.proxy.count("GetItem") - before, 1)
        self.proxy.clear()
        self.assertEqual(self.c.get_item(**get)["Item"], item)

    def test_backend_answering_non_json_gives_a_shaped_error(self):
        cases = [(502, b"<html>Bad Gateway</html>", 500, "InternalServerError"),
                 (200, b"OK but not JSON", 500, "InternalServerError"),
                 (500, b"[1, 2, 3]", 500, "InternalServerError"),
                 (503, b"<html>busy</html>", 503, "ServiceUnavailable")]
        get, item = self.uncached()
        for backend_status, body, status, code in cases:
            for what, params in (("miss", get), ("consistent", READ)):
                with self.subTest(backend_status=backend_status, body=body, read=what):
                    self.proxy.inject("GetItem", "status", once=True, status=backend_status,
                                      body=body, content_type="text/html")
                    with self.assertRaises(ClientError) as cm:
                        self.c.get_item(**params)
                    self.assertShapedError(cm.exception, status, code)
        self.assertEqual(self.c.get_item(**get)["Item"], item)

    def test_slow_backend_under_the_timeout_is_waited_for(self):
        get, item = self.uncached()
        self.proxy.inject("GetItem", "delay", once=True, seconds=0.5)
        start = time.monotonic()
        self.assertEqual(self.c.get_item(**get)["Item"], item)
        self.assertGreaterEqual(time.monotonic() - start, 0.5)

    def test_client_leaving_while_its_request_waits_on_the_backend(self):
        d = self.own_ddbx()
        gate = self.proxy.inject("GetItem", "gate", once=True)
        conn = RawHttp(d.port)
        conn.send(api_request("GetItem", GET))
        gate.wait_arrived()
        conn.close()  # a FIN alone may be a half-close: ddbx waits for the backend
        gate.release()
        wait_until(lambda: d.metric("ddbx_client_connections") == 0, 3.0,
                   what="ddbx to drop the connection once the answer had nowhere to go")
        self.assertEqual(d.metric(op_series("ddbx_requests_total", "GetItem")), 1)
        self.assertTrue(d.alive())
        self.assertEqual(client(d.endpoint, attempts=1).get_item(**GET)["Item"], ITEM)
        self.assertEqual(d.stop(), 0)
        self.assertNotIn("ERROR", d.log_text())

    # ---- shutdown

    def check_signal_drains_in_flight(self, sig):
        d = self.own_ddbx("--shutdown-timeout", "5s")
        gate = self.proxy.inject("GetItem", "gate", once=True)
        conn = RawHttp(d.port, timeout=10)
        self.addCleanup(conn.close)
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=conn.call("GetItem", GET)))
        t.start()
        gate.wait_arrived()
        d.proc.send_signal(sig)

        def refuses_new_connections():
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=1).close()
                return False
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:  # queued on a listener as it closed
                return False
            except TimeoutError:  # a SYN dropped as a SO_REUSEPORT listener closed: again
                return False
        wait_until(refuses_new_connections, 3.0, what="the listener to close")
        self.assertTrue(d.alive(), "ddbx exited with a request in flight")
        gate.release()
        t.join(5)
        self.assertEqual(answer["r"].status, 200)
        self.assertEqual(answer["r"].json()["Item"], ITEM)
        self.assertEqual(d.wait(5), 0)

    def test_sigterm_finishes_the_request_in_flight_then_exits_0(self):
        self.check_signal_drains_in_flight(signal.SIGTERM)

    def test_sigint_finishes_the_request_in_flight_then_exits_0(self):
        self.check_signal_drains_in_flight(signal.SIGINT)

    def test_shutdown_timeout_bounds_the_wait(self):
        d = self.own_ddbx("--shutdown-timeout", "500ms", "--backend-timeout", "30s")
        hang = self.proxy.inject("GetItem", "hang")
        conn = RawHttp(d.port, timeout=10)
        self.addCleanup(conn.close)
        conn.send(api_request("GetItem", GET))
        hang.wait_arrived()
        start = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(5), 0)
        self.assertLess(time.monotonic() - start, 1.5)

    # ---- secrets and signatures

    SECRET = "s3cr3t-Backend-Key-" + hashlib.sha1(b"ddbx").hexdigest()
    TOKEN = "Session-Token-" + hashlib.sha1(b"token").hexdigest() * 3
    BACKEND_AKID = "AKIDBACKENDSIGNTEST"

    def signing_ddbx(self, *flags):
        return self.own_ddbx(*flags, env={"AWS_ACCESS_KEY_ID": self.BACKEND_AKID,
                                          "AWS_SECRET_ACCESS_KEY": self.SECRET,
                                          "AWS_SESSION_TOKEN": self.TOKEN})

    def test_logs_never_show_credentials(self):
        d = self.signing_ddbx("--log-level", "debug")
        client_secret, client_token = "client-Secret-Value-42", "client-Token-Value-43"
        c = client(d.endpoint, attempts=1, secret_key=client_secret, session_token=client_token)
        sent = []
        c.meta.events.register("before-send.dynamodb",
                               lambda request, **kw: sent.append(
                                   request.headers["Authorization"].decode()))
        c.put_item(TableName=TABLE, Item=ITEM)
        c.get_item(**READ)
        self.proxy.inject("GetItem", "status", once=True, status=500, body=b"not json")
        self.proxy.inject("Query", "reset")  # persistent: libcurl retries a reset once by itself
        for call in (lambda: c.get_item(**READ),
                     lambda: c.query(TableName=TABLE, KeyConditionExpression="pk = :k",
                                     ExpressionAttributeValues={":k": {"S": "k"}}),
                     lambda: c.get_item(TableName="missing", Key=KEY)):
            with self.assertRaises(ClientError):
                call()
        self.assertEqual(d.stop(), 0)
        log = d.log_text()
        self.assertIn("DEBUG", log, "debug logging was not on")
        self.assertIn(self.BACKEND_AKID, "".join(r.headers.get("Authorization", "")
                                                 for r in self.proxy.requests))
        for auth in sent:
            signature = auth.rpartition("Signature=")[2]
            self.assertNotIn(signature, log)
            self.assertNotIn(auth, log)
        for secret in (self.SECRET, self.TOKEN, client_secret, client_token):
            self.assertNotIn(secret, log)
        upstream = [r.headers["Authorization"] for r in self.proxy.requests
                    if r.headers.get("X-Amz-Security-Token") == self.TOKEN]
        self.assertTrue(upstream)
        for auth in upstream:
            self.assertNotIn(auth.rpartition("Signature=")[2], log)

    def signed_requests(self):
        """Makes ddbx sign a few requests; returns what the proxy received."""
        d = self.signing_ddbx()
        start = len(self.proxy.requests)
        c = client(d.endpoint, attempts=1, access_key="AKIDCLIENTONLY")
        c.put_item(TableName=TABLE, Item=dict(ITEM, big={"S": "x" * 5000}))
        c.get_item(**READ)
        c.list_tables()
        c.put_item(TableName=TABLE, Item=ITEM)
        reqs = self.proxy.requests[start:]
        # the first write makes ddbx learn the table's key schema (for cache keys)
        self.assertEqual([r.op for r in reqs],
                         ["DescribeTable", "PutItem", "GetItem", "ListTables", "PutItem"])
        return reqs

    def expected_signature(self, req, signed):
        """SigV4 per the spec, from what was received; signed headers not sent count as empty."""
        headers = {k.lower(): v for k, v in req.headers.items()}
        canonical_headers = "".join("%s:%s\n" % (h, " ".join(headers.get(h, "").split()))
                                    for h in signed)
        canonical = "\n".join([req.method, req.path, "", canonical_headers, ";".join(signed),
                               hashlib.sha256(req.body).hexdigest()])
        amz_date = headers["x-amz-date"]
        scope = "%s/%s/dynamodb/aws4_request" % (amz_date[:8], REGION)
        string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                    hashlib.sha256(canonical.encode()).hexdigest()])

        class Stub:  # what SigV4Auth.signature() reads from a request
            context = {"timestamp": amz_date}
        auth = SigV4Auth(Credentials(self.BACKEND_AKID, self.SECRET, self.TOKEN), "dynamodb", REGION)
        return auth.signature(string_to_sign, Stub())

    def test_backend_requests_carry_a_valid_sigv4_signature(self):
        for req in self.signed_requests():
            with self.subTest(op=req.op):
                m = AUTH_RE.match(req.headers["Authorization"])
                self.assertTrue(m, req.headers["Authorization"])
                akid, date, region, service, signed, signature = m.groups()
                signed = signed.split(";")
                self.assertEqual((akid, region, service), (self.BACKEND_AKID, REGION, "dynamodb"))
                self.assertEqual(date, req.headers["X-Amz-Date"][:8])
                for h in ("host", "x-amz-date", "x-amz-target", "content-type",
                          "x-amz-security-token"):
                    self.assertIn(h, signed)
                self.assertEqual(req.headers["X-Amz-Security-Token"], self.TOKEN)
                self.assertEqual(req.headers["X-Amz-Target"], "DynamoDB_20120810." + req.op)
                self.assertEqual(signature, self.expected_signature(req, signed))

    def test_only_headers_that_are_sent_are_signed(self):
        # A verifier rebuilds the canonical request from the headers it receives:
        # a name in SignedHeaders that was not sent cannot be verified.
        for req in self.signed_requests():
            with self.subTest(op=req.op):
                signed = AUTH_RE.match(req.headers["Authorization"]).group(5).split(";")
                sent = {k.lower() for k in req.headers}
                self.assertEqual([h for h in signed if h not in sent], [],
                                 "signed but not sent; SignedHeaders=%s" % ";".join(signed))

    def test_no_session_token_header_without_a_token(self):
        d = self.own_ddbx(env={"AWS_SESSION_TOKEN": None})
        start = len(self.proxy.requests)
        client(d.endpoint).get_item(**GET)
        reqs = self.proxy.requests[start:]
        self.assertEqual([r.op for r in reqs], ["DescribeTable", "GetItem"])
        for req in reqs:
            self.assertNotIn("X-Amz-Security-Token", req.headers)
            self.assertIn("Credential=AKIDDDBXTESTBACKEND/", req.headers["Authorization"])


if __name__ == "__main__":
    unittest.main()
