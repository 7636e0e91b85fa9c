"""test_conformance.py: every answer ddbx composes itself is DynamoDB's (issue 9).

Each case goes over raw HTTP to ddbx (in front of moto, through a FaultProxy
that counts what reaches the backend) and to dynalite, which copies
DynamoDB's answers. Compared: the status, the __type, the message and the
member it comes in ("message", or "Message" for SerializationException), the
Content-Type and the CORS headers; bodies that are not JSON byte for byte.
Where dynalite differs from what the AWS documentation says DynamoDB does,
the case says so and follows DynamoDB.

What ddbx does not compose (a relayed answer) must be the backend's own: for
the malformed values ddbx leaves to the backend, ddbx's answer is compared
with moto's answer to the same request sent directly.

The groups, in the order DynamoDB judges a request:
  FrontTest      the HTTP front: 413, CORS preflight, GET health, 404,
                 body not JSON, unknown target, content types, CORS
  ValueTest      malformed AttributeValues in PutItem and BatchWriteItem items
                 (the full matrix of type names x JSON values) and in keys
  LimitTest      limits ddbx enforces locally (key sizes, item size, numbers,
                 nesting, batch and transaction sizes, duplicates)
  HandlerTest    ProjectionExpression inside a key, ConsumedCapacity, backend
                 answers with an empty body
  OwnAnswersTest ddbx's own answers (framing, connection cap, backend down),
                 which have no DynamoDB counterpart: their texts come from
                 proto/messages.tsv
"""
import base64
import binascii
import json
import os
import re
import socket
import zlib

from harness import (DYNALITE_AUTH_HEADERS, HERE, MAX_BODY, TARGET_PREFIX, Ddbx, Dynalite,
                     FaultProxy, IntegrationTestCase, MotoServer, RawHttp, free_port)

PROTO = os.path.join(os.path.dirname(os.path.dirname(HERE)), "proto")
AMZ = "application/x-amz-json-1.0"
JSON = "application/json"
CORS = ("access-control-allow-origin", "access-control-allow-headers",
        "access-control-allow-methods", "access-control-max-age")
HASH, RANGE = "conf_hash", "conf_range"


def tsv(name):
    """Rows of a proto/ table (comments and blank lines skipped), split on tabs."""
    with open(os.path.join(PROTO, name), encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f
                if line.strip() and not line.startswith("#")]


MESSAGES = {row[0]: (row[1], row[2]) for row in tsv("messages.tsv")}
LIMITS = {row[0]: (row[2], row[3]) for row in tsv("limits.tsv")}  # name: (error, message)


