"""test_browser.py: a browser application uses ddbx from another origin.

Headless Chromium (Debian's chromium) loads a page served from one loopback
port; the page's script (js/browser.mjs: the JavaScript SDK v3, bundled with
esbuild from npm at test time) does a PutItem, a GetItem and a GetItem of a
missing table against ddbx on another port, which takes DynamoDB's CORS
answers (the preflight, Access-Control-Allow-Origin on every answer). The
page writes what the SDK answered into the DOM, which the test reads through
the DevTools protocol (over --remote-debugging-pipe: no extra client library)
once the page's script marks it done, however long the calls take.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from harness import JS_DIR, Ddbx, IntegrationTestCase, MotoServer, client, create_table, npm_ci

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ddbx from a browser</title></head>
<body><pre id="result"></pre><script src="bundle.js"></script></body></html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


class PageServer:
    """Serves a directory on a loopback port of its own: the page's origin."""

    def __init__(self, directory):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          partial(_QuietHandler, directory=directory))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class DevTools:
    """Headless Chromium driven through the DevTools protocol on
    --remote-debugging-pipe: commands go to its fd 3 and answers come from its
    fd 4, each a JSON message ended by a NUL byte."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--remote-debugging-pipe"]

    def __init__(self, profile):
        to_child, self.out = os.pipe()
        self.inp, from_child = os.pipe()

        def fds():  # in the child, before exec: its fds 3 and 4 are the pipe's ends
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([CHROMIUM, *self.FLAGS, "--user-data-dir=" + profile,
                                      "about:blank"], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, pass_fds=(3, 4),
                                     preexec_fn=fds)
        os.close(to_child)
        os.close(from_child)
        self.next_id = 0
        self.buf = b""

    def call(self, method, session=None, check=True, **params):
        """Sends one command and returns its result (check: fail on an error)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.inp, 65536)
                if not chunk:
                    raise AssertionError("Chromium closed its pipe:\n" + self.stderr_tail())
                self.buf += chunk
            raw, _, self.buf = self.buf.partition(b"\0")
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if check and "error" in answer:
                    raise AssertionError("%s: %s" % (method, answer["error"]))
                return answer.get("result", answer)

    def stderr_tail(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-2000:]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", check=False)
                self.proc.wait(10)
            except (OSError, AssertionError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for fd in (self.out, self.inp):
            try:
                os.close(fd)
            except OSError:
                pass
        self.log.close()


class BrowserTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(cls.moto.endpoint))
        create_table(client(cls.ddbx.endpoint), "browser_t")

    def bundle(self, out_dir):
        """js/browser.mjs and the SDK, bundled for the browser."""
        npm_ci("esbuild/bin/esbuild", "@aws-sdk/client-dynamodb/package.json")
        p = subprocess.run([os.path.join(JS_DIR, "node_modules", ".bin", "esbuild"), "browser.mjs",
                            "--bundle", "--format=iife", "--platform=browser",
                            "--outfile=" + os.path.join(out_dir, "bundle.js"),
                            "--log-level=warning"],
                           cwd=JS_DIR, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out_dir, "index.html"), "w") as f:
            f.write(PAGE)

    def page_result(self, url, profile, timeout=60.0):
        """Loads url in headless Chromium and returns the text of its
        <pre id="result"> once the page marks it done."""
        cdp = DevTools(profile)
        self.addCleanup(cdp.close)
        target = cdp.call("Target.createTarget", url=url)["targetId"]
        session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        done = ("(() => { const r = document.getElementById('result');"
                " return r && r.dataset.done ? r.textContent : null; })()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = cdp.call("Runtime.evaluate", session=session, expression=done,
                              returnByValue=True, check=False)
            value = answer.get("result", {}).get("value")
            if value is not None:
                return value
            time.sleep(0.1)
        self.fail("the page's script did not finish in %.0f s; Chromium said:\n%s"
                  % (timeout, cdp.stderr_tail()))

    def test_put_and_get_from_another_origin(self):
        self.assertTrue(os.access(CHROMIUM, os.X_OK), "no chromium (scripts/test installs it)")
        work = tempfile.mkdtemp(prefix="ddbx-it-browser-")
        self.addCleanup(shutil.rmtree, work, True)
        site = os.path.join(work, "site")
        os.mkdir(site)
        self.bundle(site)
        page = PageServer(site).start()
        self.addCleanup(page.stop)
        self.assertNotEqual(page.origin, self.ddbx.endpoint)  # another origin: CORS applies
        before = self.ddbx.metrics()
        result = json.loads(self.page_result("%s/index.html?endpoint=%s&table=browser_t"
                                             % (page.origin, self.ddbx.endpoint),
                                             os.path.join(work, "profile")))
        self.assertNotIn("failed", result, result.get("failed"))
        self.assertEqual(result["put"], 200)
        self.assertEqual(result["get"], 200)
        self.assertEqual(result["item"], {"pk": {"S": "from-the-browser"}, "n": {"N": "42"},
                                          "s": {"S": "héllo ✓"}})
        # an error answer reaches the page's code too (it carries the CORS header)
        self.assertEqual(result["error"], {"name": "ResourceNotFoundException", "status": 400})
        # the requests came through ddbx, the read from its cache
        after = self.ddbx.metrics()
        for op, n in (("PutItem", 1), ("GetItem", 2)):
            series = 'ddbx_requests_total{operation="%s"}' % op
            self.assertEqual(after.get(series, 0) - before.get(series, 0), n, op)
        got = client(self.ddbx.endpoint).get_item(TableName="browser_t",
                                                  Key={"pk": {"S": "from-the-browser"}})
        self.assertEqual(got["Item"]["s"], {"S": "héllo ✓"})


if __name__ == "__main__":
    import unittest
    unittest.main()
