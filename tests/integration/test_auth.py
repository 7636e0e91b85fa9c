"""test_auth.py: issue 10's authentication and grants, end to end.

ddbx runs with --credentials in front of moto (through the FaultProxy, which
counts every backend request). Requests signed by botocore are verified
before any cache lookup or backend call: a good one, a wrong secret, an
unknown key, an expired and a future-dated one, a signed header and the body
changed by a proxy between the client and ddbx (written here), an unsigned
header changed (harmless), a wrong region and service, a session token signed
and one added unsigned. Every refusal carries DynamoDB's type and message
(proto/auth_messages.tsv), no item byte, and makes no backend call. Then the
grants (a principal limited to tables, batches and transactions, PartiQL,
ARNs, operations without a table), SIGHUP's reload while a client keeps its
connection, the AWS CLI with credentials, --admin-token, and a credentials
file others may read refused at start. Without --credentials, what ddbx
refuses before any signature check is compared with dynalite's answers
(DynamoDB's words), and a bare POST no longer reads an item.
"""
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import unittest
import urllib.request
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.exceptions import ClientError

from harness import (HERE, REGION, TARGET_PREFIX, Ddbx, Dynalite, FaultProxy, IntegrationTestCase,
                     MotoServer, RawHttp, base_env, client, create_table, wait_until)

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/"
CREDENTIALS = """# ddbx --credentials: ACCESS_KEY_ID SECRET_ACCESS_KEY [TABLE ...]
AKIDADMIN admin-secret
AKIDREADER reader-secret auth_music auth_books
AKIDARN arn-secret %sauth_music
""" % ARN
SECRET_VALUE = "do-not-leak-this-value"