def exchange(port, method="POST", op=None, body=b"", content_type=AMZ, headers=None,
             auth=True, target=None):
    """One request on its own connection; its Response. body: bytes, str or a
    JSON-able value; op: an operation name (X-Amz-Target DynamoDB_20120810.<op>),
    or target: the X-Amz-Target header's value as it is; neither: no header."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s / HTTP/1.1" % method, "Host: 127.0.0.1:%d" % port]
    if content_type is not None:
        lines.append("Content-Type: %s" % content_type)
    if op is not None:
        target = TARGET_PREFIX + op
    if target is not None:
        lines.append("X-Amz-Target: %s" % target)
    if auth:
        lines += ["%s: %s" % kv for kv in DYNALITE_AUTH_HEADERS.items()]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    conn = RawHttp(port, timeout=10.0)
    try:
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return conn.read_response(head=method == "HEAD")
    finally:
        conn.close()


def mask_value(message):
    """DynamoDB prints the offending value of a length constraint as Java's
    toString ('{t=[com.amazonaws...WriteRequest@caad9cb8, ...]}', object hashes
    included), dynalite as JSON: only the rest of the text can be compared."""
    return re.sub(r"Value '.*?' at '", "Value '...' at '", message, flags=re.S)


def essence(resp):
    """What must be the same in two answers (a JSON 200 body is the backend's)."""
    e = {"status": resp.status, "content-type": resp.headers.get("content-type")}
    e.update({h: resp.headers.get(h) for h in CORS})
    if e["content-type"] in (AMZ, JSON) and resp.body:
        doc = json.loads(resp.body)
        if resp.status != 200:
            e["__type"] = doc.get("__type")
            e["text"] = sorted((k, mask_value(doc[k])) for k in ("message", "Message") if k in doc)
    else:
        e["body"] = resp.body
    return e


def error_of(resp):
    doc = json.loads(resp.body)
    return doc["__type"].rpartition("#")[2], doc.get("message", doc.get("Message"))


class ConformanceCase(IntegrationTestCase):
    """ddbx (before moto, through a counting proxy) and dynalite, with the
    same tables on both."""

    @classmethod
    def setUpClass(cls):
        cls.moto = cls.start_class(MotoServer())
        cls.proxy = cls.start_class(FaultProxy(cls.moto.endpoint))
        cls.ddbx = cls.start_class(Ddbx(cls.proxy.endpoint))
        cls.dyn = cls.start_class(Dynalite())
        cls.moto_port = int(cls.moto.endpoint.rpartition(":")[2])
        for port in (cls.ddbx.port, cls.dyn.port):
            for name, keys in ((HASH, ["pk"]), (RANGE, ["pk", "sk"])):
                resp = exchange(port, op="CreateTable", body={
                    "TableName": name, "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": k, "KeyType": t}
                                  for k, t in zip(keys, ("HASH", "RANGE"))],
                    "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"}
                                             for k in keys]})
                assert resp.status == 200, resp

    def both(self, **request):
        """The same request to ddbx and to dynalite: (ddbx's, dynalite's)."""
        return exchange(self.ddbx.port, **request), exchange(self.dyn.port, **request)

    def assertSameAnswer(self, mine, theirs, why=""):
        self.assertEqual(essence(mine), essence(theirs),
                         "ddbx %r\ndynalite %r %s" % (mine, theirs, why))
        for r in (mine, theirs):
            if "x-amz-crc32" in r.headers and int(r.headers["content-length"]) == len(r.body):
                self.assertEqual(int(r.headers["x-amz-crc32"]), zlib.crc32(r.body), r)
        self.assertTrue(mine.headers.get("x-amzn-requestid"), mine)

    def assertConforms(self, why="", backend=None, **request):
        """Sends request to both and compares; backend: the number of requests
        that may reach moto (None: not checked)."""
        before = self.proxy.count()
        mine, theirs = self.both(**request)
        self.assertSameAnswer(mine, theirs, why=why)
        if backend is not None:
            self.assertEqual(self.proxy.count() - before, backend,
                             "backend requests for %r" % (request,))
        return mine

    def assertDynamoDB(self, resp, status, code, text=None, member="message"):
        """An answer DynamoDB documents (where dynalite answers otherwise)."""
        self.assertEqual(resp.status, status, resp)
        doc = json.loads(resp.body)
        self.assertEqual(doc["__type"].rpartition("#")[2], code, resp)
        if text is not None:
            self.assertEqual(mask_value(doc.get(member, "")), mask_value(text), resp)


