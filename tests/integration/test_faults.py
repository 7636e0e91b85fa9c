"""test_faults.py: a failing backend, fault by fault (issue 10).

The FaultProxy between ddbx and moto delays, hangs, resets (before or in the
middle of an answer), answers 500/503 or a throttling error, truncates
bodies, damages bodies under moto's own x-amz-crc32, or refuses every
request for a while. Whatever happens:
- nothing ddbx acknowledged is missing from the backend;
- no error and no damaged value is ever cached (the next read of the key,
  once the backend is healthy, returns what the backend holds);
- hits keep being served while the backend is down;
- service resumes within 1 s of the backend coming back.
"""
import threading
import time
import unittest

from botocore.exceptions import ClientError

from test_cache import CacheTestCase, S, item, key

DDB_ERR = "com.amazonaws.dynamodb.v20120810#"


def error_body(name, message="injected"):
    return {"__type": DDB_ERR + name, "message": message}


# (kind, fault kwargs, status the client sees or None for "an error of some 5xx")
READ_FAULTS = [
    ("delay", dict(kind="delay", seconds=2.5), 500),       # past --backend-timeout 1s
    ("hang", dict(kind="hang", after=3.0), 500),
    # a reset before any byte of the answer on a kept-alive connection is
    # read again once on a fresh one (a stale keep-alive looks the same): 200
    ("reset", dict(kind="reset"), (200, 500)),
    ("reset mid-answer", dict(kind="reset_mid"), 500),
    ("truncated", dict(kind="truncate"), 500),
    ("500", dict(kind="status", status=500, body=error_body("InternalServerError")), 500),
    ("503", dict(kind="status", status=503, body=error_body("ServiceUnavailable")), 503),
    ("throttled", dict(kind="status", status=400,
                       body=error_body("ProvisionedThroughputExceededException")), 400),
    ("damaged body", dict(kind="corrupt", replace=(b"fine", b"FINE")), 500),
]


class FaultTest(CacheTestCase):

    ddbx_flags = ("--backend-timeout", "1s", "--write-holdoff", "2s")

    def status_of(self, call):
        try:
            call()
        except ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"]
        return 200

    def test_no_failed_or_damaged_read_is_ever_cached(self):
        t = self.table()
        for n, (name, fault, want) in enumerate(READ_FAULTS):
            with self.subTest(fault=name):
                pk = "r%d" % n
                self.direct.put_item(TableName=t, Item=item(pk, v=S("fine")))
                self.proxy.inject("GetItem", once=True, **fault)
                got = []
                status = self.status_of(lambda: got.append(self.get(t, key(pk), self.c1)))
                self.assertIn(status, want if isinstance(want, tuple) else (want,))
                self.proxy.clear()
                if status == 200:  # read again: the backend's value, cached
                    self.assertEqual(got, [item(pk, v=S("fine"))])
                else:  # healthy again: the backend's value, then a hit
                    with self.backend(GetItem=1):
                        self.assertEqual(self.get(t, key(pk), self.c1), item(pk, v=S("fine")))
                with self.backend():
                    self.assertEqual(self.get(t, key(pk), self.c1), item(pk, v=S("fine")))

    def test_nothing_acknowledged_is_missing_and_nothing_stale_is_served(self):
        t = self.table()
        write_faults = [f for f in READ_FAULTS if f[0] != "damaged body"]  # a write answers {}
        for n, (name, fault, _) in enumerate(write_faults):
            for forward in (False, True):
                with self.subTest(fault=name, applied=forward):
                    pk = "w%d%s" % (n, "f" if forward else "")
                    self.c.put_item(TableName=t, Item=item(pk, v=S("V0")))
                    self.get(t, key(pk))
                    kw = dict(fault)
                    if forward and (kw["kind"] in ("reset", "hang") or
                                    (kw["kind"] == "status" and kw["status"] >= 500)):
                        kw["forward"] = True  # applied, its answer lost
                    elif forward:
                        continue  # the other faults reach moto anyway, or never (throttling)
                    self.proxy.inject("PutItem", once=True, **kw)
                    status = self.status_of(lambda: self.c1.put_item(
                        TableName=t, Item=item(pk, v=S("V1"))))
                    # reads meanwhile never see V0 once V1 is in the backend...
                    if status != 200:
                        self.assertIn(self.get(t, key(pk), self.c1)["v"]["S"], ("V0", "V1"))
                    self.proxy.clear()
                    time.sleep(2.0)  # ...and once a delayed or held write has landed:
                    held = self.moto_item(t, key(pk))
                    if status == 200:
                        self.assertEqual(held, item(pk, v=S("V1")))
                    # whatever the backend holds is what ddbx answers, now and later
                    for _ in range(2):
                        self.assertEqual(self.get(t, key(pk), self.c1), held)
                    time.sleep(1.5)  # past --write-holdoff
                    self.assertEqual(self.get(t, key(pk), self.c1), held)

    def test_hits_served_while_the_backend_is_down_and_service_resumes(self):
        t = self.table()
        for i in range(20):
            self.c.put_item(TableName=t, Item=item("h%d" % i, v=S("x")))
            self.get(t, key("h%d" % i))
        down = self.proxy.inject("*", "reset")
        with self.backend():  # every hit, no backend request
            for i in range(20):
                self.assertEqual(self.get(t, key("h%d" % i), self.c1), item("h%d" % i, v=S("x")))
        # misses fail fast (no hang) with a 5xx while it is down
        t0 = time.monotonic()
        self.assertGreaterEqual(self.status_of(lambda: self.get(t, key("cold"), self.c1)), 500)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.proxy.clear()
        del down
        back = time.monotonic()
        while self.status_of(lambda: self.c1.list_tables()) != 200:
            self.assertLess(time.monotonic() - back, 1.0, "service did not resume within 1 s")
            time.sleep(0.02)
        self.assertEqual(self.get(t, key("cold"), self.c1), None)


if __name__ == "__main__":
    unittest.main()
