#!/usr/bin/env python3
"""gen_botocore.py: DynamoDB requests signed by botocore's SigV4Auth, written
as fixtures for tests/unit/auth/test_verify.c (file botocore_requests.txt,
the format of sigv4_vectors.txt, described there).

Each case is a request as an SDK sends it to ddbx, signed at a fixed time
(botocore's clock is patched) and then, for some cases, changed the way an
attacker or a broken client would change it; `now` is ddbx's clock when it
verifies, `expect` the row of proto/auth_messages.tsv it must refuse with
(OK: accepted) and `message` DynamoDB's exact text for that refusal.

Regenerate (botocore in the default python3; the output is checked in):

    python3 tests/unit/auth/gen_botocore.py > tests/unit/auth/botocore_requests.txt
"""
import datetime
import json
import sys
from unittest import mock

import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# The principal the C test's keyring knows (AWS's documentation example key).
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//////////wEaDExampleSessionToken+ddbx=="
ENDPOINT = "http://127.0.0.1:8111/"
SIGNED_AT = datetime.datetime(2024, 1, 1, 0, 0, 0)
STAMP = "20240101T000000Z"


def at(minutes):
    t = SIGNED_AT + datetime.timedelta(minutes=minutes)
    return t.strftime("%Y%m%dT%H%M%SZ")


def signed(target="GetItem", body=None, key=KEY_ID, secret=SECRET, token=None,
           region="us-east-1", service="dynamodb", extra=None):
    """A request botocore signs as its DynamoDB client would, then prepares
    (adding Content-Length after signing, as botocore does)."""
    if body is None:
        body = {"TableName": "Music", "Key": {"Artist": {"S": "No One You Know"}}}
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810." + target,
        "User-Agent": "Boto3/1.34.0 md/Botocore#%s ua/2.0 os/linux" % botocore.__version__,
    }
    headers.update(extra or {})
    req = AWSRequest(method="POST", url=ENDPOINT, data=json.dumps(body), headers=headers)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNED_AT):
        SigV4Auth(Credentials(key, secret, token), service, region).add_auth(req)
    prepared = req.prepare()
    # The HTTP client sends Host from the URL; botocore signed that value.
    out = [("Host", botocore.auth._host_from_url(ENDPOINT))]
    out += [(k, v) for k, v in prepared.headers.items()]
    return out, prepared.body.decode() if isinstance(prepared.body, bytes) else prepared.body


def replace(headers, name, value):
    return [(k, value if k.lower() == name.lower() else v) for k, v in headers]


CASES = []


def case(name, request, now=STAMP, expect="OK", message=None):
    CASES.append((name, request, now, expect, message))


MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.")

case("good-getitem", signed())
case("good-putitem", signed("PutItem", {"TableName": "Music", "Item": {
    "Artist": {"S": "No One You Know"}, "SongTitle": {"S": "Call Me Today"},
    "Year": {"N": "2015"}, "Tags": {"SS": ["a", "b"]}}}))
case("good-batchgetitem", signed("BatchGetItem", {"RequestItems": {
    "Music": {"Keys": [{"Artist": {"S": "A"}}]}, "Albums": {"Keys": [{"Id": {"N": "1"}}]}}}))
case("good-clock-ahead-14min", signed(), now=at(14))
case("good-at-15min-boundary", signed(), now=at(15))
case("good-clock-behind-15min", signed(), now=at(-15))
case("wrong-secret", signed(secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY"),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("unknown-key", signed(key="AKIAI44QH8DHBEXAMPLE"), expect="UNKNOWN_KEY",
     message="The security token included in the request is invalid.")
case("expired", signed(), now=at(16), expect="EXPIRED",
     message="Signature expired: 20240101T000000Z is now earlier than 20240101T000100Z "
             "(20240101T001600Z - 15 min.)")
case("future-dated", signed(), now=at(-16), expect="NOT_YET_CURRENT",
     message="Signature not yet current: 20240101T000000Z is still later than "
             "20231231T235900Z (20231231T234400Z + 15 min.)")
h, b = signed()
case("unsigned-header-tampered", (replace(h, "User-Agent", "curl/7.88.1 (tampered)"), b))
case("unsigned-header-added", (h + [("X-Forwarded-For", "203.0.113.7")], b))
case("signed-header-tampered", (replace(h, "X-Amz-Target", "DynamoDB_20120810.DeleteItem"), b),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("signed-host-tampered", (replace(h, "Host", "127.0.0.1:8112"), b),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("body-tampered", (h, b.replace("No One You Know", "Someone Else")),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("body-appended", (h, b + " "), expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("wrong-region", signed(region="eu-west-1"), expect="SCOPE_REGION",
     message="Credential should be scoped to a valid region, not 'eu-west-1'.")
case("wrong-service", signed(service="s3"), expect="SCOPE_SERVICE",
     message="Credential should be scoped to correct service: 'dynamodb'.")
case("session-token-signed", signed(token=TOKEN))
h, b = signed()
case("session-token-unsigned", (h + [("X-Amz-Security-Token", TOKEN)], b),
     expect="TOKEN_UNSIGNED", message="The security token included in the request is invalid")
h, b = signed(token=TOKEN)
case("session-token-tampered", (replace(h, "X-Amz-Security-Token", TOKEN + "x"), b),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
body = {"TableName": "Music", "Key": {"Artist": {"S": "x"}}}
sha = botocore.auth.sha256(json.dumps(body).encode()).hexdigest()
case("content-sha256-signed", signed(body=body, extra={"X-Amz-Content-SHA256": sha}))
case("content-sha256-wrong", signed(body=body, extra={"X-Amz-Content-SHA256": "0" * 64}),
     expect="CONTENT_SHA256",
     message="The provided 'x-amz-content-sha256' header does not match what was computed.")
h, b = signed()
case("no-authorization", ([x for x in h if x[0] != "Authorization"], b), expect="MISSING_TOKEN",
     message="Request is missing Authentication Token")
auth = dict(h)["Authorization"]
no_sig = auth[:auth.index(", Signature=")]
case("authorization-without-signature", (replace(h, "Authorization", no_sig), b),
     expect="REQUIRES_SIGNATURE",
     message="Authorization header requires 'Signature' parameter. Authorization=" + no_sig)
case("wrong-algorithm", (replace(h, "Authorization", auth.replace("SHA256", "SHA512", 1)), b),
     expect="UNSUPPORTED_ALGORITHM",
     message="Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now).")
case("date-tampered", (replace(h, "X-Amz-Date", at(1)), b), now=at(1),
     expect="SIGNATURE_MISMATCH", message=MISMATCH)
case("good-server-clock-before-midnight", signed(), now=at(-2))
case("scope-date-mismatch", (replace(h, "X-Amz-Date", "20240102T000000Z"), b),
     now="20240102T000000Z", expect="SCOPE_DATE",
     message="Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
             "from HTTP: '20240101' != '20240102', from '20240102T000000Z'.")


def write(out):
    out.write("# Generated by tests/unit/auth/gen_botocore.py (botocore %s): do not edit.\n"
              % botocore.__version__)
    out.write("# Keyring: %s %s; server region us-east-1, service dynamodb.\n" % (KEY_ID, SECRET))
    for name, (headers, body), now, expect, message in CASES:
        out.write("=== %s service=dynamodb now=%s expect=%s\n" % (name, now, expect))
        if message:
            out.write("--- message: %s\n" % message)
        out.write("POST / HTTP/1.1\n")
        for k, v in headers:
            out.write("%s: %s\n" % (k, v))
        out.write("\n%s\n" % body)


if __name__ == "__main__":
    write(sys.stdout)