def auth_messages():
    """{id: (error, message format)} from proto/auth_messages.tsv."""
    out = {}
    with open(os.path.join(HERE, "..", "..", "proto", "auth_messages.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            row = line.rstrip("\n").split("\t")
            out[row[0]] = (row[1], row[4])
    return out


MESSAGES = auth_messages()


def message(id, *args):
    """The text of row `id` with its arguments (printf %s and %N$s)."""
    fmt = MESSAGES[id][1]
    fmt = re.sub(r"%(\d)\$s", lambda m: "{%d}" % (int(m.group(1)) - 1), fmt)
    i = iter(range(len(args)))
    fmt = re.sub(r"%s", lambda m: "{%d}" % next(i), fmt)
    return fmt.format(*args)


def write_credentials(path, text, mode=0o600):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def amz_date(dt):
    return dt.strftime("%Y%m%dT%H%M%SZ")


def signed(endpoint, op, body, key, secret, region=REGION, service="dynamodb", when=None,
           token=None):
    """A request signed by botocore's SigV4Auth (at `when`, a UTC datetime:
    now by default) and sent on its own connection: (status, body bytes)."""
    url = endpoint + "/"
    data = json.dumps(body).encode()
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=data, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET_PREFIX + op})
    creds = botocore.credentials.Credentials(key, secret, token)
    signer = botocore.auth.SigV4Auth(creds, service, region)
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            signer.add_auth(req)
    port = int(endpoint.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", "/", body=data, headers=dict(req.headers.items()))
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class TamperProxy:
    """An HTTP/1.1 proxy in front of ddbx that rewrites each request after
    the client signed it: rewrite(head, body) -> (head, body), both bytes.
    One thread per client connection, keep-alive both ways."""

    def __init__(self, port, rewrite):
        self.target, self.rewrite = port, rewrite
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _message(f):
        """One HTTP message from file f: (head, body), or None at EOF."""
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = f.readline()
            if not line:
                return None
            head += line
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        return head, f.read(int(m.group(1))) if m else b""

    def _serve(self, c):
        up = socket.create_connection(("127.0.0.1", self.target))
        cf, uf = c.makefile("rb"), up.makefile("rb")
        try:
            while True:
                msg = self._message(cf)
                if msg is None:
                    return
                head, body = self.rewrite(*msg)
                up.sendall(head + body)
                answer = self._message(uf)
                if answer is None:
                    return
                c.sendall(answer[0] + answer[1])
        except OSError:
            pass
        finally:
            c.close()
            up.close()


class AuthTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ddbx-it-auth-")
        cls.creds_path = os.path.join(cls.tmp, "credentials")
        write_credentials(cls.creds_path, CREDENTIALS)
        moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint, "--credentials", cls.creds_path))
        admin = cls.as_(cls, "AKIDADMIN", "admin-secret")
        for t in ("auth_music", "auth_books", "auth_secrets"):
            create_table(admin, t)
        for t in ("auth_music", "auth_books", "auth_secrets"):
            admin.put_item(TableName=t, Item={"pk": {"S": "a"}, "v": {"S": SECRET_VALUE}})
            admin.get_item(TableName=t, Key={"pk": {"S": "a"}})  # cached from here on

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for f in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, f))
        os.rmdir(cls.tmp)

    def as_(self, key, secret, endpoint=None, **kw):
        return client(endpoint or self.ddbx.endpoint, attempts=1, access_key=key,
                      secret_key=secret, **kw)

    def assertRefused(self, call, error, text, backend_calls=0):
        """call() raises ClientError `error` with message `text` (a str, or a
        compiled pattern), without an item byte and with `backend_calls`
        backend requests; the failure is counted."""
        before, fails = self.proxy.count(), self.ddbx.metrics()
        with self.assertRaises(ClientError) as cm:
            call()
        r = cm.exception.response
        self.assertEqual(r["Error"]["Code"], error, r)
        if isinstance(text, str):
            self.assertEqual(r["Error"]["Message"], text)
        else:
            self.assertRegex(r["Error"]["Message"], text)
        self.assertNotIn(SECRET_VALUE, json.dumps(r))
        self.assertEqual(self.proxy.count() - before, backend_calls)
        grown = self.ddbx.metrics_since(fails)
        if error == "AccessDeniedException":
            self.assertEqual(grown["ddbx_access_denied_total"], 1)
        else:
            self.assertEqual(grown['ddbx_auth_failures_total{type="%s"}' % error], 1)
        return r

    def get(self, c, table="auth_music"):
        return c.get_item(TableName=table, Key={"pk": {"S": "a"}})

    # ---- signatures ----

    def test_good_signature_is_served_from_the_cache(self):
        before, calls = self.ddbx.metrics(), self.proxy.count()
        item = self.get(self.as_("AKIDADMIN", "admin-secret"))["Item"]
        self.assertEqual(item["v"], {"S": SECRET_VALUE})
        grown = self.ddbx.metrics_since(before)
        self.assertEqual(grown["ddbx_auth_verified_total"], 1)
        self.assertEqual(grown["ddbx_item_cache_hits_total"], 1)
        self.assertEqual(self.proxy.count(), calls)

    def test_wrong_secret(self):
        self.assertRefused(lambda: self.get(self.as_("AKIDADMIN", "not-the-secret")),
                           "InvalidSignatureException", message("SIGNATURE_MISMATCH"))

    def test_unknown_key(self):
        self.assertRefused(lambda: self.get(self.as_("AKIDNOBODY", "x")),
                           "UnrecognizedClientException", message("UNKNOWN_KEY"))

    def test_expired_and_future_dated(self):
        for minutes, error_id in ((-16, "EXPIRED"), (16, "NOT_YET_CURRENT")):
            with self.subTest(minutes=minutes):
                when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
                c = self.as_("AKIDADMIN", "admin-secret")
                with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                    r = self.assertRefused(lambda: self.get(c), "InvalidSignatureException",
                                           re.compile(r"^Signature (expired|not yet current)"))
                text = r["Error"]["Message"]
                stamp = r"(\d{8}T\d{6}Z)"
                pattern = re.escape(message(error_id, "@", "@", "@")).replace("@", stamp)
                m = re.fullmatch(pattern, text)
                self.assertTrue(m, text)
                self.assertEqual(m.group(1), amz_date(when))
                now = datetime.datetime.strptime(m.group(3), "%Y%m%dT%H%M%SZ")
                bound = datetime.datetime.strptime(m.group(2), "%Y%m%dT%H%M%SZ")
                self.assertEqual(bound - now, datetime.timedelta(minutes=15 if minutes > 0 else -15))
                self.assertLess(abs((now - datetime.datetime.utcnow()).total_seconds()), 60)

    def test_wrong_region_and_service(self):
        status, body = signed(self.ddbx.endpoint, "GetItem",
                              {"TableName": "auth_music", "Key": {"pk": {"S": "a"}}},
                              "AKIDADMIN", "admin-secret", region="eu-west-1")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["message"], message("SCOPE_REGION", "eu-west-1"))
        status, body = signed(self.ddbx.endpoint, "GetItem",
                              {"TableName": "auth_music", "Key": {"pk": {"S": "a"}}},
                              "AKIDADMIN", "admin-secret", service="s3")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body), {
            "__type": "com.amazon.coral.service#InvalidSignatureException",
            "message": message("SCOPE_SERVICE", "dynamodb")})
        self.assertNotIn(SECRET_VALUE.encode(), body)

    def test_session_token(self):
        """botocore signs X-Amz-Security-Token: accepted (ddbx keeps no session
        tokens; the principal's secret signed it). One added after signing is
        DynamoDB's invalid token."""
        c = self.as_("AKIDADMIN", "admin-secret", session_token="FQoGZXIvYXdzEXAMPLETOKEN")
        self.assertEqual(self.get(c)["Item"]["v"], {"S": SECRET_VALUE})
        proxy = TamperProxy(self.ddbx.port, lambda h, b: (
            h.replace(b"\r\n\r\n", b"\r\nX-Amz-Security-Token: added-later\r\n\r\n", 1), b))
        try:
            self.assertRefused(lambda: self.get(self.as_("AKIDADMIN", "admin-secret",
                                                         endpoint=proxy.endpoint)),
                               "UnrecognizedClientException", message("TOKEN_UNSIGNED"))
        finally:
            proxy.stop()

    def test_tampered_in_transit(self):
        """A proxy between the client and ddbx changes a request botocore signed."""
        cases = [
            # a signed header: the target, GetItem made into DeleteItem
            ("signed header", lambda h, b: (h.replace(b"GetItem", b"DeleteItem"), b),
             "InvalidSignatureException", message("SIGNATURE_MISMATCH")),
            # the body, same length
            ("body", lambda h, b: (h, b.replace(b'"S": "a"', b'"S": "b"')),
             "InvalidSignatureException", message("SIGNATURE_MISMATCH")),
        ]
        for name, rewrite, error, text in cases:
            with self.subTest(tampered=name):
                proxy = TamperProxy(self.ddbx.port, rewrite)
                try:
                    c = self.as_("AKIDADMIN", "admin-secret", endpoint=proxy.endpoint)
                    self.assertRefused(lambda: self.get(c), error, text)
                finally:
                    proxy.stop()
        admin = self.as_("AKIDADMIN", "admin-secret")
        self.assertIn("Item", self.get(admin))  # nothing was deleted
        # an unsigned header changed in transit changes nothing
        proxy = TamperProxy(self.ddbx.port, lambda h, b: (
            re.sub(rb"(?i)\r\nUser-Agent: [^\r]*", b"\r\nUser-Agent: tampered", h), b))
        try:
            self.assertIn("Item", self.get(self.as_("AKIDADMIN", "admin-secret",
                                                    endpoint=proxy.endpoint)))
        finally:
            proxy.stop()

    def test_no_authorization_at_all(self):
        conn = RawHttp(self.ddbx.port)
        try:
            resp = conn.call("GetItem", {"TableName": "auth_music", "Key": {"pk": {"S": "a"}}},
                             auth=False)
        finally:
            conn.close()
        self.assertEqual(resp.status, 400)
        self.assertEqual(resp.json(), {
            "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
            "message": message("MISSING_TOKEN")})
        # a well-formed header with a made-up signature is verified, and fails
        # (its date, 2025-01-01, is the first thing found wrong)
        conn = RawHttp(self.ddbx.port)
        try:
            resp = conn.call("GetItem", {"TableName": "auth_music", "Key": {"pk": {"S": "a"}}})
        finally:
            conn.close()
        self.assertEqual(resp.error_code(), "InvalidSignatureException")
        self.assertTrue(resp.json()["message"].startswith("Signature expired: 20250101T000000Z"))
        self.assertNotIn(SECRET_VALUE.encode(), resp.body)

    # ---- grants ----

    def test_grants(self):
        reader = self.as_("AKIDREADER", "reader-secret")
        self.assertEqual(self.get(reader, "auth_books")["Item"]["v"], {"S": SECRET_VALUE})

        def denied(op, resource):
            return ("User: AKIDREADER is not authorized to perform: dynamodb:%s on resource: %s "
                    "because no identity-based policy allows the dynamodb:%s action"
                    % (op, resource, op))
        self.assertRefused(lambda: self.get(reader, "auth_secrets"), "AccessDeniedException",
                           denied("GetItem", "auth_secrets"))
        self.assertRefused(lambda: reader.batch_get_item(RequestItems={
            "auth_music": {"Keys": [{"pk": {"S": "a"}}]},
            "auth_secrets": {"Keys": [{"pk": {"S": "a"}}]}}),
            "AccessDeniedException", denied("BatchGetItem", "auth_secrets"))
        self.assertRefused(lambda: reader.transact_write_items(TransactItems=[
            {"Put": {"TableName": "auth_books", "Item": {"pk": {"S": "t"}}}},
            {"Delete": {"TableName": "auth_secrets", "Key": {"pk": {"S": "a"}}}}]),
            "AccessDeniedException", denied("TransactWriteItems", "auth_secrets"))
        self.assertRefused(lambda: reader.execute_statement(
            Statement='SELECT * FROM "auth_secrets"'),
            "AccessDeniedException", denied("ExecuteStatement", "auth_secrets"))
        self.assertRefused(lambda: reader.list_tables(), "AccessDeniedException",
                           denied("ListTables", "*"))
        # the transaction wrote nothing; granted ones go through
        admin = self.as_("AKIDADMIN", "admin-secret")
        self.assertNotIn("Item", admin.get_item(TableName="auth_books", Key={"pk": {"S": "t"}},
                                                ConsistentRead=True))
        got = reader.batch_get_item(RequestItems={
            "auth_music": {"Keys": [{"pk": {"S": "a"}}]},
            "auth_books": {"Keys": [{"pk": {"S": "a"}}]}})
        self.assertEqual(sorted(got["Responses"]), ["auth_books", "auth_music"])
        self.assertIn("auth_secrets", admin.list_tables()["TableNames"])

    def test_grants_by_arn(self):
        """A table granted by its ARN is reached by its ARN, not by its name."""
        by_arn = self.as_("AKIDARN", "arn-secret")
        self.assertRefused(lambda: self.get(by_arn, "auth_music"), "AccessDeniedException",
                           re.compile(r"on resource: auth_music "))
        before = self.ddbx.metric("ddbx_access_denied_total")
        try:
            by_arn.describe_table(TableName=ARN + "auth_music")
        except ClientError as e:  # moto may not take ARNs: any answer but a refusal
            self.assertNotEqual(e.response["Error"]["Code"], "AccessDeniedException")
        self.assertEqual(self.ddbx.metric("ddbx_access_denied_total"), before)
        self.assertRefused(lambda: by_arn.describe_table(TableName=ARN + "auth_books"),
                           "AccessDeniedException", re.compile(re.escape(ARN + "auth_books")))

    # ---- the file ----

    def test_reload_on_sighup_keeps_connections(self):
        newbie = self.as_("AKIDNEW", "new-secret")
        self.assertRefused(lambda: self.get(newbie), "UnrecognizedClientException",
                           message("UNKNOWN_KEY"))
        accepted = self.ddbx.metric("ddbx_client_connections_accepted_total")
        reloads = self.ddbx.metric("ddbx_reloads_total")
        try:
            write_credentials(self.creds_path, CREDENTIALS + "AKIDNEW new-secret auth_music\n")
            self.ddbx.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: self.ddbx.metric("ddbx_reloads_total") > reloads, 5.0,
                       what="the reload")
            self.assertEqual(self.get(newbie)["Item"]["v"], {"S": SECRET_VALUE})
            self.assertEqual(self.ddbx.metric("ddbx_client_connections_accepted_total"),
                             accepted, "the client's connection was not kept")
            # a bad edit (others may read it) is refused; what was loaded stays
            write_credentials(self.creds_path, "AKIDNEW\n", mode=0o644)
            failures = self.ddbx.metric("ddbx_reload_failures_total")
            self.ddbx.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: self.ddbx.metric("ddbx_reload_failures_total") > failures, 5.0,
                       what="the failed reload")
            self.assertIn("the principals loaded before stay in use", self.ddbx.log_text())
            self.assertEqual(self.get(newbie)["Item"]["v"], {"S": SECRET_VALUE})
        finally:
            write_credentials(self.creds_path, CREDENTIALS)
            reloads = self.ddbx.metric("ddbx_reloads_total")
            self.ddbx.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: self.ddbx.metric("ddbx_reloads_total") > reloads, 5.0,
                       what="the reload")

    def test_aws_cli(self):
        def aws(key, secret, *args):
            env = base_env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, AWS_PAGER="",
                           AWS_MAX_ATTEMPTS="1")
            return subprocess.run(["aws", "dynamodb", *args, "--endpoint-url",
                                   self.ddbx.endpoint, "--output", "json"],
                                  env=env, capture_output=True, text=True, timeout=60)
        p = aws("AKIDREADER", "reader-secret", "get-item", "--table-name", "auth_music",
                "--key", '{"pk":{"S":"a"}}')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["Item"]["v"], {"S": SECRET_VALUE})
        p = aws("AKIDREADER", "wrong", "get-item", "--table-name", "auth_music",
                "--key", '{"pk":{"S":"a"}}')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidSignatureException", p.stderr)
        self.assertNotIn(SECRET_VALUE, p.stdout + p.stderr)
        p = aws("AKIDREADER", "reader-secret", "list-tables")
        self.assertIn("AccessDeniedException", p.stderr)


