// browser.mjs: the page script of ../test_browser.py, bundled for the browser
// with esbuild at test time. The page's query string names the DynamoDB
// endpoint (ddbx, on another origin than the page) and a table; the script
// does a PutItem and a GetItem with the JavaScript SDK v3 and writes what they
// answered into <pre id="result"> as JSON, then marks it done.
import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";

const params = new URLSearchParams(window.location.search);
const out = document.getElementById("result");

async function run() {
  const client = new DynamoDBClient({
    endpoint: params.get("endpoint"),
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId: "AKIDBROWSERTEST", secretAccessKey: "browser-secret" },
  });
  const table = params.get("table");
  const item = { pk: { S: "from-the-browser" }, n: { N: "42" }, s: { S: "héllo ✓" } };
  const put = await client.send(new PutItemCommand({ TableName: table, Item: item }));
  const got = await client.send(new GetItemCommand({ TableName: table, Key: { pk: item.pk } }));
  let error = null;
  try {
    await client.send(new GetItemCommand({ TableName: table + "-absent", Key: { pk: item.pk } }));
  } catch (e) {
    error = { name: e.name, status: e.$metadata && e.$metadata.httpStatusCode };
  }
  return { put: put.$metadata.httpStatusCode, get: got.$metadata.httpStatusCode, item: got.Item,
           error };
}

run().then(
  (r) => { out.textContent = JSON.stringify(r); },
  (e) => { out.textContent = JSON.stringify({ failed: String(e && e.stack || e) }); },
).finally(() => out.setAttribute("data-done", "1"));
