"""test_clients.py: other clients than boto3 work through ddbx unchanged.

The AWS CLI (`aws dynamodb ... --endpoint-url`) and the JavaScript SDK v3
(js/smoke.mjs, installed with npm into js/node_modules on first run).
"""
import json
import os
import subprocess
import unittest

from harness import HERE, Ddbx, IntegrationTestCase, MotoServer, base_env, op_series

JS_DIR = os.path.join(HERE, "js")


class ClientsTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(cls.moto.endpoint))

    def requests(self, op):
        return self.ddbx.metric(op_series("ddbx_requests_total", op))

    def aws(self, *args, fail=False):
        """Runs `aws dynamodb ARGS --endpoint-url ddbx`: its parsed JSON output, or with
        fail=True its stderr once it failed as for a service error (254 in CLI v2, 255 in v1)."""
        env = base_env(AWS_ACCESS_KEY_ID="AKIDCLITEST", AWS_SECRET_ACCESS_KEY="cli-secret",
                       AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
        p = subprocess.run(["aws", "dynamodb", *args, "--endpoint-url", self.ddbx.endpoint,
                            "--output", "json"], env=env, capture_output=True, text=True,
                           timeout=60)
        if fail:
            self.assertIn(p.returncode, (254, 255), "aws %s: %s" % (" ".join(args), p.stderr))
            return p.stderr
        self.assertEqual(p.returncode, 0, "aws %s: %s" % (" ".join(args), p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else None

    def test_aws_cli(self):
        before = {op: self.requests(op) for op in
                  ("CreateTable", "PutItem", "GetItem", "Query", "ListTables")}
        created = self.aws("create-table", "--table-name", "cli_t",
                           "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                           "AttributeName=sk,AttributeType=N",
                           "--key-schema", "AttributeName=pk,KeyType=HASH",
                           "AttributeName=sk,KeyType=RANGE",
                           "--billing-mode", "PAY_PER_REQUEST")
        self.assertEqual(created["TableDescription"]["TableName"], "cli_t")
        for sk in ("1", "2", "3"):
            self.aws("put-item", "--table-name", "cli_t", "--item",
                     json.dumps({"pk": {"S": "cli"}, "sk": {"N": sk}, "v": {"S": "v" + sk}}))
        got = self.aws("get-item", "--table-name", "cli_t", "--key",
                       json.dumps({"pk": {"S": "cli"}, "sk": {"N": "2"}}))
        self.assertEqual(got["Item"], {"pk": {"S": "cli"}, "sk": {"N": "2"}, "v": {"S": "v2"}})
        q = self.aws("query", "--table-name", "cli_t",
                     "--key-condition-expression", "pk = :p AND sk >= :s",
                     "--expression-attribute-values",
                     json.dumps({":p": {"S": "cli"}, ":s": {"N": "2"}}))
        self.assertEqual([i["sk"]["N"] for i in q["Items"]], ["2", "3"])
        self.assertIn("cli_t", self.aws("list-tables")["TableNames"])
        err = self.aws("get-item", "--table-name", "cli_missing", "--key",
                       json.dumps({"pk": {"S": "cli"}, "sk": {"N": "1"}}), fail=True)
        self.assertIn("ResourceNotFoundException", err)
        after = {op: self.requests(op) for op in before}
        self.assertEqual({op: after[op] - before[op] for op in before},
                         {"CreateTable": 1, "PutItem": 3, "GetItem": 2, "Query": 1,
                          "ListTables": 1})

    def npm_install(self):
        if os.path.isdir(os.path.join(JS_DIR, "node_modules", "@aws-sdk", "client-dynamodb")):
            return
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=JS_DIR,
                           capture_output=True, text=True, timeout=240)
        self.assertEqual(p.returncode, 0, "npm install failed:\n%s%s" % (p.stdout, p.stderr))

    def test_javascript_sdk_v3(self):
        self.npm_install()
        before = {op: self.requests(op) for op in
                  ("CreateTable", "PutItem", "GetItem", "Query", "DeleteItem")}
        env = base_env(AWS_ACCESS_KEY_ID="AKIDJSTEST", AWS_SECRET_ACCESS_KEY="js-secret")
        p = subprocess.run(["node", "smoke.mjs", self.ddbx.endpoint, "js_t"], cwd=JS_DIR,
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["create"], {"status": 200, "table": "js_t"})
        self.assertEqual(out["get"], {"pk": {"S": "js"}, "sk": {"S": "b"}, "n": {"N": "98"},
                                      "s": {"S": "v-b ✓"}})
        self.assertEqual(out["query"], {"count": 2, "sks": ["b", "c"]})
        self.assertEqual(out["deleted"]["s"], {"S": "v-a ✓"})
        self.assertIsNone(out["afterDelete"])
        self.assertEqual(out["error"]["name"], "ResourceNotFoundException")
        self.assertEqual(out["error"]["status"], 400)
        after = {op: self.requests(op) for op in before}
        self.assertEqual({op: after[op] - before[op] for op in before},
                         {"CreateTable": 1, "PutItem": 3, "GetItem": 3, "Query": 1,
                          "DeleteItem": 1})


if __name__ == "__main__":
    unittest.main()
