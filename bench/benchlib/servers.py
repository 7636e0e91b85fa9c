"""The servers a benchmark run talks to: the backend (moto, dynalite or any
URL), ddbx in front of it, and the nginx ceiling."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zlib

from . import items
from .procs import Server, free_port, http_get, pinned, wait_http, wait_port

BENCH_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
             "AWS_DEFAULT_REGION": "us-east-1"}


class Target:
    """What the load generator aims at, and the processes whose CPU and
    memory count as that target's (`servers`; `extra` are measured apart,
    e.g. the backend behind ddbx)."""

    def __init__(self, name, port, servers, extra=(), admin=None):
        self.name = name
        self.port = port
        self.servers = list(servers)
        self.extra = list(extra)
        self.admin = admin

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def metrics(self):
        return parse_metrics(http_get(f"http://{self.admin}/metrics")) if self.admin else {}


def parse_metrics(text):
    """Prometheus text -> {series: value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        try:
            out[series] = float(value)
        except ValueError:
            pass
    return out


def start_moto(reaper, tmp, cpu):
    port = free_port()
    cmd = pinned([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], cpu)
    srv = reaper.add(Server("moto", cmd, os.path.join(tmp, "moto.log")))
    wait_http(f"http://127.0.0.1:{port}/moto-api/", srv)
    return Target("moto", port, [srv])


def dynalite_bin(cache_dir):
    """dynalite's CLI, installed from npm into cache_dir once."""
    found = shutil.which("dynalite")
    if found:
        return [found]
    cli = os.path.join(cache_dir, "node_modules", "dynalite", "cli.js")
    if not os.path.exists(cli):
        os.makedirs(cache_dir, exist_ok=True)
        print(f"installing dynalite from npm into {cache_dir} ...", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", cache_dir, "dynalite"],
                       check=True, stdout=subprocess.DEVNULL)
    return ["node", cli]


def start_dynalite(reaper, tmp, cpu, cache_dir):
    port = free_port()
    cmd = pinned(dynalite_bin(cache_dir) + ["--port", str(port), "--host", "127.0.0.1",
                                            "--createTableMs", "0", "--deleteTableMs", "0",
                                            "--updateTableMs", "0"], cpu)
    srv = reaper.add(Server("dynalite", cmd, os.path.join(tmp, "dynalite.log")))
    wait_port(port, srv)
    return Target("dynalite", port, [srv])


def external_backend(url):
    m = re.match(r"^http://([^/:]+):(\d+)/?$", url)
    if not m or m.group(1) not in ("127.0.0.1", "localhost"):
        raise SystemExit("--backend-url must be http://127.0.0.1:PORT (the benchmark only loads loopback servers)")
    return Target("backend", int(m.group(2)), [])


def ddbx_flags(ddbx_path):
    """The option names this ddbx build knows (from --help)."""
    out = subprocess.run([ddbx_path, "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^\s+--([a-z0-9-]+)", out, re.M))


def start_ddbx(reaper, tmp, cpu, ddbx_path, backend, threads=1, extra_args=(), name="ddbx"):
    port, admin_port = free_port(), free_port()
    args = [ddbx_path, "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin_port}",
            "--backend", backend.url(), "--threads", str(threads), "--log-level", "warn"]
    env = dict(os.environ, **BENCH_ENV)
    env.pop("AWS_PROFILE", None)
    srv = reaper.add(Server(name, pinned(args + list(extra_args), cpu), os.path.join(tmp, f"{name}.log"),
                            env=env))
    wait_http(f"http://127.0.0.1:{admin_port}/healthz", srv)
    wait_port(port, srv)
    t = Target(name, port, [srv], extra=backend.servers, admin=f"127.0.0.1:{admin_port}")
    t.args = args[1:] + list(extra_args)
    return t


# ---- the ceiling -------------------------------------------------------------------------------

def canned_bodies(table, item_size, boards, batch):
    """Valid, fixed DynamoDB answers per operation, shaped like the real ones."""
    get = {"Item": items.item(0, item_size, boards)}
    batch_get = {"Responses": {table: [items.item(i, item_size, boards) for i in range(batch)]},
                 "UnprocessedKeys": {}}
    query = {"Items": [items.item(i, item_size, boards) for i in range(10)], "Count": 10, "ScannedCount": 10}
    compact = lambda v: json.dumps(v, separators=(",", ":"))
    return {
        "GetItem": compact(get),
        "BatchGetItem": compact(batch_get),
        "Query": compact(query),
        "UpdateItem": "{}",
        "PutItem": "{}",
        "BatchWriteItem": compact({"UnprocessedItems": {}}),
    }


CHUNK = 3000  # nginx refuses a config token longer than its 4 KiB read buffer


def nginx_config(tmp, port, bodies):
    """nginx answers every POST with the canned body of its X-Amz-Target.

    The body is the concatenation of chunk variables, each set by a `map` on
    the target (a plain `return 200 '...'` cannot hold more than ~4 KiB), and
    `x-amz-crc32` is the zlib CRC-32 of exactly those bytes."""
    for name, body in bodies.items():
        if any(ch in body for ch in "$'\\"):
            raise ValueError(f"canned {name} body has characters nginx would interpret")
    nchunks = max((len(b) + CHUNK - 1) // CHUNK for b in bodies.values())
    maps = []
    for k in range(nchunks):
        lines = [f"  map $http_x_amz_target $ceil_c{k} {{", "    default '';"]
        for name, body in bodies.items():
            part = body[k * CHUNK:(k + 1) * CHUNK]
            if part:
                lines.append(f"    DynamoDB_20120810.{name} '{part}';")
        lines.append("  }")
        maps.append("\n".join(lines))
    crc = ["  map $http_x_amz_target $ceil_crc {", "    default 0;"]
    for name, body in bodies.items():
        crc.append(f"    DynamoDB_20120810.{name} {zlib.crc32(body.encode())};")
    crc.append("  }")
    ret = "".join(f"$ceil_c{k}" for k in range(nchunks))
    return f"""# ddbx bench: the HTTP ceiling, written by bench/run.py
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  server_tokens off;
  client_body_buffer_size 64k;
  default_type application/x-amz-json-1.0;
{chr(10).join(maps)}
{chr(10).join(crc)}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      add_header x-amzn-RequestId BENCHCEILING0000000000000000000000000000000000000000 always;
      add_header x-amz-crc32 $ceil_crc always;
      return 200 "{ret}";
    }}
  }}
}}
"""


def start_nginx(reaper, tmp, cpu, bodies):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_config(tmp, port, bodies))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    srv = reaper.add(Server("nginx", pinned([nginx, "-c", conf, "-p", tmp + "/"], cpu),
                            os.path.join(tmp, "nginx.log")))
    wait_port(port, srv)
    return Target("nginx", port, [srv])


# ---- tables and data -----------------------------------------------------------------------------

def boto_client(url):
    import boto3
    from botocore.config import Config
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                        aws_secret_access_key="bench",
                        config=Config(retries={"max_attempts": 2}, read_timeout=120, connect_timeout=5))


def ensure_table(url, table, with_index):
    """Creates the table (pk S; by_score index on board S / score N when asked).
    Returns the marker item's attributes if an earlier run fully loaded it."""
    c = boto_client(url)
    try:
        c.describe_table(TableName=table)
    except c.exceptions.ResourceNotFoundException:
        spec = dict(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST")
        if with_index:
            spec["AttributeDefinitions"] += [{"AttributeName": "board", "AttributeType": "S"},
                                             {"AttributeName": "score", "AttributeType": "N"}]
            spec["GlobalSecondaryIndexes"] = [{
                "IndexName": "by_score",
                "KeySchema": [{"AttributeName": "board", "KeyType": "HASH"},
                              {"AttributeName": "score", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"}}]
        c.create_table(**spec)
        for _ in range(600):
            if c.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE":
                break
            time.sleep(0.1)
        return None
    got = c.get_item(TableName=table, Key={"pk": {"S": "loaded-marker"}}, ConsistentRead=True)
    return got.get("Item")


def mark_loaded(url, table, n):
    boto_client(url).put_item(TableName=table, Item={"pk": {"S": "loaded-marker"}, "items": {"N": str(n)}})
