"""test_browser.py: a browser application uses ddbx from another origin.

Headless Chromium (Debian's chromium) loads a page served from one loopback
port; the page's script (js/browser.mjs: the JavaScript SDK v3, bundled with
esbuild from npm at test time) does a PutItem, a GetItem and a GetItem of a
missing table against ddbx on another port, which takes DynamoDB's CORS
answers (the preflight, Access-Control-Allow-Origin on every answer). The
page writes what the SDK answered into the DOM; Chromium's --dump-dom hands
it back.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
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

    def dump_dom(self, url, profile):
        """The page's DOM once its script is done (Chromium's virtual time waits for
        the page's network requests)."""
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                            "--virtual-time-budget=20000", "--dump-dom", url],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return p.stdout

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
        dom = self.dump_dom("%s/index.html?endpoint=%s&table=browser_t"
                            % (page.origin, self.ddbx.endpoint), os.path.join(work, "profile"))
        m = re.search(r'<pre id="result" data-done="1">(.*?)</pre>', dom, re.S)
        self.assertIsNotNone(m, "the page's script did not finish:\n" + dom[-2000:])
        result = json.loads(m.group(1).replace("&lt;", "<").replace("&gt;", ">")
                            .replace("&quot;", '"').replace("&amp;", "&"))
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