class FrontTest(ConformanceCase):
    """The HTTP front, in DynamoDB's order of checks (net/front.c)."""

    ORIGIN = {"Origin": "http://app.example:8080"}

    def test_health_answer(self):
        mine = self.assertConforms(method="GET", content_type=None, auth=False, backend=0)
        self.assertEqual(mine.body, b"healthy: dynamodb.us-east-1.amazonaws.com ")
        self.assertEqual(len(mine.body), 42)
        self.assertEqual(mine.headers["x-amz-crc32"], "3128867991")
        self.assertNotIn("content-type", mine.headers)
        # any path, any headers: still the health answer
        for path in ("/", "/anything?x=1"):
            conn_mine, conn_theirs = RawHttp(self.ddbx.port), RawHttp(self.dyn.port)
            try:
                for conn in (conn_mine, conn_theirs):
                    conn.send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                self.assertSameAnswer(conn_mine.read_response(), conn_theirs.read_response())
            finally:
                conn_mine.close()
                conn_theirs.close()
        self.assertConforms(method="GET", content_type=AMZ, op="ListTables",
                            headers=self.ORIGIN, backend=0)

    def test_cors_preflight(self):
        asked = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-amz-target,x-amz-date,"
                                                   "authorization,amz-sdk-invocation-id"}
        mine = self.assertConforms(method="OPTIONS", content_type=None, auth=False,
                                   headers=asked, backend=0)
        self.assertEqual((mine.status, mine.body), (200, b""))
        self.assertEqual(mine.headers["access-control-allow-origin"], "*")
        self.assertEqual(mine.headers["access-control-allow-headers"],
                         asked["Access-Control-Request-Headers"])
        self.assertEqual(mine.headers["access-control-allow-methods"], "POST")
        self.assertEqual(mine.headers["access-control-max-age"], "172800")
        # an Origin alone: no echoes
        self.assertConforms(method="OPTIONS", content_type=None, headers={"Origin": "null"})
        # OPTIONS without an Origin is no preflight: the 404 of other methods
        mine = self.assertConforms(method="OPTIONS", content_type=None)
        self.assertEqual(mine.status, 404)

    def test_other_methods_are_404(self):
        for method in ("PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                mine = self.assertConforms(method=method, op="ListTables", body={},
                                           backend=0)
                self.assertEqual((mine.status, mine.body), (404, b"<UnknownOperationException/>\n"))
                self.assertNotIn("content-type", mine.headers)
        # HEAD: the 404's headers, no body (as DynamoDB's front sends them)
        mine = self.assertConforms(method="HEAD", content_type=None)
        self.assertEqual((mine.status, mine.headers["content-length"]), (404, "29"))
        self.assertConforms(method="PUT", headers=self.ORIGIN)

    def test_content_types(self):
        for ctype, status in (("text/plain", 404), (None, 404), ("application/x-amz-json-1.1", 404),
                              ("Application/JSON", 404), ("application/xml", 404),
                              ("application/json", 200), ("application/json; charset=utf-8", 200),
                              ("application/x-amz-json-1.0;charset=UTF-8", 200)):
            with self.subTest(content_type=ctype):
                mine = self.assertConforms(op="ListTables", body={}, content_type=ctype)
                self.assertEqual(mine.status, status)
        # the answer comes in the request's own type, errors too
        for ctype in (AMZ, JSON):
            with self.subTest(errors_in=ctype):
                mine = self.assertConforms(target="Nope", body={}, content_type=ctype)
                self.assertEqual(mine.headers["content-type"], ctype)
                mine = self.assertConforms(op="GetItem", content_type=ctype,
                                           body={"TableName": HASH, "Key": {"pk": {"S": 5}}})
                self.assertEqual(mine.headers["content-type"], ctype)

    def test_body_that_is_not_json(self):
        for target in ("Foo.Bar", None) + tuple(TARGET_PREFIX + op for op in (
                "GetItem", "ListTables", "PutItem", "Query", "BatchGetItem")):
            for body in ("{bad", "not json", '{"TableName": "x"} trailing'):
                with self.subTest(target=target, body=body):
                    mine = self.assertConforms(target=target, body=body, backend=0)
                    self.assertEqual(mine.body,
                                     b'{"__type":"com.amazon.coral.service#SerializationException"}')
        # DescribeEndpoints, which ddbx answers itself: dynalite does not know it, DynamoDB
        # parses every body before it looks at the target
        resp = exchange(self.ddbx.port, op="DescribeEndpoints", body="{bad")
        self.assertDynamoDB(resp, 400, "SerializationException")
        self.assertEqual(json.loads(resp.body), {
            "__type": "com.amazon.coral.service#SerializationException"})

    def test_bodiless_requests(self):
        # an operation without a body: SerializationException without a text, in the
        # content type asked (application/json when none was named)
        for ctype in (AMZ, JSON, None):
            for target in ("ListTables", "GetItem", "PutItem", "BatchWriteItem"):
                with self.subTest(content_type=ctype, target=target):
                    mine = self.assertConforms(op=target, body=b"", content_type=ctype,
                                               backend=0)
                    self.assertEqual(error_of(mine), ("SerializationException", None))

    def test_unknown_targets(self):
        for target in ("Foo.Bar", "DynamoDB_20120810.NoSuchThing", "DynamoDB_20120810.getitem",
                       "DynamoDB_20120810", "DynamoDB_20120810.GetItem.X", ""):
            with self.subTest(target=target):
                mine = self.assertConforms(target=target, body={}, backend=0)
                self.assertEqual(error_of(mine), ("UnknownOperationException", None))
        self.assertConforms(target=None, body={}, backend=0)  # no X-Amz-Target at all
        # any JSON body is JSON: the target decides
        for body in ("[1,2]", '"s"', "5", "null"):
            self.assertConforms(target="Nope", body=body, backend=0)

    def test_origin_on_every_answer(self):
        with_origin = dict(headers=self.ORIGIN)
        self.assertConforms(op="ListTables", body={}, **with_origin)
        self.assertConforms(target="Nope", body={}, **with_origin)
        self.assertConforms(op="GetItem", body="{", **with_origin)
        self.assertConforms(op="GetItem", body={"TableName": HASH, "Key": {"pk": {"S": "o"}}},
                            **with_origin)
        self.assertConforms(op="PutItem",
                            body={"TableName": HASH, "Item": {"pk": {"S": "o"}, "n": {"N": "x"}}},
                            **with_origin)
        self.assertConforms(op="ListTables", body={}, content_type="text/plain",
                            **with_origin)
        self.assertConforms(op="ListTables", body=b"", content_type=None, **with_origin)

    def test_body_over_16_mib_first(self):
        # 413 comes before everything, CORS included. dynalite (node) answers it with
        # an empty chunked body and no CORS header; DynamoDB documents the 16 MB limit
        # but no body: ddbx keeps its JSON RequestEntityTooLarge body (proto/errors.tsv)
        # so SDKs name the error, and refuses before reading the body (test_http).
        head = ("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nX-Amz-Target: %sPutItem\r\n"
                "Origin: http://a\r\nContent-Length: %d\r\n\r\n" % (AMZ, TARGET_PREFIX, MAX_BODY + 1))
        statuses = []
        # ddbx answers at the headers (sending the body on would race its close);
        # dynalite reads the body until it is over the limit
        for port, body_bytes in ((self.ddbx.port, 0), (self.dyn.port, MAX_BODY + 1)):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            try:
                s.sendall(head.encode())
                chunk = b" " * (1024 * 1024)
                try:
                    while body_bytes > 0:
                        s.sendall(chunk[:body_bytes])
                        body_bytes -= min(body_bytes, len(chunk))
                except OSError:
                    pass  # it answered and closed before the whole body
                answer = b""
                while b"\r\n\r\n" not in answer:
                    part = s.recv(4096)
                    if not part:
                        break
                    answer += part
                statuses.append(int(answer.split(b" ", 2)[1]))
                self.assertNotIn(b"access-control-allow-origin", answer.lower())
            finally:
                s.close()
        self.assertEqual(statuses, [413, 413])


