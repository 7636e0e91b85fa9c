#!/usr/bin/env python3
"""trust.py: what verifying signatures and TLS cost per cache hit (issue 10).

Four ddbx processes (--threads 1) in front of one moto_server, each with the
same items cached:

  plain      no --credentials: only DynamoDB's pre-signature checks
  verified   --credentials: every request's SigV4 signature verified
  tls        --tls-cert/--tls-key, no --credentials
  tls+verif  both

Every target gets the same GetItem hits, signed before the measurement with
botocore's SigV4Auth (so signing and Python's speed are not measured) and
sent over one kept-alive connection in pipelined batches of --batch. Two
figures per target:

  instructions per hit  ddbx under callgrind (valgrind), counters zeroed after
                        the warm-up and dumped after the hits: Ir / hits. Other
                        load on this shared machine does not change it.
  CPU per hit           utime+stime of ddbx (not under valgrind) over the hits,
                        median of --rounds rounds run target after target, so
                        noise hits all alike; hits/s of that run (the Python
                        client is the limit: a figure for comparison only).

usage: bench/trust.py [--hits 20000] [--rounds 5] [--callgrind-hits 2000] [--out FILE]
Writes a Markdown report to stdout (and --out).
"""
import argparse
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib.procs import Reaper, Server, free_port, http_get, wait_http, wait_port  # noqa: E402

