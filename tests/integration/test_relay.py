"""test_relay.py: every operation answers through ddbx exactly as moto answers directly.

Two fresh moto servers get the same sequence of calls, one directly and one
through ddbx. Each answer's HTTP status and JSON body must be equal once what
legitimately differs between two servers (creation times, table ids) is
blanked out. Every call through ddbx must also show in its per-operation
request count, so a test cannot pass by talking to the wrong server.
"""
import json
import unittest
import zlib

from botocore import xform_name
from botocore.exceptions import ClientError

from harness import (Ddbx, IntegrationTestCase, MotoServer, client, op_series)

# Fields that two moto servers fill differently for the same calls.
VOLATILE = {"CreationDateTime", "TableId", "LastIncreaseDateTime", "LastDecreaseDateTime",
            "LastUpdateDateTime", "LastUpdateToPayPerRequestDateTime",
            "EarliestRestorableDateTime", "LatestRestorableDateTime"}


def normalise(v):
    if isinstance(v, dict):
        return {k: ("<volatile>" if k in VOLATILE else normalise(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [normalise(x) for x in v]
    return v


def without_consumed_capacity(body):
    """What DynamoDB answers when ReturnConsumedCapacity was not asked for."""
    body = dict(body)
    body.pop("ConsumedCapacity", None)
    return body


class Side:
    """One client and the raw HTTP answer to its last call."""

    def __init__(self, endpoint):
        self.client = client(endpoint, attempts=1)
        self.last = None
        self.client.meta.events.register("after-call.dynamodb", self._keep)

    def _keep(self, http_response, **kwargs):
        self.last = http_response

    def call(self, op, params):
        """(parsed answer or None, error code or None, HTTP status, raw response)."""
        self.last = None
        try:
            parsed = getattr(self.client, xform_name(op))(**params)
            code = None
        except ClientError as e:
            parsed, code = e.response, e.response["Error"]["Code"]
        return parsed, code, self.last.status_code, self.last


class RelayTest(IntegrationTestCase):
    @classmethod
    def setUpClass(cls):
        direct_moto = cls.start_class(MotoServer())
        relayed_moto = cls.start_class(MotoServer())
        cls.ddbx = cls.start_class(Ddbx(relayed_moto.endpoint))
        cls.direct = Side(direct_moto.endpoint)
        cls.relayed = Side(cls.ddbx.endpoint)

    def both(self, op, expect_error=None, as_dynamodb=None, **params):
        """Calls op on both sides, asserts identical answers, returns ddbx's parsed one.

        as_dynamodb: where moto's answer deviates from DynamoDB's, a function that
        turns moto's JSON body into what DynamoDB answers (ddbx answers like
        DynamoDB); the caller asserts ddbx's side of the difference explicitly."""
        series = op_series("ddbx_requests_total", op)
        before = self.ddbx.metric(series)
        d_parsed, d_code, d_status, d_raw = self.direct.call(op, params)
        r_parsed, r_code, r_status, r_raw = self.relayed.call(op, params)
        self.assertEqual(self.ddbx.metric(series) - before, 1,
                         "%s did not go through ddbx exactly once" % op)
        self.assertEqual(r_code, expect_error, "%s: %r" % (op, r_parsed))
        self.assertEqual(d_code, expect_error, "%s direct: %r" % (op, d_parsed))
        self.assertEqual(r_status, d_status, op)
        direct_body = json.loads(d_raw.content or b"null")
        if as_dynamodb:
            direct_body = as_dynamodb(direct_body)
        self.assertEqual(normalise(json.loads(r_raw.content or b"null")),
                         normalise(direct_body), op)
        self.assertEqual(r_raw.headers["Content-Type"], "application/x-amz-json-1.0")
        self.assertEqual(int(r_raw.headers["x-amz-crc32"]), zlib.crc32(r_raw.content))
        return r_parsed

    # ---- table administration

    def test_table_lifecycle(self):
        name = "relay_lifecycle"
        created = self.both(
            "CreateTable", TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                       {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "N"},
                                  {"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        self.assertEqual(created["TableDescription"]["TableName"], name)
        self.both("CreateTable", expect_error="ResourceInUseException", TableName=name,
                  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                  BillingMode="PAY_PER_REQUEST")
        described = self.both("DescribeTable", TableName=name)
        self.assertEqual(described["Table"]["GlobalSecondaryIndexes"][0]["IndexName"], "by_g")
        self.assertIn(name, self.both("ListTables")["TableNames"])
        self.both("ListTables", Limit=1)
        updated = self.both("UpdateTable", TableName=name,
                            ProvisionedThroughput={"ReadCapacityUnits": 7,
                                                   "WriteCapacityUnits": 9})
        self.assertEqual(
            updated["TableDescription"]["ProvisionedThroughput"]["WriteCapacityUnits"], 9)
        self.both("DescribeTable", TableName=name)
        self.both("DeleteTable", TableName=name)
        self.both("DescribeTable", expect_error="ResourceNotFoundException", TableName=name)
        self.assertNotIn(name, self.both("ListTables")["TableNames"])

    def make_table(self, name, range_key=True):
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "N"})
        self.both("CreateTable", TableName=name, KeySchema=keys, AttributeDefinitions=attrs,
                  BillingMode="PAY_PER_REQUEST")

    # ---- items

    def test_item_operations(self):
        t = "relay_items"
        self.make_table(t)
        key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
        item = dict(key, s={"S": "héllo ✓"}, n={"N": "-12.50"}, b={"B": b"\x00\xff"},
                    ss={"SS": ["x", "y"]}, ns={"NS": ["1", "2.5"]}, l={"L": [{"S": "q"}, {"BOOL": True}]},
                    m={"M": {"inner": {"NULL": True}}})
        self.assertNotIn("Attributes", self.both("PutItem", TableName=t, Item=item,
                                                 ReturnValues="ALL_OLD"))
        old = self.both("PutItem", TableName=t, Item=dict(item, s={"S": "second"}),
                        ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
        self.assertEqual(old["Attributes"]["s"], {"S": "héllo ✓"})
        got = self.both("GetItem", TableName=t, Key=key)
        self.assertEqual(got["Item"]["s"], {"S": "second"})
        self.both("GetItem", TableName=t, Key=key, ConsistentRead=True,
                  ProjectionExpression="#s, m.inner, l[1]", ExpressionAttributeNames={"#s": "s"})
        self.assertNotIn("Item", self.both("GetItem", TableName=t,
                                           Key={"pk": {"S": "none"}, "sk": {"N": "1"}}))
        new = self.both("UpdateItem", TableName=t, Key=key,
                        UpdateExpression="SET s = :s, c = if_not_exists(c, :z) + :one "
                                         "REMOVE b ADD ss :more",
                        ExpressionAttributeValues={":s": {"S": "third"}, ":z": {"N": "0"},
                                                   ":one": {"N": "1"}, ":more": {"SS": ["z"]}},
                        ReturnValues="ALL_NEW")
        self.assertEqual(new["Attributes"]["c"], {"N": "1"})
        self.both("UpdateItem", TableName=t, Key=key, UpdateExpression="SET c = c + :one",
                  ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_OLD")
        self.both("UpdateItem", TableName=t, Key={"pk": {"S": "new"}, "sk": {"N": "9"}},
                  UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"S": "v"}})
        deleted = self.both("DeleteItem", TableName=t, Key=key, ReturnValues="ALL_OLD")
        self.assertEqual(deleted["Attributes"]["s"], {"S": "third"})
        self.assertNotIn("Item", self.both("GetItem", TableName=t, Key=key))
        self.both("DeleteItem", TableName=t, Key=key, ReturnValues="ALL_OLD")

    def test_query_and_scan(self):
        t = "relay_query"
        self.make_table(t)
        for pk in ("p", "q"):
            for i in range(8):
                self.both("PutItem", TableName=t,
                          Item={"pk": {"S": pk}, "sk": {"N": str(i)}, "odd": {"BOOL": i % 2 == 1}})
        q = dict(TableName=t, KeyConditionExpression="pk = :p AND sk BETWEEN :lo AND :hi",
                 ExpressionAttributeValues={":p": {"S": "p"}, ":lo": {"N": "2"}, ":hi": {"N": "6"}})
        self.assertEqual(self.both("Query", **q)["Count"], 5)
        self.both("Query", ScanIndexForward=False, **q)
        page = self.both("Query", Limit=2, **q)
        self.assertIn("LastEvaluatedKey", page)
        self.both("Query", Limit=2, ExclusiveStartKey=page["LastEvaluatedKey"], **q)
        self.both("Query", Select="COUNT", **q)
        self.both("Query", TableName=t, KeyConditionExpression="pk = :p",
                  FilterExpression="odd = :t", ProjectionExpression="sk",
                  ExpressionAttributeValues={":p": {"S": "q"}, ":t": {"BOOL": True}})
        scanned = self.both("Scan", TableName=t)
        self.assertEqual(scanned["Count"], 16)
        page = self.both("Scan", TableName=t, Limit=5)
        self.both("Scan", TableName=t, Limit=5, ExclusiveStartKey=page["LastEvaluatedKey"])
        self.both("Scan", TableName=t, FilterExpression="odd = :f",
                  ExpressionAttributeValues={":f": {"BOOL": False}})

    def test_batch_operations(self):
        t = "relay_batch"
        self.make_table(t, range_key=False)
        puts = [{"PutRequest": {"Item": {"pk": {"S": "k%02d" % i}, "v": {"N": str(i)}}}}
                for i in range(20)]
        written = self.both("BatchWriteItem", RequestItems={t: puts})
        self.assertEqual(written["UnprocessedItems"], {})
        self.both("BatchWriteItem", RequestItems={t: [
            {"DeleteRequest": {"Key": {"pk": {"S": "k00"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "k01"}, "v": {"N": "100"}}}}]})
        # moto answers every BatchGetItem with ConsumedCapacity; DynamoDB (and ddbx)
        # include it only when ReturnConsumedCapacity is TOTAL or INDEXES.
        got = self.both("BatchGetItem", as_dynamodb=without_consumed_capacity,
                        RequestItems={t: {
                            "Keys": [{"pk": {"S": "k%02d" % i}} for i in range(0, 12)]}})
        self.assertEqual(len(got["Responses"][t]), 11)
        self.assertNotIn("ConsumedCapacity", got)
        got = self.both("BatchGetItem", as_dynamodb=without_consumed_capacity,
                        RequestItems={t: {
                            "Keys": [{"pk": {"S": "k05"}}, {"pk": {"S": "absent"}}],
                            "ProjectionExpression": "v", "ConsistentRead": True}})
        self.assertEqual(got["Responses"][t], [{"v": {"N": "5"}}])
        self.assertNotIn("ConsumedCapacity", got)
        self.both("BatchGetItem", expect_error="ResourceNotFoundException",
                  RequestItems={"relay_no_such_table": {"Keys": [{"pk": {"S": "a"}}]}})

    def test_transactions(self):
        t = "relay_tx"
        self.make_table(t, range_key=False)
        self.both("TransactWriteItems", TransactItems=[
            {"Put": {"TableName": t, "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}}},
            {"Put": {"TableName": t, "Item": {"pk": {"S": "b"}, "n": {"N": "2"}}}},
            {"Update": {"TableName": t, "Key": {"pk": {"S": "c"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "3"}}}}])
        got = self.both("TransactGetItems", TransactItems=[
            {"Get": {"TableName": t, "Key": {"pk": {"S": k}}}} for k in ("a", "b", "c", "zz")])
        self.assertEqual([r.get("Item", {}).get("n") for r in got["Responses"]],
                         [{"N": "1"}, {"N": "2"}, {"N": "3"}, None])
        failed = self.both("TransactWriteItems", expect_error="TransactionCanceledException",
                           TransactItems=[
            {"Put": {"TableName": t, "Item": {"pk": {"S": "d"}}}},
            {"ConditionCheck": {"TableName": t, "Key": {"pk": {"S": "a"}},
                                "ConditionExpression": "n = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": t, "Key": {"pk": {"S": "b"}}}}])
        self.assertEqual(failed["ResponseMetadata"]["HTTPStatusCode"], 400)
        reasons = [r["Code"] for r in failed["CancellationReasons"]]
        self.assertEqual(reasons, ["None", "ConditionalCheckFailed", "None"])
        self.assertEqual(failed["CancellationReasons"][1]["Item"]["n"], {"N": "1"})
        self.assertNotIn("Item", self.both("GetItem", TableName=t, Key={"pk": {"S": "d"}}))

    def test_execute_statement(self):
        t = "relay_partiql"
        self.make_table(t, range_key=False)
        self.both("ExecuteStatement", Statement="INSERT INTO \"%s\" VALUE {'pk': 'x', 'n': 5}" % t)
        self.both("ExecuteStatement", Statement="UPDATE \"%s\" SET n = ? WHERE pk = 'x'" % t,
                  Parameters=[{"N": "6"}])
        sel = self.both("ExecuteStatement", Statement="SELECT * FROM \"%s\" WHERE pk = ?" % t,
                        Parameters=[{"S": "x"}])
        self.assertEqual(sel["Items"], [{"pk": {"S": "x"}, "n": {"N": "6"}}])
        self.both("ExecuteStatement", expect_error="ResourceNotFoundException",
                  Statement="SELECT * FROM relay_partiql_missing")

    def test_time_to_live(self):
        t = "relay_ttl"
        self.make_table(t, range_key=False)
        self.assertEqual(self.both("DescribeTimeToLive", TableName=t)
                         ["TimeToLiveDescription"]["TimeToLiveStatus"], "DISABLED")
        self.both("UpdateTimeToLive", TableName=t,
                  TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        desc = self.both("DescribeTimeToLive", TableName=t)["TimeToLiveDescription"]
        self.assertEqual(desc["AttributeName"], "expires")
        # moto's code for this one lacks the "Exception" suffix; relayed as it came
        self.both("DescribeTimeToLive", expect_error="ResourceNotFound",
                  TableName="relay_ttl_missing")

    def test_tags(self):
        t = "relay_tags"
        self.make_table(t, range_key=False)
        arn = self.both("DescribeTable", TableName=t)["Table"]["TableArn"]
        self.both("TagResource", ResourceArn=arn,
                  Tags=[{"Key": "team", "Value": "cache"}, {"Key": "env", "Value": "test"}])
        tags = self.both("ListTagsOfResource", ResourceArn=arn)["Tags"]
        self.assertEqual(sorted(x["Key"] for x in tags), ["env", "team"])
        self.both("UntagResource", ResourceArn=arn, TagKeys=["env"])
        self.assertEqual(self.both("ListTagsOfResource", ResourceArn=arn)["Tags"],
                         [{"Key": "team", "Value": "cache"}])

    def test_operations_without_special_handling(self):
        limits = self.both("DescribeLimits")
        self.assertIn("TableMaxReadCapacityUnits", limits)
        t = "relay_backups"
        self.make_table(t, range_key=False)
        self.both("DescribeContinuousBackups", TableName=t)
        self.both("UpdateContinuousBackups", TableName=t,
                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        self.both("DescribeContinuousBackups", TableName=t)

    # ---- errors keep their code and status

    def test_errors_keep_code_and_status(self):
        t = "relay_errors"
        self.make_table(t, range_key=False)
        self.both("PutItem", TableName=t, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
        cases = [
            ("GetItem", "ResourceNotFoundException",
             dict(TableName="relay_missing", Key={"pk": {"S": "a"}})),
            ("Query", "ResourceNotFoundException",
             dict(TableName="relay_missing", KeyConditionExpression="pk = :p",
                  ExpressionAttributeValues={":p": {"S": "a"}})),
            ("PutItem", "ConditionalCheckFailedException",
             dict(TableName=t, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")),
            ("UpdateItem", "ConditionalCheckFailedException",
             dict(TableName=t, Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :n",
                  ConditionExpression="v = :n", ExpressionAttributeValues={":n": {"N": "9"}},
                  ReturnValuesOnConditionCheckFailure="ALL_OLD")),
            ("DeleteItem", "ConditionalCheckFailedException",
             dict(TableName=t, Key={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(v)")),
            ("PutItem", "ValidationException", dict(TableName=t, Item={"other": {"S": "a"}})),
            ("UpdateItem", "ValidationException",
             dict(TableName=t, Key={"pk": {"S": "a"}}, UpdateExpression="SET pk = :v",
                  ExpressionAttributeValues={":v": {"S": "b"}})),
            ("Query", "ValidationException",
             dict(TableName=t, KeyConditionExpression="v = :v",
                  ExpressionAttributeValues={":v": {"N": "1"}})),
        ]
        for op, code, params in cases:
            with self.subTest(op=op, code=code):
                answer = self.both(op, expect_error=code, **params)
                self.assertEqual(answer["ResponseMetadata"]["HTTPStatusCode"], 400)
                self.assertTrue(answer["Error"]["Message"])
        item = self.both("GetItem", TableName=t, Key={"pk": {"S": "a"}})["Item"]
        self.assertEqual(item, {"pk": {"S": "a"}, "v": {"N": "1"}})

    def test_describe_endpoints_points_back_at_ddbx(self):
        before = self.ddbx.metric("ddbx_backend_requests_total")
        _, code, status, raw = self.relayed.call("DescribeEndpoints", {})
        self.assertEqual((code, status), (None, 200))
        self.assertEqual(json.loads(raw.content)["Endpoints"][0]["Address"], "127.0.0.1:%d" % self.ddbx.port)
        self.assertEqual(self.ddbx.metric("ddbx_backend_requests_total"), before)


if __name__ == "__main__":
    unittest.main()
