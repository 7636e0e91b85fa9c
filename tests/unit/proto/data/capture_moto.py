#!/usr/bin/env python3
"""capture_moto.py: captures the DynamoDB and DynamoDB Streams answers the
proto/ unit tests parse (test_query.c, test_stream.c), as moto serves them.

Starts moto_server on a free loopback port (tests/integration/harness.py),
creates a table with a GSI, an LSI and a NEW_AND_OLD_IMAGES stream, a table
with a KEYS_ONLY stream and a table without one, writes through PutItem,
UpdateItem and DeleteItem, and saves the raw body of each answer as
moto_<name>.json next to this script. Re-run it to refresh them:

    python3 tests/unit/proto/data/capture_moto.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "integration"))
import harness  # noqa: E402

bodies = {}


def keep(name):
    """A botocore before-parse hook that saves the next answer under name."""
    def hook(response_dict=None, **_):
        bodies[name] = response_dict["body"]
    return hook


def call(client, name, op, **kwargs):
    handler = keep(name)
    client.meta.events.register("before-parse.*.*", handler)
    try:
        return getattr(client, op)(**kwargs)
    finally:
        client.meta.events.unregister("before-parse.*.*", handler)


def streams_client(endpoint):
    import boto3
    return boto3.session.Session().client(
        "dynamodbstreams", endpoint_url=endpoint, region_name=harness.REGION,
        aws_access_key_id=harness.ACCESS_KEY, aws_secret_access_key=harness.SECRET_KEY)


def create_tables(c):
    c.create_table(
        TableName="scores",
        KeySchema=[{"AttributeName": "board", "KeyType": "HASH"},
                   {"AttributeName": "player", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "board", "AttributeType": "S"},
                              {"AttributeName": "player", "AttributeType": "S"},
                              {"AttributeName": "score", "AttributeType": "N"},
                              {"AttributeName": "region", "AttributeType": "S"},
                              {"AttributeName": "when", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_score",
             "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                           {"AttributeName": "score", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by_region",
             "KeySchema": [{"AttributeName": "region", "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        LocalSecondaryIndexes=[
            {"IndexName": "by_when",
             "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                           {"AttributeName": "when", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["score"]}}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    c.create_table(
        TableName="events",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    c.create_table(
        TableName="plain",
        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "n", "AttributeType": "N"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})


def write(c):
    c.put_item(TableName="scores", Item={
        "board": {"S": "b1"}, "player": {"S": "ann"}, "score": {"N": "10"},
        "region": {"S": "eu"}, "when": {"N": "1700000000"}})
    c.update_item(TableName="scores", Key={"board": {"S": "b1"}, "player": {"S": "ann"}},
                  UpdateExpression="SET score = :s", ExpressionAttributeValues={":s": {"N": "12.50"}})
    c.put_item(TableName="scores", Item={"board": {"S": "b1"}, "player": {"S": "bob"},
                                         "score": {"N": "7"}})
    c.delete_item(TableName="scores", Key={"board": {"S": "b1"}, "player": {"S": "ann"}})
    c.put_item(TableName="events", Item={"id": {"B": b"\x00\x01"}, "v": {"S": "x"}})
    c.delete_item(TableName="events", Key={"id": {"B": b"\x00\x01"}})


def read_stream(c, s, table, prefix):
    arn = call(c, prefix + "describe_table", "describe_table",
               TableName=table)["Table"]["LatestStreamArn"]
    shards = call(s, prefix + "describe_stream", "describe_stream",
                  StreamArn=arn)["StreamDescription"]["Shards"]
    it = call(s, prefix + "get_shard_iterator", "get_shard_iterator", StreamArn=arn,
              ShardId=shards[0]["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    nxt = call(s, prefix + "get_records", "get_records", ShardIterator=it)["NextShardIterator"]
    call(s, prefix + "get_records_empty", "get_records", ShardIterator=nxt)


def main():
    moto = harness.MotoServer()
    moto.start()
    try:
        c = harness.client(moto.endpoint)
        s = streams_client(moto.endpoint)
        create_tables(c)
        write(c)
        read_stream(c, s, "scores", "")
        read_stream(c, s, "events", "keys_only_")
        call(c, "describe_table_plain", "describe_table", TableName="plain")
    finally:
        moto.stop()
    for name, body in sorted(bodies.items()):
        with open(os.path.join(HERE, "moto_%s.json" % name), "wb") as f:
            f.write(body)
        print("moto_%s.json: %d bytes" % (name, len(body)))


if __name__ == "__main__":
    main()
