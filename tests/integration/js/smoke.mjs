// smoke.mjs ENDPOINT TABLE: the JavaScript SDK v3 through ddbx.
// Creates TABLE, writes, reads, queries and deletes, and prints one JSON
// object with what each call answered; ../test_clients.py asserts on it.
import {
  CreateTableCommand, DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";

const [endpoint, table] = process.argv.slice(2);
if (!endpoint || !table) {
  console.error("usage: node smoke.mjs ENDPOINT TABLE");
  process.exit(2);
}
const client = new DynamoDBClient({ endpoint, region: "us-east-1", maxAttempts: 1 });
const out = {};
const key = (sk) => ({ pk: { S: "js" }, sk: { S: sk } });

const created = await client.send(new CreateTableCommand({
  TableName: table,
  KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }, { AttributeName: "sk", KeyType: "RANGE" }],
  AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" },
                         { AttributeName: "sk", AttributeType: "S" }],
  BillingMode: "PAY_PER_REQUEST",
}));
out.create = { status: created.$metadata.httpStatusCode, table: created.TableDescription.TableName };

for (const sk of ["a", "b", "c"]) {
  await client.send(new PutItemCommand({
    TableName: table, Item: { ...key(sk), n: { N: String(sk.charCodeAt(0)) }, s: { S: `v-${sk} ✓` } },
  }));
}
const got = await client.send(new GetItemCommand({ TableName: table, Key: key("b") }));
out.get = got.Item;

const q = await client.send(new QueryCommand({
  TableName: table, KeyConditionExpression: "pk = :p AND sk > :s",
  ExpressionAttributeValues: { ":p": { S: "js" }, ":s": { S: "a" } },
}));
out.query = { count: q.Count, sks: q.Items.map((i) => i.sk.S) };

const del = await client.send(new DeleteItemCommand({
  TableName: table, Key: key("a"), ReturnValues: "ALL_OLD",
}));
out.deleted = del.Attributes;
out.afterDelete = (await client.send(new GetItemCommand({ TableName: table, Key: key("a") }))).Item ?? null;

try {
  await client.send(new GetItemCommand({ TableName: `${table}-missing`, Key: key("a") }));
  out.error = null;
} catch (e) {
  out.error = { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
}
console.log(JSON.stringify(out));