# ---------------------------------------------------------------- values

TYPES = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"]
VALUES = ["x", "", 5, -12, 1.5, 5.0, True, False, None, {}, {"S": "a"}, [], [1], ["a"], [True],
          [{"S": "a"}], ["AA=="], [None], ["1", "1.0"]]
# beyond the matrix: type names, several members, base64, strings read as booleans,
# numbers, sets, nesting, an attribute or an item that is no AttributeValue at all
EXTRA_VALUES = [
    {}, {"X": "a"}, {"s": "a"}, {"S": "a", "N": "1"}, {"NULL": True, "BOOL": True},
    {"S": "a", "X": "b"}, {"X": 5, "S": True}, {"S": 5, "N": True}, {"S": "a", "N": 5},
    {"S": None}, {"S": "a", "N": None},
    {"B": "QQ=="}, {"B": "QR=="}, {"B": "A==="}, {"B": "!!!!"}, {"B": "abc"}, {"BS": ["QQ==", "Q"]},
    {"BS": ["QQ==", "QQ=="]}, {"BOOL": "true"}, {"BOOL": "YES"}, {"BOOL": "0"}, {"NULL": "no"},
    {"NULL": "maybe"}, {"NULL": 1}, {"BOOL": 0.5},
    {"N": "abc"}, {"N": " 1"}, {"N": "NaN"}, {"N": "Infinity"}, {"N": "1e126"}, {"N": "1e-131"},
    {"N": "1" * 39}, {"N": "0x10"}, {"N": "1.5e3"}, {"NS": ["abc"]}, {"NS": [""]},
    {"SS": ["a", "a"]}, {"NS": ["1", "1"]}, {"N": 1e3},
    {"M": {"x": {"S": 5}}}, {"L": [{"N": True}]}, {"M": {"x": {}}}, {"L": [{}]},
    {"M": {"x": {"NULL": False}}}, {"L": [{"SS": []}]}, {"M": {"x": 5}}, {"L": [5]}, {"L": [[]]},
    {"M": {"x": {"S": "ok"}, "y": {"N": "1"}}},
]
ATTRIBUTES = ["x", 5, True, [], [{"S": "a"}]]  # an attribute's value that is no AttributeValue
ITEMS = ["x", 5, True, [], [{"S": "a"}]]  # an Item that is no map


def fatal_to_dynalite(v):
    """A JSON null inside a value that is otherwise well-formed reaches
    dynalite's validation, whose process dies of it; DynamoDB's answer is not
    known either. Such cases are not sent to dynalite (unsure() leaves them to
    the backend)."""
    def has_null(x):
        if isinstance(x, dict):
            return any(m is None or has_null(m) for m in x.values())
        if isinstance(x, list):
            return any(m is None or has_null(m) for m in x)
        return False
    return v is None or (has_null(v) and not (isinstance(v, dict) and value_misfit(v)))


BOOLEAN_WORDS = ("true", "false", "yes", "no", "1", "0")


def base64_flawed(s):
    """Base64 text whose flaw is not its length."""
    if len(s) % 4:
        return False
    try:
        return base64.b64encode(base64.b64decode(s, validate=True)).decode() != s
    except (binascii.Error, ValueError):
        return True


def misfit(name, m):
    """True when member `name` of an AttributeValue holds a JSON value of the
    wrong kind somewhere (what DynamoDB's deserializer refuses)."""
    def scalar(kind, x):
        if kind == "string":
            return not isinstance(x, str)
        if kind == "binary":
            return not isinstance(x, str) or len(x) % 4 != 0
        return not isinstance(x, bool) and not (isinstance(x, str) and x.lower() in BOOLEAN_WORDS)
    kinds = {"S": "string", "N": "string", "B": "binary", "BOOL": "boolean", "NULL": "boolean"}
    if name in kinds:
        return scalar(kinds[name], m)
    if name in ("SS", "NS", "BS"):
        return not isinstance(m, list) or any(
            e is not None and scalar("binary" if name == "BS" else "string", e) for e in m)
    if name == "L":
        return not isinstance(m, list) or any(value_misfit(e) for e in m if e is not None)
    if name == "M":
        return not isinstance(m, dict) or any(value_misfit(e) for e in m.values() if e is not None)
    return False


