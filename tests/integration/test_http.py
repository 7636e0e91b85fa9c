"""test_http.py: ddbx's HTTP/1.1 front, driven over plain sockets.

Keep-alive, pipelining, chunked bodies, Expect: 100-continue, the 16 MiB body
cap, the header cap, malformed input, the GET / health probe, ddbx's own
errors, x-amz-crc32, timeouts, the connection cap and the admin port.
"""
import json
import socket
import time
import unittest
import zlib

from harness import (AUTH_LINES, MAX_BODY, TARGET_PREFIX, Ddbx, IntegrationTestCase, MotoServer,
                     RawHttp, api_request, client, create_table, http_get, op_series, wait_until)

TABLE = "http_t"


def get_body(pk):
    return {"TableName": TABLE, "Key": {"pk": {"S": pk}}}


def put_body(pk, v):
    return {"TableName": TABLE, "Item": {"pk": {"S": pk}, "v": {"S": v}}}


class HttpFrontTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(cls.moto.endpoint, "--max-header-size", "8KiB"))
        create_table(client(cls.ddbx.endpoint), TABLE)

    def setUp(self):
        # a test that crashed the shared ddbx fails on its own; the others get a new one
        if not self.ddbx.alive():
            type(self).ddbx = self.start_class(
                Ddbx(self.moto.endpoint, "--max-header-size", "8KiB"))

    def isolated(self):
        """A ddbx of this test's own, for input that might crash it."""
        return self.start(Ddbx(self.moto.endpoint, "--max-header-size", "8KiB"))

    def assertStillServing(self, d):
        try:
            conn = self.raw(d)
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(conn.read_response().status, 200)
        except (EOFError, OSError) as e:
            time.sleep(0.1)
            self.fail("ddbx stopped serving (%r; ddbx %s)" % (
                e, "running" if d.alive() else "died: exit %s" % d.proc.returncode))

    def raw(self, ddbx=None):
        conn = RawHttp((ddbx or self.ddbx).port)
        self.addCleanup(conn.close)
        return conn

    def assertDdbError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.headers["content-type"], "application/x-amz-json-1.0")
        body = resp.json()
        self.assertEqual(body["__type"].rpartition("#")[2], code, body)
        self.assertIn("#", body["__type"])
        if code == "SerializationException":
            # DynamoDB names this one's text "Message", and sends none for a body that is
            # not JSON; ddbx's framing refusals (400, 431) carry one
            self.assertNotIn("message", body)
        elif code != "UnknownOperationException":  # DynamoDB sends that one without a message
            self.assertTrue(body.get("message"), body)

    def refusal(self, data):
        """Sends data that ddbx must refuse to a ddbx of its own (a crash must not
        take the shared one down); returns (answer, connection, that ddbx)."""
        d = self.isolated()
        conn = self.raw(d)
        conn.send(data)
        try:
            resp = conn.read_response()
        except EOFError:
            time.sleep(0.1)
            self.fail("ddbx closed the connection without an answer (ddbx %s)" % (
                "still running" if d.alive() else "died: exit %s" % d.proc.returncode))
        return resp, conn, d

    def backend_requests(self):
        return self.ddbx.metric("ddbx_backend_requests_total")

    # ---- framing

    def test_keep_alive_serves_many_requests_on_one_socket(self):
        before = self.ddbx.metric("ddbx_client_connections_accepted_total")
        conn = self.raw()
        for i in range(5):
            r = conn.call("PutItem", put_body("ka%d" % i, "v%d" % i))
            self.assertEqual(r.status, 200, r)
            self.assertNotIn("connection", r.headers)
            r = conn.call("GetItem", get_body("ka%d" % i))
            self.assertEqual(r.json()["Item"]["v"], {"S": "v%d" % i})
        self.assertEqual(self.ddbx.metric("ddbx_client_connections_accepted_total") - before, 1)

    def test_pipelined_requests_answer_in_order(self):
        conn = self.raw()
        conn.send(api_request("PutItem", put_body("pipe", "first"))
                  + api_request("GetItem", get_body("pipe"))
                  + api_request("NoSuchThing", {})
                  + api_request("GetItem", get_body("pipe-absent"))
                  + api_request("PutItem", dict(put_body("pipe", "second"), ReturnValues="ALL_OLD"))
                  + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                  + api_request("GetItem", get_body("pipe")))
        answers = [conn.read_response() for _ in range(7)]
        self.assertEqual([a.status for a in answers], [200, 200, 400, 200, 200, 200, 200])
        self.assertEqual(answers[0].json(), {})
        self.assertEqual(answers[1].json()["Item"]["v"], {"S": "first"})
        self.assertEqual(answers[2].error_code(), "UnknownOperationException")
        self.assertEqual(answers[3].json(), {})
        self.assertEqual(answers[4].json()["Attributes"]["v"], {"S": "first"})
        self.assertTrue(answers[5].body.startswith(b"healthy: "))
        self.assertEqual(answers[6].json()["Item"]["v"], {"S": "second"})

    def test_pipelined_requests_split_across_sends(self):
        conn = self.raw()
        data = api_request("PutItem", put_body("split", "s")) + api_request("GetItem", get_body("split"))
        cut = len(data) // 2 + 7  # inside the second request's headers
        conn.send(data[:cut])
        time.sleep(0.05)
        conn.send(data[cut:])
        self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(conn.read_response().json()["Item"]["v"], {"S": "s"})

    def test_half_closed_client_still_gets_its_answers(self):
        conn = self.raw()
        conn.send(api_request("PutItem", put_body("half", "h")) + api_request("GetItem", get_body("half")))
        conn.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(conn.read_response().json()["Item"]["v"], {"S": "h"})
        self.assertTrue(conn.at_eof(2.0), "connection kept open after the client's FIN")

    def test_http_1_0_connection_closes_after_its_answer(self):
        conn = self.raw()
        conn.send(b"GET / HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
        self.assertEqual((resp.status, resp.headers.get("connection")), (200, "close"))
        self.assertTrue(conn.at_eof(2.0))

    def test_large_bodies_both_ways(self):
        big = "".join(chr(0x41 + i % 26) for i in range(390000))
        conn = self.raw()
        for i in range(5):
            self.assertEqual(conn.call("PutItem", put_body("big%d" % i, big)).status, 200)
        conn.send(b"".join(api_request("GetItem", get_body("big%d" % i)) for i in range(5)))
        for i in range(5):  # ~2 MB of pipelined answers, more than a socket buffer holds
            resp = conn.read_response()
            self.assertEqual(int(resp.headers["x-amz-crc32"]), zlib.crc32(resp.body))
            self.assertEqual(resp.json()["Item"]["pk"], {"S": "big%d" % i})
            self.assertEqual(resp.json()["Item"]["v"], {"S": big})

    def test_chunked_request_body(self):
        conn = self.raw()
        body = json.dumps(put_body("chunked", "c" * 3000)).encode()
        parts = [body[:10], body[10:2000], body[2000:]]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
        head = ("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                "X-Amz-Target: %sPutItem\r\nTransfer-Encoding: chunked\r\n%s\r\n"
                % (TARGET_PREFIX, AUTH_LINES))
        conn.send(head.encode() + chunked[:50])
        time.sleep(0.05)
        conn.send(chunked[50:])
        self.assertEqual(conn.read_response().status, 200)
        got = conn.call("GetItem", get_body("chunked"))
        self.assertEqual(got.json()["Item"]["v"], {"S": "c" * 3000})

    def test_expect_100_continue_before_body(self):
        conn = self.raw()
        body = json.dumps(put_body("expect", "e")).encode()
        head = api_request("PutItem", body, Expect="100-continue")
        conn.send(head[:-len(body)])
        interim = conn.read_response()
        self.assertEqual((interim.status, interim.body), (100, b""))
        conn.send(body)
        self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(conn.call("GetItem", get_body("expect")).json()["Item"]["v"], {"S": "e"})

    def test_body_over_16mib_refused_before_it_is_sent(self):
        for extra in ({}, {"Expect": "100-continue"}):
            with self.subTest(headers=extra):
                head = ("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %sPutItem\r\n"
                        "Content-Length: %d\r\n" % (TARGET_PREFIX, MAX_BODY + 1))
                head += "".join("%s: %s\r\n" % kv for kv in extra.items())
                resp, conn, d = self.refusal(head.encode() + b"\r\n")  # no body byte sent
                self.assertDdbError(resp, 413, "RequestEntityTooLarge")
                self.assertTrue(conn.at_eof(2.0), "connection left open after 413")
                self.assertEqual(d.metric("ddbx_backend_requests_total"), 0)
                self.assertEqual(d.metric("ddbx_http_errors_total"), 1)
                self.assertStillServing(d)

    def test_body_over_16mib_refused_after_an_earlier_request(self):
        d = self.isolated()
        conn = self.raw(d)
        self.assertEqual(conn.call("GetItem", get_body("big")).status, 200)
        conn.send(("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %sPutItem\r\n"
                   "Content-Length: %d\r\n\r\n" % (TARGET_PREFIX, MAX_BODY + 1)).encode())
        self.assertDdbError(conn.read_response(), 413, "RequestEntityTooLarge")
        self.assertTrue(conn.at_eof(2.0))
        self.assertStillServing(d)

    def test_body_of_exactly_16mib_is_not_refused(self):
        conn = self.raw()
        conn.send(("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %sPutItem\r\n"
                   "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                   % (TARGET_PREFIX, MAX_BODY)).encode())
        self.assertEqual(conn.read_response().status, 100)

    def test_header_block_over_max_header_size_gets_431(self):
        conn = self.raw()
        ok = conn.call("GetItem", get_body("hdr"), X_Pad="p" * 7000)
        self.assertEqual(ok.status, 200, "a 7000-byte header is under 8KiB")
        resp, conn, d = self.refusal(api_request("GetItem", get_body("hdr"), X_Pad="p" * 9000))
        self.assertDdbError(resp, 431, "SerializationException")
        self.assertTrue(conn.at_eof(2.0))
        self.assertStillServing(d)
        many = "".join("X-H%d: %s\r\n" % (i, "v" * 40) for i in range(200)).encode()
        resp, conn, _ = self.refusal(b"POST / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(resp.status, 431)

    def test_malformed_requests_get_400_and_close(self):
        cases = [b"GARBAGE\r\n\r\n",
                 b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n",
                 b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
                 b"POST / HTTP/9\r\n\r\n",
                 b"POST / HTTP/1.1\r\nBad Header Line\r\n\r\n"]
        for data in cases:
            with self.subTest(data=data):
                resp, conn, d = self.refusal(data)
                self.assertDdbError(resp, 400, "SerializationException")
                self.assertTrue(conn.at_eof(2.0))
                self.assertStillServing(d)

    def test_malformed_request_after_a_good_one_gets_400(self):
        d = self.isolated()
        conn = self.raw(d)
        conn.send(api_request("GetItem", get_body("m")) + b"GARBAGE\r\n\r\n")
        self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(conn.read_response().status, 400)
        self.assertTrue(conn.at_eof(2.0))
        self.assertStillServing(d)

    # ---- answers ddbx composes itself

    def test_get_root_is_the_health_probe(self):
        conn = self.raw()
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        # DynamoDB's answer ends in a space (42 bytes); issue 9
        self.assertEqual(resp.body, b"healthy: dynamodb.us-east-1.amazonaws.com ")
        other = self.start(Ddbx(self.moto.endpoint, "--region", "eu-west-1"))
        status, body = http_get(other.endpoint + "/")
        self.assertEqual((status, body), (200, b"healthy: dynamodb.eu-west-1.amazonaws.com "))

    def test_unknown_target_is_unknown_operation(self):
        before = self.backend_requests()
        conn = self.raw()
        for target in ("Foo.Bar", TARGET_PREFIX + "NoSuchThing", "DynamoDB_20120810",
                       "DynamoDB_20120810.getitem", TARGET_PREFIX + "GetItemX"):
            with self.subTest(target=target):
                resp = conn.call(None, get_body("x"), target=target)
                self.assertDdbError(resp, 400, "UnknownOperationException")
        # no X-Amz-Target at all (a body without a JSON content type is DynamoDB's 404:
        # test_conformance covers it)
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        self.assertDdbError(conn.read_response(), 400, "UnknownOperationException")
        self.assertEqual(self.backend_requests(), before, "an unknown target reached the backend")

    def test_body_that_is_not_json_is_serialization_exception(self):
        before = self.backend_requests()
        conn = self.raw()
        for body in (b"not json", b'{"TableName": ', b"[1, 2]", b"", b'"str"',
                     b'{"TableName": "http_t"} trailing'):
            with self.subTest(body=body):
                self.assertDdbError(conn.call("GetItem", body), 400, "SerializationException")
        self.assertEqual(self.backend_requests(), before, "a bad body reached the backend")

    def test_crc32_matches_the_body_bytes(self):
        conn = self.raw()
        conn.call("PutItem", put_body("crc", "value ✓"))
        answers = [conn.call("GetItem", get_body("crc")),                      # 200 relayed
                   conn.call("GetItem", {"TableName": "nope", "Key": {"pk": {"S": "a"}}}),  # backend 400
                   conn.call("Foo", {}, target="Foo.Bar"),                      # ddbx's 400
                   conn.call("GetItem", b"{bad")]                               # ddbx's 400
        self.assertEqual([a.status for a in answers], [200, 400, 400, 400])
        for a in answers:
            self.assertEqual(int(a.headers["x-amz-crc32"]), zlib.crc32(a.body), a)
            self.assertTrue(a.headers.get("x-amzn-requestid"), a)

    # ---- timeouts and caps

    def test_idle_timeout_closes_an_idle_connection(self):
        d = self.start(Ddbx(self.moto.endpoint, "--idle-timeout", "300ms"))
        conn = self.raw(d)
        self.assertEqual(conn.call("GetItem", get_body("idle")).status, 200)
        start = time.monotonic()
        self.assertTrue(conn.at_eof(3.0), "idle connection not closed")
        self.assertGreater(time.monotonic() - start, 0.2)
        silent = self.raw(d)  # a connection that never sends a byte
        self.assertTrue(silent.at_eof(3.0))
        self.assertEqual(d.metric("ddbx_client_timeouts_total"), 2)

    def test_header_timeout_closes_a_slow_request(self):
        d = self.start(Ddbx(self.moto.endpoint, "--header-timeout", "300ms"))
        conn = self.raw(d)
        conn.send(b"POST / HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        self.assertTrue(conn.at_eof(3.0), "slow headers not cut off")
        self.assertGreater(time.monotonic() - start, 0.2)
        idle = self.raw(d)  # idle under the 120s default: stays open past the header timeout
        self.assertEqual(idle.call("GetItem", get_body("ht")).status, 200)
        self.assertFalse(idle.at_eof(0.6))

    def test_max_connections_answers_the_next_one_throttling(self):
        d = self.start(Ddbx(self.moto.endpoint, "--max-connections", "2"))
        held = [self.raw(d), self.raw(d)]
        for c in held:  # each accepted and served
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
        extra = self.raw(d)
        resp = extra.read_response()
        self.assertDdbError(resp, 400, "ThrottlingException")  # issue 10: SDKs back off
        self.assertTrue(extra.at_eof(2.0))
        extra.close()  # ddbx lingers until the client goes (or 5 s of silence)
        self.assertEqual(d.metric("ddbx_client_connections_refused_total"), 1)
        wait_until(lambda: d.metric("ddbx_client_connections") == 2, 3.0,
                   what="the refused connection to close")
        held[0].close()

        def served():
            c = RawHttp(d.port)
            try:
                c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                return c.read_response().status == 200
            except (EOFError, OSError):
                return False
            finally:
                c.close()
        wait_until(served, 3.0, what="a connection slot to free up")

    # ---- admin port

    def test_admin_healthz_and_metric_deltas(self):
        status, body = http_get(self.ddbx.admin_url + "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertEqual(http_get(self.ddbx.admin_url + "/nothing")[0], 404)
        c = client(self.ddbx.endpoint, attempts=1)
        before = self.ddbx.metrics()
        c.put_item(TableName=TABLE, Item={"pk": {"S": "m1"}})
        c.put_item(TableName=TABLE, Item={"pk": {"S": "m2"}})
        c.get_item(TableName=TABLE, Key={"pk": {"S": "m1"}})
        c.get_item(TableName=TABLE, Key={"pk": {"S": "m3"}})
        with self.assertRaises(c.exceptions.ResourceNotFoundException):
            c.get_item(TableName="absent", Key={"pk": {"S": "m1"}})
        after = self.ddbx.metrics()

        def delta(series):
            return after.get(series, 0) - before.get(series, 0)
        self.assertEqual(delta(op_series("ddbx_requests_total", "PutItem")), 2)
        self.assertEqual(delta(op_series("ddbx_requests_total", "GetItem")), 3)
        self.assertEqual(delta(op_series("ddbx_errors_total", "GetItem")), 1)
        self.assertEqual(delta(op_series("ddbx_errors_total", "PutItem")), 0)
        self.assertEqual(delta(op_series("ddbx_requests_total", "Query")), 0)
        self.assertEqual(delta("ddbx_backend_requests_total"), 5)
        self.assertEqual(delta("ddbx_backend_request_duration_seconds_count"), 5)
        self.assertEqual(delta("ddbx_request_duration_seconds_count"), 5)
        self.assertEqual(delta('ddbx_backend_request_duration_seconds_bucket{le="+Inf"}'), 5)

if __name__ == "__main__":
    unittest.main()