class StartupTest(IntegrationTestCase):
    def test_file_others_may_read_is_refused_at_start(self):
        tmp = tempfile.mkdtemp(prefix="ddbx-it-auth-")
        path = os.path.join(tmp, "credentials")
        write_credentials(path, CREDENTIALS, mode=0o644)
        try:
            d = Ddbx("http://127.0.0.1:9", "--credentials", path)
            with self.assertRaises(AssertionError):
                d.start(timeout=5)
            self.assertNotEqual(d.proc.returncode, 0)
            self.assertIn("group or others may access it (mode 0644); chmod 600 it", d.log_text())
        finally:
            os.unlink(path)
            os.rmdir(tmp)

    def test_admin_token(self):
        tmp = tempfile.mkdtemp(prefix="ddbx-it-auth-")
        token = os.path.join(tmp, "token")
        write_credentials(token, "a-long-admin-token\n")
        try:
            d = self.start(Ddbx("http://127.0.0.1:9", "--admin-token-file", token))
            url = d.admin_url + "/metrics"
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(url, timeout=5)
            self.assertEqual(cm.exception.code, 401)
            req = urllib.request.Request(url, headers={
                "Authorization": "Bearer a-long-admin-token"})
            with urllib.request.urlopen(req, timeout=5) as r:
                self.assertIn(b"ddbx_requests_total", r.read())
            with urllib.request.urlopen(d.admin_url + "/healthz", timeout=5) as r:
                self.assertEqual(r.status, 200)
        finally:
            os.unlink(token)
            os.rmdir(tmp)