def value_misfit(v):
    return not isinstance(v, dict) or any(misfit(k, m) for k, m in v.items() if m is not None)


def unsure(v):
    """Where DynamoDB's own words are not certain, ddbx leaves the answer to the
    backend (proto/attr.c says why for each):
    - a decimal token with a whole value (5.0, 1e3) where a string or a boolean
      belongs: DynamoDB's parser and dynalite's (JavaScript: an integer) may differ;
    - base64 whose flaw is not its length (foreign characters, odd padding, a last
      symbol with unused bits set): dynalite answers them all with its own
      heuristic's 'Invalid last non-pad Base64 character dectected';
    - a null where a value belongs (dynalite's process dies of it);
    - two misfits in one value (DynamoDB names the first in document order,
      dynalite the first in its own order of types)."""
    if v is None:
        return True
    if isinstance(v, list):
        return any(unsure(e) for e in v)
    if not isinstance(v, dict):
        return False
    if sum(1 for k, m in v.items() if m is not None and misfit(k, m)) > 1:
        return True
    for k, m in v.items():
        if k in ("SS", "NS", "BS"):
            scalars = m if isinstance(m, list) else []  # a scalar for a list: certain
        else:
            scalars = [m]
        for x in scalars:
            if k in ("S", "N", "BOOL", "NULL", "SS", "NS") and isinstance(x, float) and x.is_integer():
                return True
            if k in ("B", "BS") and isinstance(x, str) and base64_flawed(x):
                return True
        if k in ("L", "BS", "SS", "NS") and isinstance(m, list) and None in m:
            return True
        if k == "L" and isinstance(m, list) and any(unsure(e) for e in m):
            return True
        if k == "M" and isinstance(m, dict) and any(unsure(e) for e in m.values()):
            return True
    return False


def local_answer(resp):
    """The answers ddbx gives itself for a malformed value: DynamoDB's
    deserializer (SerializationException) and the limits test backends do not
    enforce (numbers, item size)."""
    if resp.status != 400:
        return False
    code, text = error_of(resp)
    return code == "SerializationException" or any(
        s in text for s in ("numeric value", "significant digits", "Number overflow",
                            "Number underflow", "Item size has exceeded"))


