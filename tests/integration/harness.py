"""harness.py: what every integration test module uses.

- free_port(): a free loopback TCP port.
- MotoServer: moto_server on a free loopback port.
- Dynalite: dynalite (a DynamoDB imitation that copies DynamoDB's answers,
  from npm into js/node_modules) on a free loopback port.
- Ddbx: the ddbx binary ($DDBX_BIN, default <repo>/build/ddbx) on free ports,
  its stderr kept in a file, /metrics parsed into a dict.
- FaultProxy: an HTTP/1.1 proxy to put between ddbx and moto. It counts
  requests per operation and TCP connections accepted, records every request,
  and injects per-operation faults (delay, status, reset, hang, gate, hold),
  before or after the backend has acted on the request.
- client(): a boto3 DynamoDB client for an endpoint.
- RawHttp: a plain socket speaking HTTP/1.1, for the HTTP front's edge cases.
- IntegrationTestCase: a TestCase that prints the logs of the servers it
  started when a test fails.

Every server listens on 127.0.0.1 only and is stopped by whoever started it
(addCleanup / tearDownClass), so modules can run in parallel (ctest -j).
"""
import collections
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REGION = "us-east-1"
ACCESS_KEY = "AKIDDDBXTESTCLIENT"
SECRET_KEY = "ddbx-test-client-secret"
TARGET_PREFIX = "DynamoDB_20120810."
MAX_BODY = 16 * 1024 * 1024


def free_port():
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    return free_ports(1)[0]


def free_ports(n):
    """n distinct free ports: each socket stays bound until all are picked (one
    at a time, the kernel may hand the same port out twice in a row)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def base_env(**extra):
    """The environment for child processes: fixed dummy credentials and region,
    no shared credentials file, so nothing from the machine leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": "AKIDDDBXTESTBACKEND",
        "AWS_SECRET_ACCESS_KEY": "ddbx-test-backend-secret",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def http_get(url, timeout=2.0):
    """GET url: (status, body bytes); raises OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _die_with_parent():
    """In the child before exec: SIGKILL it when the test process dies, so a test
    killed by CTest's timeout leaves no servers behind."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class _Process:
    """A child process whose stdout/stderr go to a log file in its own temp dir.
    The dir is removed when the process is stopped; its log stays readable."""

    name = "process"
    _final_log = None

    def _spawn(self, argv, env):
        self.tmpdir = tempfile.mkdtemp(prefix="ddbx-it-%s-" % self.name)
        self.log_path = os.path.join(self.tmpdir, "%s.log" % self.name)
        self._log = open(self.log_path, "wb")
        self._final_log = None
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     preexec_fn=_die_with_parent)

    def _start_retrying(self, spawn, ready, timeout, port_taken):
        """spawn(), then polls ready() (which raises once the process died). When
        the log says port_taken (a port grabbed between free_port() and bind),
        tries again with new ports."""
        for _ in range(3):
            spawn()
            try:
                wait_until(ready, timeout, 0.02, "%s to answer" % self.name)
                return self
            except AssertionError:
                self._terminate(signal.SIGKILL)
                if port_taken not in self.log_text():
                    self.print_log()
                    raise
        raise RuntimeError("%s did not start: its ports kept being taken" % self.name)

    def _reap(self):
        """After the process exited: keep its log in memory, remove its temp dir."""
        self._log.close()
        self._final_log = self.log_text()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def log_text(self):
        if self._final_log is not None:
            return self._final_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def print_log(self, stream=sys.stderr, tail=60):
        lines = self.log_text().splitlines()[-tail:]
        print("---- %s log (%s) ----" % (self.name, self.log_path), file=stream)
        for line in lines:
            print(line, file=stream)
        state = "running" if self.alive() else "exited with %s" % (
            self.proc.returncode if self.proc else None)
        print("---- end of %s log (%s) ----" % (self.name, state), file=stream)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _terminate(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._final_log is None:
            self._reap()
        return self.proc.returncode


class MotoServer(_Process):
    """moto_server on a free loopback port. start() waits until it answers."""

    name = "moto"

    def __init__(self):
        self.proc = None
        self.port = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30.0):
        return self._start_retrying(self._spawn_once, self._answers, timeout,
                                    "Address already in use")

    def _spawn_once(self):
        self.port = free_port()
        self._spawn(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)], base_env())

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("moto_server exited with %s" % self.proc.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            c.request("POST", "/", body=b"{}", headers={
                "X-Amz-Target": TARGET_PREFIX + "ListTables",
                "Content-Type": "application/x-amz-json-1.0"})
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    def stop(self):
        return self._terminate(signal.SIGTERM, 5.0)


JS_DIR = os.path.join(HERE, "js")


def npm_ci(*packages):
    """Installs js/package-lock.json into js/node_modules unless every one of
    packages (e.g. "dynalite/cli.js") is there already (scripts/test runs
    npm ci itself). Raises with npm's output when it fails."""
    if all(os.path.exists(os.path.join(JS_DIR, "node_modules", p)) for p in packages):
        return
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("npm ci failed:\n%s%s" % (p.stdout, p.stderr))


class Dynalite(_Process):
    """dynalite (js/node_modules/dynalite) on a free loopback port, in memory,
    tables ACTIVE at once. Its answers copy DynamoDB's (status, __type,
    message, content type, CORS), which is what test_conformance compares
    ddbx's with. It wants an AWS4 Authorization header and X-Amz-Date on every
    API request (DYNALITE_AUTH_HEADERS) but checks no signature."""

    name = "dynalite"

    def __init__(self):
        self.proc = None
        self.port = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=30.0):
        npm_ci("dynalite/cli.js")
        return self._start_retrying(self._spawn_once, self._answers, timeout, "EADDRINUSE")

    def _spawn_once(self):
        self.port = free_port()
        cli = os.path.join(JS_DIR, "node_modules", "dynalite", "cli.js")
        self._spawn(["node", cli, "--host", "127.0.0.1", "--port", str(self.port),
                     "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
                    base_env())

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("dynalite exited with %s" % self.proc.returncode)
        try:
            return http_get(self.endpoint + "/", 1.0)[0] == 200
        except OSError:
            return False

    def stop(self):
        return self._terminate(signal.SIGTERM, 5.0)


# An Authorization header of the right form: what DynamoDB (and dynalite, and
# ddbx) checks before the operation's validation; ddbx without --credentials
# verifies no signature, so raw requests carry this one (api_request adds it).
DYNALITE_AUTH_HEADERS = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDDDBXTESTCLIENT/20250101/us-east-1/dynamodb/"
                     "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                     "Signature=0000000000000000000000000000000000000000000000000000000000000000",
    "X-Amz-Date": "20250101T000000Z",
}