ROOT = os.path.dirname(HERE)
KEY_ID, SECRET = "AKIDBENCHTRUST", "bench-trust-secret"
TARGETS = ("plain", "verified", "tls", "tls+verif")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_cert(tmp):
    """A self-signed certificate for 127.0.0.1: (cert, key) paths."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", cwd=tmp)
    return os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")


def env():
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(AWS_ACCESS_KEY_ID="AKIDBENCHBACKEND", AWS_SECRET_ACCESS_KEY="x", AWS_REGION="us-east-1",
             AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull)
    return e


def signed_get(port, key, tls):
    """The bytes of a GetItem of `key`, signed now for 127.0.0.1:port."""
    body = json.dumps({"TableName": "bench_trust", "Key": {"pk": {"S": key}}}).encode()
    req = botocore.awsrequest.AWSRequest(
        method="POST", url="%s://127.0.0.1:%d/" % ("https" if tls else "http", port), data=body,
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": "DynamoDB_20120810.GetItem"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(KEY_ID, SECRET), "dynamodb",
                            "us-east-1").add_auth(req)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (port, len(body))
    head += "".join("%s: %s\r\n" % kv for kv in req.headers.items())
    return head.encode() + b"\r\n" + body


class Conn:
    """One kept-alive connection sending pipelined batches, reading whole answers."""

    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        self.s, self.buf = s, b""

    def _answer(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buf[:end]
                i = head.lower().find(b"content-length:")
                n = int(head[i + 15:].split(b"\r\n")[0])
                if len(self.buf) >= end + 4 + n:
                    status = int(head.split(b" ", 2)[1])
                    self.buf = self.buf[end + 4 + n:]
                    return status
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def run(self, requests, batch):
        """Sends requests (bytes) in pipelined batches; every answer must be 200."""
        for i in range(0, len(requests), batch):
            part = requests[i:i + batch]
            self.s.sendall(b"".join(part))
            for _ in part:
                status = self._answer()
                if status != 200:
                    raise RuntimeError("answer %d" % status)

    def close(self):
        self.s.close()


class Target:
    def __init__(self, name, backend, tmp, reaper, cert, callgrind):
        self.name, self.tls = name, name.startswith("tls")
        self.port, self.admin = free_port(), free_port()
        cmd = [os.path.join(ROOT, "build", "ddbx"), "--listen", "127.0.0.1:%d" % self.port,
               "--admin", "127.0.0.1:%d" % self.admin, "--backend", backend, "--threads", "1",
               "--item-ttl", "1h", "--log-level", "warn"]
        if name.endswith("verif") or name == "verified":
            creds = os.path.join(tmp, "credentials")
            cmd += ["--credentials", creds]
        if self.tls:
            cmd += ["--tls-cert", cert[0], "--tls-key", cert[1]]
        self.out = None
        if callgrind:
            self.out = os.path.join(tmp, "callgrind.%s.out" % name.replace("+", "_"))
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.out] + cmd
        log = os.path.join(tmp, "ddbx-%s%s.log" % (name.replace("+", "_"), "-cg" if callgrind else ""))
        self.server = reaper.add(Server("ddbx-" + name, cmd, log, env=env()))
        wait_port(self.port, self.server, timeout=120)
        wait_http("http://127.0.0.1:%d/healthz" % self.admin, self.server, timeout=120)

    def metric(self, name):
        for line in http_get("http://127.0.0.1:%d/metrics" % self.admin).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def requests(self, keys, n):
        return [signed_get(self.port, keys[i % len(keys)], self.tls) for i in range(n)]

    def callgrind(self, *args):
        subprocess.run(["callgrind_control", *args, str(self.server.pid)], check=True,
                       capture_output=True, timeout=120)


def callgrind_ir(path_prefix):
    """Ir summed over the dump files written for one process (the last dump)."""
    d, base = os.path.dirname(path_prefix), os.path.basename(path_prefix)
    dumps = sorted((f for f in os.listdir(d) if f.startswith(base)),
                   key=lambda f: os.path.getmtime(os.path.join(d, f)))
    with open(os.path.join(d, dumps[-1])) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no summary in %s" % dumps[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hits", type=int, default=20000, help="hits per target and round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--callgrind-hits", type=int, default=2000,
                    help="hits per target under callgrind (0: skip callgrind)")
    ap.add_argument("--batch", type=int, default=16, help="requests per pipelined batch")
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--out", help="also write the report here")
    args = ap.parse_args()

    reaper = Reaper()
    tmp = tempfile.mkdtemp(prefix="ddbx-bench-trust-")
    try:
        with open(os.path.join(tmp, "credentials"), "w") as f:
            f.write("%s %s\n" % (KEY_ID, SECRET))
        os.chmod(os.path.join(tmp, "credentials"), 0o600)
        cert = make_cert(tmp)
        moto_port = free_port()
        moto = reaper.add(Server("moto", ["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                 os.path.join(tmp, "moto.log"), env=env()))
        wait_port(moto_port, moto)
        backend = "http://127.0.0.1:%d" % moto_port
        import boto3
        ddb = boto3.client("dynamodb", endpoint_url=backend, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        ddb.create_table(TableName="bench_trust", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        keys = ["k%05d" % i for i in range(args.keys)]
        for k in keys:
            ddb.put_item(TableName="bench_trust",
                         Item={"pk": {"S": k}, "payload": {"S": "p" * 180}})

        def warm(t):
            c = Conn(t.port, t.tls)
            c.run(t.requests(keys, len(keys)), args.batch)  # every key cached
            c.run(t.requests(keys, 200), args.batch)
            return c

        load = os.getloadavg()
        rows = {name: {"cpu": [], "rate": []} for name in TARGETS}
        targets = [Target(name, backend, tmp, reaper, cert, False) for name in TARGETS]
        conns = {t.name: warm(t) for t in targets}
        for r in range(args.rounds):
            for t in targets[r % len(targets):] + targets[:r % len(targets)]:
                reqs = t.requests(keys, args.hits)
                hits0, cpu0, t0 = (t.metric("ddbx_item_cache_hits_total"),
                                   t.server.cpu_seconds(), time.monotonic())
                conns[t.name].run(reqs, args.batch)
                wall, cpu = time.monotonic() - t0, t.server.cpu_seconds() - cpu0
                assert t.metric("ddbx_item_cache_hits_total") - hits0 == args.hits
                rows[t.name]["cpu"].append(cpu / args.hits * 1e6)
                rows[t.name]["rate"].append(args.hits / wall)
        verified = {t.name: t.metric("ddbx_auth_verified_total") for t in targets}
        for c in conns.values():
            c.close()
        for t in targets:
            t.server.stop()
            reaper.procs.remove(t.server)

        ir = {}
        if args.callgrind_hits:
            for name in TARGETS:
                t = Target(name, backend, tmp, reaper, cert, True)
                c = warm(t)
                reqs = t.requests(keys, args.callgrind_hits)
                t.callgrind("--zero")
                c.run(reqs, args.batch)
                t.callgrind("--dump")
                ir[name] = callgrind_ir(t.out) / args.callgrind_hits
                c.close()
                t.server.stop()
                reaper.procs.remove(t.server)
        load_after = os.getloadavg()
    finally:
        reaper.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    out = ["| target | instructions per hit (callgrind) | vs plain | CPU µs per hit (median, min-max) "
           "| vs plain | hits/s (client-bound) |", "|---|---|---|---|---|---|"]
    base_cpu = statistics.median(rows["plain"]["cpu"])
    for name in TARGETS:
        cpu = rows[name]["cpu"]
        med = statistics.median(cpu)
        irs = ("%.0f" % ir[name]) if name in ir else "-"
        ir_ratio = ("%+.1f%%" % ((ir[name] / ir["plain"] - 1) * 100)) if name in ir else "-"
        out.append("| %s | %s | %s | %.2f (%.2f-%.2f) | %+.1f%% | %.0f |" % (
            name, irs, ir_ratio, med, min(cpu), max(cpu), (med / base_cpu - 1) * 100,
            statistics.median(rows[name]["rate"])))
    out.append("")
    out.append("%d hits per target and round, %d rounds, batches of %d, %d keys; callgrind: %d "
               "hits; signatures verified: %s; load average %.1f before, %.1f after."
               % (args.hits, args.rounds, args.batch, args.keys, args.callgrind_hits,
                  ", ".join("%s %d" % kv for kv in verified.items()), load[0], load_after[0]))
    report = "\n".join(out)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