class ValueTest(ConformanceCase):
    """Malformed AttributeValues: ddbx answers DynamoDB's words where they are
    certain, and otherwise relays the request so the backend's answer reaches
    the client unchanged."""

    def put(self, value, attribute="a"):
        item = {"pk": {"S": "v"}, attribute: value} if attribute else value
        return {"TableName": HASH, "Item": item}

    def batch(self, value, attribute="a"):
        item = {"pk": {"S": "v"}, attribute: value} if attribute else value
        return {"RequestItems": {HASH: [{"PutRequest": {"Item": item}}]}}

    def check(self, target, value, body, op, counts):
        """One variant (value, sent in body): compared with dynalite, or relayed
        to the backend."""
        if fatal_to_dynalite(value):
            theirs = None
        else:
            theirs = exchange(self.dyn.port, op=target, body=body)
        before = self.proxy.count(op)
        mine = exchange(self.ddbx.port, op=target, body=body)
        reached = self.proxy.count(op) - before
        relay = theirs is None or unsure(value) or not local_answer(theirs)
        if not relay:
            counts["answered"] += 1
            self.assertSameAnswer(mine, theirs)
            self.assertEqual(reached, 0, "ddbx's own answer, without the backend")
        elif theirs is not None and theirs.status == 200 and not unsure(value):
            counts["valid"] += 1  # DynamoDB takes it: so does ddbx, through the backend
            self.assertEqual(mine.status, 200, mine)
            self.assertEqual(reached, 1)
        else:
            counts["relayed"] += 1  # the backend's own answer, as it came
            direct = exchange(self.moto_port, op=target, body=body)
            self.assertEqual(reached, 1, "left to the backend: %r" % (body,))
            self.assertEqual(mine.status, direct.status, (mine, direct))
            if direct.headers.get("content-type", "").startswith(("application/x-amz-json",
                                                                  "application/json")):
                # (moto fails on some of these with an HTML 500: bodies that are not
                # JSON are HandlerTest.test_backend_answers_with_an_empty_body's)
                self.assertEqual(json.loads(mine.body), json.loads(direct.body))

    def run_matrix(self, target, op, make):
        counts = {"answered": 0, "valid": 0, "relayed": 0}
        variants = [{t: v} for t in TYPES for v in VALUES] + EXTRA_VALUES
        for value in variants:
            with self.subTest(op=op, value=value):
                self.check(target, value, make(value), op, counts)
        for value in ATTRIBUTES:
            with self.subTest(op=op, attribute=value):
                self.check(target, value, make(value), op, counts)
        for value in ITEMS:
            with self.subTest(op=op, item=value):
                self.check(target, value, make(value, attribute=None), op, counts)
        total = len(variants) + len(ATTRIBUTES) + len(ITEMS)
        self.assertEqual(sum(counts.values()), total)
        # most malformed values have one certain DynamoDB answer
        self.assertGreater(counts["answered"], total // 2, counts)
        print("%s: %d variants, %r" % (op, total, counts))

    def test_put_item_values(self):
        self.run_matrix("PutItem", "PutItem", self.put)

    def test_batch_write_item_values(self):
        self.run_matrix("BatchWriteItem", "BatchWriteItem", self.batch)

    def test_key_values(self):
        # keys are AttributeValues too: the same deserializer's words
        for key in ({"pk": {"S": 5}}, {"pk": {"S": True}}, {"pk": {"S": [1]}}, {"pk": {"S": {}}},
                    {"pk": "x"}, {"pk": [{"S": "a"}]}, {"pk": {"B": "abc"}}, {"pk": {"N": "abc"}},
                    {"pk": {"S": "a"}, "x": {"N": True}}):
            for op, body in (("GetItem", {"TableName": HASH, "Key": key}),
                             ("DeleteItem", {"TableName": HASH, "Key": key}),
                             ("BatchGetItem", {"RequestItems": {HASH: {"Keys": [key]}}})):
                with self.subTest(op=op, key=key):
                    self.assertConforms(op=op, body=body, backend=0)


# ---------------------------------------------------------------- limits

def nested(levels):
    v = {"S": "leaf"}
    for _ in range(levels):
        v = {"M": {"n": v}}
    return v


class LimitTest(ConformanceCase):
    """Limits DynamoDB enforces and test backends do not: ddbx answers them."""

    def test_key_sizes(self):
        for op, body in (
                ("PutItem", {"TableName": HASH, "Item": {"pk": {"S": "h" * 2049}}}),
                ("GetItem", {"TableName": HASH, "Key": {"pk": {"S": "h" * 2049}}}),
                ("DeleteItem", {"TableName": HASH, "Key": {"pk": {"S": "h" * 2049}}}),
                ("PutItem", {"TableName": RANGE, "Item": {"pk": {"S": "h"}, "sk": {"S": "r" * 1025}}}),
                ("GetItem", {"TableName": RANGE, "Key": {"pk": {"S": "h"}, "sk": {"S": "r" * 1025}}})):
            with self.subTest(op=op, table=body["TableName"]):
                mine = self.assertConforms(op=op, body=body, backend=0)
                self.assertEqual(mine.status, 400)
        _, text = error_of(exchange(self.ddbx.port, op="GetItem",
                                    body={"TableName": HASH, "Key": {"pk": {"S": "h" * 2049}}}))
        self.assertIn("limit of2048 bytes", text)  # sic: DynamoDB's text has no space

    def test_item_and_number_limits(self):
        for value in ({"S": "x" * (400 * 1024)}, {"N": "1" * 39}, {"N": "1E126"},
                      {"N": "-1E-131"}, {"N": "NaN"}, {"N": ""}):
            with self.subTest(value=str(value)[:40]):
                self.assertConforms(op="PutItem", backend=0, body={
                    "TableName": HASH, "Item": {"pk": {"S": "l"}, "v": value}})

    def test_nesting_depth(self):
        # DynamoDB documents 32 levels of nesting; dynalite enforces none and stores a
        # 33rd: ddbx answers as DynamoDB does
        ok = exchange(self.ddbx.port, op="PutItem",
                      body={"TableName": HASH, "Item": {"pk": {"S": "deep"}, "v": nested(31)}})
        self.assertEqual(ok.status, 200, ok)
        resp = exchange(self.ddbx.port, op="PutItem",
                        body={"TableName": HASH, "Item": {"pk": {"S": "deep"}, "v": nested(32)}})
        self.assertDynamoDB(resp, 400, "ValidationException", LIMITS["attr_depth"][1])

    def test_batch_get_item_sizes(self):
        keys = [{"pk": {"S": str(i)}} for i in range(101)]
        with self.subTest("over 100 keys for one table: the length constraint of its Keys"):
            self.assertConforms(op="BatchGetItem", backend=0,
                                body={"RequestItems": {HASH: {"Keys": keys}}})
        with self.subTest("over 100 keys over all tables: DynamoDB's 'Too many items' text"):
            self.assertConforms(op="BatchGetItem", backend=0, body={"RequestItems": {
                HASH: {"Keys": keys[:51]},
                RANGE: {"Keys": [{"pk": {"S": str(i)}, "sk": {"S": "s"}} for i in range(50)]}}})
        with self.subTest("duplicate keys"):
            self.assertConforms(op="BatchGetItem", backend=0, body={"RequestItems": {
                HASH: {"Keys": [{"pk": {"S": "d"}}, {"pk": {"S": "d"}}]}}})

    def test_batch_write_item_sizes(self):
        puts = [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(26)]
        with self.subTest("over 25 requests for one table: the length constraint of its list"):
            self.assertConforms(op="BatchWriteItem", backend=0,
                                body={"RequestItems": {HASH: puts}})
        with self.subTest("13 + 13 requests over two tables"):
            # dynalite takes them; DynamoDB documents at most 25 requests per call and
            # refuses more with this text
            resp = exchange(self.ddbx.port, op="BatchWriteItem", body={"RequestItems": {
                HASH: puts[:13],
                RANGE: [{"PutRequest": {"Item": {"pk": {"S": str(i)}, "sk": {"S": "s"}}}}
                        for i in range(13)]}})
            self.assertDynamoDB(resp, 400, "ValidationException",
                                LIMITS["batch_write_requests"][1])
        with self.subTest("duplicate keys"):
            self.assertConforms(op="BatchWriteItem", backend=0, body={"RequestItems": {
                HASH: [puts[0], puts[0]]}})

    def test_transact_write_items_sizes(self):
        # dynalite has no transactions; DynamoDB documents 1 to 100 actions (the
        # length-constraint text of every list member) and 4 MB per transaction
        checks = [{"ConditionCheck": {"TableName": HASH, "Key": {"pk": {"S": str(i)}},
                                      "ConditionExpression": "attribute_exists(pk)"}}
                  for i in range(101)]
        with self.subTest("over 100 actions"):
            resp = exchange(self.ddbx.port, op="TransactWriteItems",
                            body={"TransactItems": checks})
            self.assertDynamoDB(resp, 400, "ValidationException",
                                MESSAGES["transact_too_many"][1])
        big = [{"Put": {"TableName": HASH, "Item": {"pk": {"S": "t%d" % i},
                                                      "v": {"S": "x" * (350 * 1024)}}}}
               for i in range(12)]
        resp = exchange(self.ddbx.port, op="TransactWriteItems", body={"TransactItems": big})
        # the text DynamoDB sends for it is not documented: ddbx's table text
        self.assertDynamoDB(resp, 400, "ValidationException", LIMITS["transact_bytes"][1])


# ---------------------------------------------------------------- handlers

class HandlerTest(ConformanceCase):
    """Answers the handlers compose or pass on."""

    def test_projection_inside_a_key_attribute(self):
        key = {"pk": {"S": "proj"}}
        for port in (self.ddbx.port, self.dyn.port):
            exchange(port, op="PutItem", body={"TableName": HASH, "Item": {
                "pk": {"S": "proj"}, "m": {"M": {"a": {"S": "x"}}}}})
        for pe, names in (("#k.a", {"#k": "pk"}), ("pk[0]", None), ("pk.a", None),
                          ("m.a, #k[1]", {"#k": "pk"})):
            for consistent in (False, True):
                body = {"TableName": HASH, "Key": key, "ProjectionExpression": pe,
                        "ConsistentRead": consistent}
                if names:
                    body["ExpressionAttributeNames"] = names
                with self.subTest(pe=pe, consistent=consistent):
                    mine = self.assertConforms(op="GetItem", body=body)
                    self.assertEqual(error_of(mine)[1], (
                        "Key attributes must be scalars; list random access '[]' and map "
                        "lookup '.' are not allowed: Key: pk"))
                    # twice: the second would be a cache hit
                    self.assertConforms(op="GetItem", body=body)
        body = {"RequestItems": {HASH: {"Keys": [key], "ProjectionExpression": "pk.a"}}}
        self.assertConforms(op="BatchGetItem", body=body)

    def test_consumed_capacity(self):
        # ddbx reports what the caller's own read would have consumed, as DynamoDB
        # would have (README): an eventually consistent read of an item up to 4 KB is
        # 0.5, whether ddbx answered from its cache (hit) or filled it with a
        # consistent read (miss), for which DynamoDB reports 1.0 (moto reports 0.5
        # for any read: the fill's answer is DynamoDB's here, injected). The items are
        # written to the backends directly, so ddbx's first read of each is a miss.
        # (A consistent read of the caller's is relayed: its figure is the backend's.)
        item = {"pk": {"S": "cap"}, "v": {"S": "x"}}
        for port in (self.moto_port, self.dyn.port):
            exchange(port, op="PutItem", body={"TableName": HASH, "Item": item})
        fill = {"Item": item, "ConsumedCapacity": {"TableName": HASH, "CapacityUnits": 1.0}}
        self.proxy.inject("GetItem", "status", status=200, body=fill, once=True)
        for attempt in ("miss", "hit"):
            with self.subTest(attempt=attempt):
                body = {"TableName": HASH, "Key": {"pk": {"S": "cap"}},
                        "ReturnConsumedCapacity": "TOTAL"}
                mine, theirs = self.both(op="GetItem", body=body)
                self.assertEqual(json.loads(mine.body)["ConsumedCapacity"],
                                 json.loads(theirs.body)["ConsumedCapacity"])
        self.proxy.clear()
        item = {"pk": {"S": "cap-batch"}, "v": {"S": "x"}}
        for port in (self.moto_port, self.dyn.port):
            exchange(port, op="PutItem", body={"TableName": HASH, "Item": item})
        fill = {"Responses": {HASH: [item]}, "UnprocessedKeys": {},
                "ConsumedCapacity": [{"TableName": HASH, "CapacityUnits": 1.0}]}
        self.proxy.inject("BatchGetItem", "status", status=200, body=fill, once=True)
        body = {"RequestItems": {HASH: {"Keys": [{"pk": {"S": "cap-batch"}}]}},
                "ReturnConsumedCapacity": "TOTAL"}
        for attempt in ("miss", "hit"):
            with self.subTest(batch=attempt):
                mine, theirs = self.both(op="BatchGetItem", body=body)
                self.assertEqual(json.loads(mine.body)["ConsumedCapacity"],
                                 json.loads(theirs.body)["ConsumedCapacity"])
        self.proxy.clear()

    def test_backend_answers_with_an_empty_body(self):
        # TagResource and UntagResource answer 200 with an empty body (dynalite sends
        # '""'): a relayed answer goes back as the backend sent it, whatever its body
        arn = "arn:aws:dynamodb:us-east-1:123456789012:table/" + HASH
        for body in (b"", b'""'):
            for op, params in (("TagResource", {"ResourceArn": arn,
                                                "Tags": [{"Key": "k", "Value": "v"}]}),
                               ("UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]})):
                with self.subTest(op=op, body=body):
                    fault = self.proxy.inject(op, "status", status=200, body=body,
                                              content_type=AMZ, forward=True)
                    try:
                        resp = exchange(self.ddbx.port, op=op, body=params)
                    finally:
                        self.proxy.clear()
                    self.assertEqual((resp.status, resp.body), (200, body), resp)
                    self.assertEqual(int(resp.headers["x-amz-crc32"]), zlib.crc32(body))
                    self.assertTrue(fault is not None)


# ---------------------------------------------------------------- ddbx's own

class OwnAnswersTest(ConformanceCase):
    """Answers with no DynamoDB counterpart: DynamoDB-shaped, texts from
    proto/messages.tsv, in the request's content type."""

    def assertMessage(self, resp, name):
        error, text = MESSAGES[name]
        self.assertEqual(error_of(resp), (error, text), resp)

    def test_framing_refusals(self):
        conn = RawHttp(self.ddbx.port)
        try:
            conn.send(b"GARBAGE\r\n\r\n")
            resp = conn.read_response()
        finally:
            conn.close()
        self.assertEqual(resp.status, 400)
        self.assertMessage(resp, "http_malformed")
        self.assertIn("Message", json.loads(resp.body))  # SerializationException's member
        conn = RawHttp(self.ddbx.port)
        try:
            conn.send(b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 70000 + b"\r\n\r\n")
            resp = conn.read_response()
        finally:
            conn.close()
        self.assertEqual((resp.status, resp.reason), (431, "Request Header Fields Too Large"))
        self.assertMessage(resp, "http_headers_too_large")

    def test_connection_cap(self):
        d = self.start(Ddbx(self.proxy.endpoint, "--max-connections", "1"))
        held = RawHttp(d.port)
        try:
            held.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(held.read_response().status, 200)
            extra = RawHttp(d.port)
            try:
                resp = extra.read_response()
            finally:
                extra.close()
        finally:
            held.close()
        self.assertEqual((resp.status, resp.reason), (400, "Bad Request"))
        self.assertMessage(resp, "throttled")  # DynamoDB's ThrottlingException (issue 10)

    def test_backend_down(self):
        d = self.start(Ddbx("http://127.0.0.1:%d" % free_port(), "--backend-timeout", "2s"))
        for ctype in (AMZ, JSON):
            resp = exchange(d.port, op="ListTables", body={}, content_type=ctype)
            self.assertEqual(resp.status, 503)
            self.assertEqual(resp.headers["content-type"], ctype)
            self.assertMessage(resp, "backend_unreachable")


if __name__ == "__main__":
    import unittest
    unittest.main()