def default_binary():
    return os.environ.get("DDBX_BIN") or os.path.join(REPO, "build", "ddbx")


class Ddbx(_Process):
    """The ddbx binary on free loopback ports.

    Ddbx(backend, "--backend-timeout", "1s", env={...}).start()
    .endpoint, .admin_url, .port, .metrics(), .metric(series), .metrics_since(before),
    .stop() -> exit code
    """

    name = "ddbx"

    def __init__(self, backend, *flags, env=None, binary=None, threads=2, host="127.0.0.1",
                 prefix=()):
        self.backend = backend
        self.flags = list(flags)
        self.extra_env = env or {}
        self.binary = binary or default_binary()
        self.threads = threads
        self.host = host  # where it listens (a network namespace's address: test_cluster)
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", NS]
        self.proc = None
        self.port = None
        self.admin_port = None

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def admin_url(self):
        return "http://%s:%d" % (self.host, self.admin_port)

    def _flag(self, name):
        if name in self.flags:
            return self.flags[self.flags.index(name) + 1]
        return None

    def start(self, timeout=10.0):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("no ddbx binary at %s (set DDBX_BIN or build first)" % self.binary)
        return self._start_retrying(self._spawn_once, self._ready, timeout, "cannot listen")

    def _spawn_once(self):
        # With --listen port 0 the kernel picks the port and ddbx logs it, which
        # no parallel test can race for; at quieter log levels pick one here.
        quiet = self._flag("--log-level") in ("warn", "error")
        listen_port = free_port() if quiet else 0
        self.admin_port = free_port()
        argv = self.prefix + [self.binary, "--listen", "%s:%d" % (self.host, listen_port),
                              "--admin", "%s:%d" % (self.host, self.admin_port),
                              "--backend", self.backend]
        if "--threads" not in self.flags:
            argv += ["--threads", str(self.threads)]
        self._spawn(argv + self.flags, base_env(**self.extra_env))
        self.port = listen_port or None

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("ddbx exited with %s" % self.proc.returncode)
        if self.port is None:
            m = re.search(r"serving the DynamoDB API on \S+ \(port (\d+)\)", self.log_text())
            if not m:
                return False
            self.port = int(m.group(1))
        try:
            return http_get(self.admin_url + "/healthz", 1.0)[0] == 200
        except OSError:
            return False

    def metrics(self):
        """/metrics as {series: value}, series being the full name with labels,
        e.g. 'ddbx_requests_total{operation="GetItem"}'."""
        status, body = http_get(self.admin_url + "/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d" % status)
        return parse_metrics(body.decode())

    def metric(self, series, default=0.0):
        return self.metrics().get(series, default)

    @staticmethod
    def stream_reading(table):
        """The series that reads 1 while this ddbx reads the table's stream."""
        return 'ddbx_stream_state{table="%s",state="reading"}' % table

    def wait_stream_reading(self, table, timeout=10):
        """Waits until this ddbx reads the table's stream (its start drops what
        it cached of the table)."""
        wait_until(lambda: self.metric(self.stream_reading(table)) == 1, timeout,
                   what="the stream reader of " + table)

    def metrics_since(self, before):
        """{series: growth since before = metrics()}; a series never seen reads 0."""
        now = self.metrics()
        return collections.defaultdict(float, {k: v - before.get(k, 0.0) for k, v in now.items()})

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig (SIGTERM), waits for the exit and returns the exit code."""
        return self._terminate(sig, timeout)

    def wait(self, timeout):
        """Waits for ddbx to exit on its own; returns the exit code."""
        code = self.proc.wait(timeout)
        self._reap()
        return code


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        out[series] = float(value)
    return out


def op_series(family, op):
    return '%s{operation="%s"}' % (family, op)


# ---------------------------------------------------------------- FaultProxy

class Fault:
    """One injected fault. kind: delay | status | reset | hang | gate | hold |
    truncate | reset_mid | corrupt.

    truncate: moto's answer with its full Content-Length but half its body,
    then the connection closes; reset_mid: the same, then a reset; corrupt:
    moto's answer with body bytes replaced (replace=(old, new)) under moto's own
    x-amz-crc32, as a damaged transfer would arrive.

    forward=True (status, reset, hang): the request reaches moto first and moto's
    answer is lost, as when a backend acts on a write but its answer never
    arrives. gated=True (status, reset): the request is held like a gate's
    until release(), then the fault happens.

    match: which requests of the operation the fault takes: a callable given
    the request's parsed JSON body (or None when it is not JSON), or a string
    that must occur in the raw body (e.g. a table name). Requests it does not
    take pass to the next fault of the operation, or to moto.
    after: gate, hold and hang faults let their requests go by themselves after
    this many seconds (0: only on release()).
    seconds: delay's length; a callable is called per request (random delays)."""

    def __init__(self, kind, once=False, seconds=0.0, status=500, body=None,
                 content_type="application/x-amz-json-1.0", forward=False, gated=False,
                 match=None, after=0.0, replace=(b"", b"")):
        self.kind = kind
        self.once = once
        self.forward = forward
        self.gated = gated
        self.match = match
        self.after = after
        self.replace = replace
        self.seconds = seconds
        self.status = status
        self.body = body
        self.content_type = content_type
        self.release_event = threading.Event()
        self.arrived = 0
        self.cond = threading.Condition()

    def _arrive(self):
        with self.cond:
            self.arrived += 1
            self.cond.notify_all()

    def wait_arrived(self, n=1, timeout=5.0):
        """Waits until n requests were held by this gate/hang/hold fault."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.arrived >= n, timeout):
                raise AssertionError("%d request(s) never reached the %s fault (got %d)"
                                     % (n, self.kind, self.arrived))

    def release(self):
        """Lets held requests (gate: forwarded, hang: connection dropped) go."""
        self.release_event.set()

    def takes(self, body):
        if self.match is None:
            return True
        if isinstance(self.match, (str, bytes)):
            m = self.match.encode() if isinstance(self.match, str) else self.match
            return m in body
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        return bool(self.match(doc))

    def wait_released(self, max_hold):
        """Blocks a held request until release(), `after` seconds, or max_hold."""
        self.release_event.wait(self.after if self.after else max_hold)

    def delay(self):
        return self.seconds() if callable(self.seconds) else self.seconds


Recorded = collections.namedtuple("Recorded", "op method path headers body conn")


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FaultProxy"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.conn_id = self.server.proxy._accepted()

    def do_GET(self):
        self._handle(b"")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._handle(body)

    def _read_chunked(self):
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def _handle(self, body):
        proxy = self.server.proxy
        target = self.headers.get("X-Amz-Target", "")
        op = target.rpartition(".")[2] if target else ""
        fault = proxy._record(Recorded(op, self.command, self.path,
                                       dict(self.headers.items()), body, self.conn_id))
        if fault is not None:
            if fault.kind == "hold":  # moto answers now; ddbx gets the answer on release
                answer = self._upstream(body)
                fault._arrive()
                fault.wait_released(proxy.max_hold)
                return self._answer(*answer)
            if fault.forward:
                self._upstream(body)  # moto acts on it; its answer is lost
            if fault.kind == "gate" or fault.gated:
                fault._arrive()
                fault.wait_released(proxy.max_hold)
            if fault.kind == "delay":
                time.sleep(fault.delay())
            elif fault.kind == "hang":
                fault._arrive()
                fault.wait_released(proxy.max_hold)
                self.close_connection = True
                return
            elif fault.kind == "reset":
                self._reset()
                return
            elif fault.kind == "status":
                return self._answer(fault.status, fault.body, fault.content_type, {})
            elif fault.kind in ("truncate", "reset_mid"):
                return self._partial(self._upstream(body), fault.kind == "reset_mid")
            elif fault.kind == "corrupt":
                status, data, ctype, keep = self._upstream(body)
                return self._answer(status, data.replace(*fault.replace), ctype, keep)
        self._forward(body)

    def _partial(self, answer, reset):
        """Headers promising the whole body, half of it, then a close or a reset."""
        status, data, ctype, keep = answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in keep.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        if reset:
            self._reset()
        self.close_connection = True

    def _reset(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.server.resets.add(self.connection)

    def _answer(self, status, body, content_type, headers):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        body = body or b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body):
        answer = self._upstream(body)
        try:
            self._answer(*answer)
        except OSError:  # ddbx gave up on this request (its timeout) and closed
            self.close_connection = True

    def _upstream(self, body):
        """Sends the request on to moto: (status, body, content type, headers to pass on)."""
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "transfer-encoding",
                                        "content-length", "expect")}
        c = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
        try:
            c.request(self.command, self.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            keep = {k: v for k, v in r.getheaders()
                    if k.lower() in ("x-amzn-requestid", "x-amz-crc32")}
            return r.status, data, r.getheader("Content-Type", "application/octet-stream"), keep
        finally:
            c.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy):
        self.proxy = proxy
        self.resets = set()
        super().__init__((proxy.host, 0), _ProxyHandler)

    def shutdown_request(self, request):
        if request in self.resets:  # a reset: no FIN first, just the RST of linger 0
            self.resets.discard(request)
            self.close_request(request)
        else:
            super().shutdown_request(request)


class FaultProxy:
    """An HTTP/1.1 proxy between ddbx and moto (keep-alive toward ddbx).

    proxy = FaultProxy(moto.endpoint).start()
    Ddbx(proxy.endpoint)...
    proxy.count("GetItem"), proxy.connections, proxy.requests (Recorded tuples)
    proxy.inject("GetItem", "status", status=500, body={...}, once=True)
    gate = proxy.inject("PutItem", "gate"); gate.wait_arrived(); gate.release()
    hold = proxy.inject("GetItem", "hold")  (moto reads now, ddbx gets it on release)
    proxy.inject("PutItem", "status", status=500, forward=True)  (written, answer lost)
    proxy.inject("PutItem", "gate", match="tableA", after=1.5)  (only tableA's, for 1.5 s)
    proxy.inject("*", "delay", seconds=lambda: random.uniform(0, 0.01))
    proxy.clear()  (drops faults and releases anything held)
    """

    max_hold = 60.0  # a held request is let go after this long, whatever happens

    def __init__(self, upstream, host="127.0.0.1"):
        self.host = host  # where it listens (a test network's address: test_cluster)
        m = re.match(r"http://([^:/]+):(\d+)", upstream)
        self.upstream_host, self.upstream_port = m.group(1), int(m.group(2))
        self._lock = threading.Lock()
        self._faults = {}
        self.counts = collections.Counter()
        self.requests = []
        self.connections = 0
        self.server = None

    def start(self):
        self.server = _ProxyServer(self)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.port)

    def stop(self):
        if self.server is None:
            return
        self.clear()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
        self.server = None

    def _accepted(self):
        with self._lock:
            self.connections += 1
            return self.connections

    def _record(self, rec):
        with self._lock:
            self.counts[rec.op] += 1
            self.requests.append(rec)
            faults = self._faults.get(rec.op) or self._faults.get("*")
            for i, fault in enumerate(faults or ()):
                if fault.takes(rec.body):
                    if fault.once:
                        faults.pop(i)
                    return fault
            return None

    def inject(self, op, kind, **kw):
        """Adds a fault for requests of op ('*': any operation without its own).
        Faults of one operation apply in the order added; once=True ones are used up."""
        fault = Fault(kind, **kw)
        with self._lock:
            self._faults.setdefault(op, []).append(fault)
        return fault

    def clear(self):
        with self._lock:
            faults = [f for fs in self._faults.values() for f in fs]
            self._faults.clear()
        for f in faults:
            f.release()

    def count(self, op=None):
        with self._lock:
            return sum(self.counts.values()) if op is None else self.counts[op]

    def bodies(self, op):
        with self._lock:
            return [r.body for r in self.requests if r.op == op]

    def snapshot(self):
        """(connections, Counter of operations) now, for deltas."""
        with self._lock:
            return self.connections, collections.Counter(self.counts)

    def ops_since(self, snapshot):
        """{operation: requests} received since snapshot(), operations without any left out."""
        return dict(self.snapshot()[1] - snapshot[1])


# ---------------------------------------------------------------- clients

def client(endpoint, attempts=None, timeout=10, access_key=ACCESS_KEY,
           secret_key=SECRET_KEY, session_token=None):
    """A boto3 DynamoDB client for endpoint. Tests about errors pass attempts=1
    (botocore's total_max_attempts: the first try included) so the SDK does not
    retry what they want to see; botocore's own max_attempts counts retries only."""
    retries = {"mode": "standard"}
    if attempts is not None:
        retries["total_max_attempts"] = attempts
    return boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=Config(retries=retries, connect_timeout=timeout, read_timeout=timeout))


def create_table(c, name, range_key=False, wait=True):
    """A PAY_PER_REQUEST table with string key pk (and sk when range_key)."""
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    return c.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
                          BillingMode="PAY_PER_REQUEST")


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def json(self):
        return json.loads(self.body)

    def error_code(self):
        return self.json().get("__type", "").rpartition("#")[2]

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


