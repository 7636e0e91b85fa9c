"""test_tls.py: the API port over TLS (--tls-cert, --tls-key), end to end.

A test CA and a server certificate for 127.0.0.1 are made at test time with
the openssl command. Checked: boto3 with verify=CA and the AWS CLI with
AWS_CA_BUNDLE through ddbx (cache hits included), signed requests verified
over TLS (--credentials), a client that does not trust the CA refused,
plain HTTP and TLS 1.1 refused, a 17 MiB body sent whole before reading
answered 413 over TLS, and SIGHUP's reload: new connections get the new
certificate while an open one keeps working, and a key that does not match
leaves the certificate in use.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest
import warnings

import boto3
from botocore.config import Config
from botocore.exceptions import SSLError as BotoSSLError

from harness import (MAX_BODY, TARGET_PREFIX, Ddbx, IntegrationTestCase, MotoServer, api_request,
                     base_env, create_table, wait_until)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """A CA and server certificates it signs, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ddbx-it-tls-")
        self.ca = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ddbx test CA",
                cwd=self.dir)
        with open(os.path.join(self.dir, "san.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self.serial = 1000

    def issue(self, name, cn):
        """A key and a certificate for 127.0.0.1 with common name cn: (cert, key) paths."""
        self.serial += 1
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(self.serial), "-out", name + ".pem", "-days", "2",
                "-extfile", "san.cnf", cwd=self.dir)
        os.chmod(os.path.join(self.dir, name + ".key"), 0o600)
        return os.path.join(self.dir, name + ".pem"), os.path.join(self.dir, name + ".key")

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def tls_connect(port, ca=None, **ctx_options):
    ctx = ssl.create_default_context(cafile=ca)
    for k, v in ctx_options.items():
        setattr(ctx, k, v)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def read_response(s):
    """(status, body) of one HTTP response read from socket-like s."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        body += s.recv(65536)
    return int(head.split(b" ")[1]), body[:length]


def serial_of(port, ca):
    with tls_connect(port, ca) as s:
        return s.getpeercert()["serialNumber"]


class TlsTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = Pki()
        cls.cert, cls.key = cls.pki.issue("server", "ddbx one")
        cls.creds = os.path.join(cls.pki.dir, "credentials")
        with open(cls.creds, "w") as f:
            f.write("AKIDTLS tls-secret\n")
        os.chmod(cls.creds, 0o600)
        cls.moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(cls.moto.endpoint, "--tls-cert", cls.cert,
                                        "--tls-key", cls.key, "--credentials", cls.creds))
        cls.https = "https://127.0.0.1:%d" % cls.ddbx.port

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.pki.remove()

    def verified_client(self):
        return boto3.session.Session().client(
            "dynamodb", endpoint_url=self.https, region_name="us-east-1",
            aws_access_key_id="AKIDTLS", aws_secret_access_key="tls-secret",
            verify=self.pki.ca, config=Config(retries={"mode": "standard",
                                                       "total_max_attempts": 1}))

    def test_boto3_over_tls(self):
        c = self.verified_client()
        create_table(c, "tls_t")
        c.put_item(TableName="tls_t", Item={"pk": {"S": "a"}, "v": {"S": "over tls"}})
        before = self.ddbx.metrics()
        for _ in range(5):
            got = c.get_item(TableName="tls_t", Key={"pk": {"S": "a"}})
            self.assertEqual(got["Item"]["v"], {"S": "over tls"})
        grown = self.ddbx.metrics_since(before)
        self.assertGreaterEqual(grown["ddbx_item_cache_hits_total"], 4)
        self.assertEqual(grown["ddbx_auth_verified_total"], 5)
        self.assertGreater(self.ddbx.metric("ddbx_tls_handshakes_total"), 0)
        self.assertIn("over TLS", self.ddbx.log_text())

    def test_untrusted_ca_is_refused_by_the_client(self):
        c = boto3.session.Session().client(
            "dynamodb", endpoint_url=self.https, region_name="us-east-1",
            aws_access_key_id="AKIDTLS", aws_secret_access_key="tls-secret")
        with self.assertRaises(BotoSSLError):
            c.list_tables()

    def test_aws_cli_with_ca_bundle(self):
        c = self.verified_client()
        create_table(c, "tls_cli")
        c.put_item(TableName="tls_cli", Item={"pk": {"S": "k"}, "v": {"S": "cli"}})
        env = base_env(AWS_ACCESS_KEY_ID="AKIDTLS", AWS_SECRET_ACCESS_KEY="tls-secret",
                       AWS_CA_BUNDLE=self.pki.ca, AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        p = subprocess.run(["aws", "dynamodb", "get-item", "--table-name", "tls_cli", "--key",
                            '{"pk":{"S":"k"}}', "--endpoint-url", self.https, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["Item"]["v"], {"S": "cli"})

    def test_plain_http_and_old_tls_are_refused(self):
        failures = self.ddbx.metric("ddbx_tls_failures_total")
        with socket.create_connection(("127.0.0.1", self.ddbx.port), timeout=5) as s:
            s.sendall(api_request("ListTables", {}))
            self.assertEqual(s.recv(65536), b"")  # closed, no HTTP answer
        with self.assertRaises(ssl.SSLError), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1, on purpose
            tls_connect(self.ddbx.port, self.pki.ca, minimum_version=ssl.TLSVersion.TLSv1,
                        maximum_version=ssl.TLSVersion.TLSv1_1)
        wait_until(lambda: self.ddbx.metric("ddbx_tls_failures_total") >= failures + 2, 5.0,
                   what="both failures counted")
        with tls_connect(self.ddbx.port, self.pki.ca) as s:
            self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))

    def test_413_over_tls_read_after_sending_everything(self):
        with tls_connect(self.ddbx.port, self.pki.ca) as s:
            head = ("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %sPutItem\r\n"
                    "Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n"
                    % (TARGET_PREFIX, MAX_BODY + 1024 * 1024)).encode()
            s.sendall(head)
            chunk = b"x" * (1 << 20)
            for _ in range(17):  # the whole body, before reading anything
                s.sendall(chunk)
            status, body = read_response(s)
        self.assertEqual(status, 413)
        self.assertIn(b"RequestEntityTooLarge", body)

    def test_reload_on_sighup(self):
        c = self.verified_client()
        c.list_tables()  # a kept-alive connection, made with the first certificate
        accepted = self.ddbx.metric("ddbx_client_connections_accepted_total")
        first = serial_of(self.ddbx.port, self.pki.ca)
        new_cert, new_key = self.pki.issue("server2", "ddbx two")
        reloads = self.ddbx.metric("ddbx_reloads_total")
        try:
            shutil.copy(new_cert, self.cert)
            shutil.copy(new_key, self.key)
            self.ddbx.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: self.ddbx.metric("ddbx_reloads_total") >= reloads + 2, 5.0,
                       what="the reload (credentials and certificate)")
            self.assertNotEqual(serial_of(self.ddbx.port, self.pki.ca), first)
            c.list_tables()  # the open connection goes on with its own session
            self.assertEqual(self.ddbx.metric("ddbx_client_connections_accepted_total"),
                             accepted + 2)  # only the two serial_of connections
            # a key that does not match the certificate: refused, the new one stays
            second = serial_of(self.ddbx.port, self.pki.ca)
            _, other_key = self.pki.issue("server3", "ddbx three")
            shutil.copy(other_key, self.key)
            failures = self.ddbx.metric("ddbx_reload_failures_total")
            self.ddbx.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: self.ddbx.metric("ddbx_reload_failures_total") > failures, 5.0,
                       what="the failed reload")
            self.assertIn("the one loaded before stays in use", self.ddbx.log_text())
            self.assertEqual(serial_of(self.ddbx.port, self.pki.ca), second)
            c.list_tables()
        finally:
            shutil.copy(new_key, self.key)


if __name__ == "__main__":
    unittest.main()
