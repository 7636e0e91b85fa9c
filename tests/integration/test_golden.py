"""The golden request/response pairs of proto/golden/requests.json, sent
through the running binary.

After the file's `setup` (tables and items written through ddbx, so the
items are cached), every case is posted as a raw request; the answer must
have the expected status, error code (the text after '#' in __type) and
message fragment, or be exactly the expected JSON value. Cases marked
backend_reads 0 must be answered without any backend read (counted by the
FaultProxy between ddbx and moto). The C unit test test_golden.c and the
fuzzers use the same file.
"""
import json
import os
import urllib.request
import zlib

from harness import (DYNALITE_AUTH_HEADERS, Ddbx, FaultProxy, IntegrationTestCase, MotoServer,
                     client)

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "..", "proto", "golden", "requests.json")
READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


def post(endpoint, target, body):
    req = urllib.request.Request(endpoint + "/", data=body, method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target,
        **DYNALITE_AUTH_HEADERS})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class GoldenTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        with open(GOLDEN) as f:
            cls.golden = json.load(f)
        moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint))
        ddb = client(cls.ddbx.endpoint)
        for t in cls.golden["setup"]["tables"]:
            ddb.create_table(**t)
        for it in cls.golden["setup"]["items"]:  # wire JSON: boto3 would re-encode B values
            status, _, raw = post(cls.ddbx.endpoint, "DynamoDB_20120810.PutItem",
                                  json.dumps(it).encode())
            assert status == 200, raw

    def test_cases(self):
        self.assertGreaterEqual(len(self.golden["cases"]), 25)
        for case in self.golden["cases"]:
            with self.subTest(case=case["name"]):
                body = case.get("body_text")
                body = body.encode() if body is not None else json.dumps(case["body"]).encode()
                before = sum(self.proxy.count(op) for op in READS)
                status, headers, raw = post(self.ddbx.endpoint, case["target"], body)
                expect = case["expect"]
                self.assertEqual(status, expect["status"], raw[:300])
                self.assertEqual(int(headers["x-amz-crc32"]), zlib.crc32(raw))
                answer = json.loads(raw)
                if "error" in expect:
                    self.assertEqual(answer["__type"].split("#")[-1], expect["error"])
                if "message_contains" in expect:
                    self.assertIn(expect["message_contains"], answer.get("message", ""))
                if "body" in expect:
                    self.assertEqual(answer, expect["body"])
                for key in expect.get("body_has", []):
                    self.assertIn(key, answer)
                if expect.get("backend_reads") == 0:
                    self.assertEqual(sum(self.proxy.count(op) for op in READS), before,
                                     "answered from the cache, without backend reads")


if __name__ == "__main__":
    import unittest
    unittest.main()