class RawHttp:
    """A plain TCP connection speaking HTTP/1.1 by hand."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by peer")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line.decode("latin-1")

    def read_response(self, head=False):
        """The next response, 1xx interim answers included, as a Response.
        head=True: the answer to a HEAD request (its Content-Length, no body)."""
        status_line = self._line()
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0")) if status >= 200 and not head else 0
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, parts[2] if len(parts) > 2 else "", headers, body)

    def at_eof(self, timeout):
        """True when the peer closes the connection within timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def call(self, op, body, **headers):
        """Sends one DynamoDB request and reads its answer."""
        self.send(api_request(op, body, **headers))
        return self.read_response()


AUTH_LINES = "".join("%s: %s\r\n" % kv for kv in DYNALITE_AUTH_HEADERS.items())


def api_request(op, body, target=None, extra=b"", auth=True, **headers):
    """The bytes of a DynamoDB POST for op (a dict body is JSON-encoded), with
    DYNALITE_AUTH_HEADERS unless auth=False or headers has an Authorization."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    lines = ["POST / HTTP/1.1", "Host: localhost",
             "Content-Type: application/x-amz-json-1.0",
             "X-Amz-Target: %s" % (target or TARGET_PREFIX + op),
             "Content-Length: %d" % len(body)]
    if auth and "Authorization" not in headers:
        lines += ["%s: %s" % kv for kv in DYNALITE_AUTH_HEADERS.items()]
    lines += ["%s: %s" % (k.replace("_", "-"), v) for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode() + extra + b"\r\n" + body


# ---------------------------------------------------------------- test case

class IntegrationTestCase(unittest.TestCase):
    """Prints the logs of the processes a test (or its class) started when it fails.

    self.start(obj) / cls.start_class(obj): start a MotoServer, Ddbx or
    FaultProxy, stopped again when the test (class) ends.
    """

    _class_procs = []

    @classmethod
    def start_class(cls, obj):
        if "_class_procs" not in cls.__dict__:
            cls._class_procs = []
        obj.start()
        cls._class_procs.append(obj)
        cls.addClassCleanup(obj.stop)
        return obj

    def start(self, obj):
        obj.start()
        self.__dict__.setdefault("_test_procs", []).append(obj)
        self.addCleanup(obj.stop)
        return obj

    def run(self, result=None):
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for p in self.__dict__.get("_test_procs", []) + list(type(self)._class_procs):
                if isinstance(p, _Process):
                    p.print_log()
        return out