class PrecheckTest(IntegrationTestCase):
    """Without --credentials ddbx verifies no signature but refuses what
    DynamoDB refuses before any: compared with dynalite's answers."""

    @classmethod
    def setUpClass(cls):
        moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(moto.endpoint))
        cls.dynalite = cls.start_class(Dynalite())
        c = client(cls.ddbx.endpoint)
        create_table(c, "pre_t")
        c.put_item(TableName="pre_t", Item={"pk": {"S": "a"}, "v": {"S": SECRET_VALUE}})

    def exchange(self, port, head_lines, body, path="/"):
        conn = RawHttp(port)
        try:
            lines = ["POST %s HTTP/1.1" % path, "Host: localhost",
                     "Content-Type: application/x-amz-json-1.0",
                     "X-Amz-Target: %sGetItem" % TARGET_PREFIX,
                     "Content-Length: %d" % len(body)] + head_lines
            conn.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            return conn.read_response()
        finally:
            conn.close()

    def test_refusals_match_dynamodbs(self):
        good_date = "X-Amz-Date: 20250101T000000Z"
        body = json.dumps({"TableName": "pre_t", "Key": {"pk": {"S": "a"}}}).encode()
        cases = {
            "no authorization": ([], body, "/"),
            "not AWS4": (["Authorization: Basic dXNlcjpwYXNz"], body, "/"),
            "both forms": (["Authorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, "
                            "SignedHeaders=host, Signature=abc", good_date], body,
                           "/?X-Amz-Algorithm=AWS4-HMAC-SHA256"),
            "parts missing": (["Authorization: AWS4-HMAC-SHA256 Signature=abc"], body, "/"),
            "no date": (["Authorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, "
                         "SignedHeaders=host, Signature=abc"], body, "/"),
            "query parts missing": ([good_date], body,
                                    "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x"),
            "body not JSON first": ([], b"{not json", "/"),
        }
        for name, (lines, data, path) in cases.items():
            with self.subTest(case=name):
                mine = self.exchange(self.ddbx.port, lines, data, path)
                theirs = self.exchange(self.dynalite.port, lines, data, path)
                self.assertEqual(mine.status, theirs.status)
                self.assertEqual(mine.json(), theirs.json())
                self.assertNotIn(SECRET_VALUE.encode(), mine.body)

    def test_a_bare_post_reads_no_item(self):
        """The issue's finding: a bare POST without any signature read the item."""
        p = subprocess.run(["curl", "-s", "-X", "POST", self.ddbx.endpoint + "/",
                            "-H", "X-Amz-Target: %sGetItem" % TARGET_PREFIX,
                            "-H", "Content-Type: application/x-amz-json-1.0",
                            "-d", '{"TableName":"pre_t","Key":{"pk":{"S":"a"}}}'],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(p.stdout)["__type"],
                         "com.amazon.coral.service#MissingAuthenticationTokenException")
        self.assertNotIn(SECRET_VALUE, p.stdout)
        self.assertIn("ddbx trusts its network", self.ddbx.log_text())


if __name__ == "__main__":
    unittest.main()
