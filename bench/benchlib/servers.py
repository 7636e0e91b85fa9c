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


def start_ddbx(reaper, tmp, cpu, ddbx_path, backend, threads=1, extra_args=(), name="ddbx", wrap=None):
    """ddbx in front of backend. wrap(cmd) -> cmd runs it under a tool (callgrind)."""
    port, admin_port = free_port(), free_port()
    args = [ddbx_path, "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin_port}",
            "--backend", backend.url(), "--threads", str(threads), "--log-level", "warn"]
    env = dict(os.environ, **BENCH_ENV)
    env.pop("AWS_PROFILE", None)
    cmd = (wrap or (lambda c: c))(args + list(extra_args))
    srv = reaper.add(Server(name, pinned(cmd, cpu), os.path.join(tmp, f"{name}.log"), env=env))
    wait_http(f"http://127.0.0.1:{admin_port}/healthz", srv, timeout=120 if wrap else 30)
    wait_port(port, srv)
    t = Target(name, port, [srv], extra=backend.servers, admin=f"127.0.0.1:{admin_port}")
    t.args = args[1:] + list(extra_args)
    return t


# ---- the ceiling -------------------------------------------------------------------------------

def canned_bodies(table, item_size, boards, batch, ops=None):
    """Valid, fixed DynamoDB answers per operation, shaped like the real ones
    (only `ops` when given: a 400 KB item would make the batch and query
    answers 10 and 4 MB that nobody asks for)."""
    compact = lambda v: json.dumps(v, separators=(",", ":"))
    make = {
        "GetItem": lambda: compact({"Item": items.item(0, item_size, boards)}),
        "BatchGetItem": lambda: compact({"Responses": {table: [items.item(i, item_size, boards)
                                                               for i in range(batch)]},
                                         "UnprocessedKeys": {}}),
        "Query": lambda: compact({"Items": [items.item(i, item_size, boards) for i in range(10)],
                                  "Count": 10, "ScannedCount": 10}),
        "UpdateItem": lambda: "{}",
        "PutItem": lambda: "{}",
        "BatchWriteItem": lambda: compact({"UnprocessedItems": {}}),
    }
    return {name: f() for name, f in make.items() if ops is None or name in ops}


CHUNK = 3000  # nginx refuses a config token longer than its 4 KiB read buffer


def nginx_head(tmp, valgrind=False):
    """The common part of every nginx config the harness writes: one worker
    (or, under valgrind, no master at all), files in tmp, keep-alive forever."""
    return f"""daemon off;
worker_processes 1;
{"master_process off;" if valgrind else ""}
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
"""


def nginx_config(tmp, port, bodies, files=False, valgrind=False):
    """nginx answers every POST with the canned body of its X-Amz-Target.

    By default the body is the concatenation of chunk variables, each set by
    a `map` on the target (a plain `return 200 '...'` cannot hold more than
    ~4 KiB). With files=True each body is a file under tmp/canned served by
    the static module with sendfile (the cheapest way nginx has to send a
    large body, its descriptors kept open by open_file_cache): a POST is
    turned into an internal GET of the file through `error_page 405`, since
    the static module refuses POST. Either way
    `x-amz-crc32` is the zlib CRC-32 of exactly those bytes."""
    crc = ["  map $http_x_amz_target $ceil_crc {", "    default 0;"]
    for name, body in bodies.items():
        crc.append(f"    DynamoDB_20120810.{name} {zlib.crc32(body.encode())};")
    crc.append("  }")
    headers = """      add_header x-amzn-RequestId BENCHCEILING0000000000000000000000000000000000000000 always;
      add_header x-amz-crc32 $ceil_crc always;"""
    if files:
        os.makedirs(os.path.join(tmp, "canned"), exist_ok=True)
        names = ["  map $http_x_amz_target $ceil_file {", "    default none;"]
        for name, body in bodies.items():
            with open(os.path.join(tmp, "canned", name), "w") as f:
                f.write(body)
            names.append(f"    DynamoDB_20120810.{name} {name};")
        names.append("  }")
        return f"""# ddbx bench: the HTTP ceiling (static files), written by bench/run.py
{nginx_head(tmp, valgrind)}
{chr(10).join(names)}
{chr(10).join(crc)}
  sendfile on;
  open_file_cache max=64 inactive=1h;
  etag off;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      error_page 405 =200 /canned/$ceil_file;
      return 405;
    }}
    location /canned/ {{
      internal;
      root {tmp};
{headers}
    }}
  }}
}}
"""
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
    ret = "".join(f"$ceil_c{k}" for k in range(nchunks))
    return f"""# ddbx bench: the HTTP ceiling, written by bench/run.py
{nginx_head(tmp, valgrind)}
{chr(10).join(maps)}
{chr(10).join(crc)}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
{headers}
      return 200 "{ret}";
    }}
  }}
}}
"""


def nginx_proxy_config(tmp, port, backend_port, valgrind=False):
    """nginx as a reverse proxy to the backend with a keep-alive upstream pool:
    what relaying costs a proxy that neither parses nor signs."""
    return f"""# ddbx bench: nginx proxy_pass to the backend, written by bench/run.py
{nginx_head(tmp, valgrind)}
  upstream ddb_backend {{
    server 127.0.0.1:{backend_port};
    keepalive 128;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://ddb_backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffers 16 64k;
      proxy_buffer_size 64k;
    }}
  }}
}}
"""


def _nginx_home(tmp, name):
    """A directory of its own under tmp for one nginx (a run may start several)."""
    home, n = os.path.join(tmp, name), 1
    while os.path.exists(home):
        n += 1
        home = os.path.join(tmp, f"{name}-{n}")
    os.makedirs(home)
    return home


def _run_nginx(reaper, home, cpu, name, config, wrap):
    """Starts nginx with `config` (text) in its directory home."""
    conf = os.path.join(home, "nginx.conf")
    with open(conf, "w") as f:
        f.write(config)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return reaper.add(Server(name, pinned(wrap([nginx, "-c", conf, "-p", home + "/"]), cpu),
                             os.path.join(home, "nginx.log")))


def start_nginx(reaper, tmp, cpu, bodies, files=False, wrap=None):
    """The ceiling. wrap(cmd) -> cmd runs it under a tool (callgrind)."""
    port = free_port()
    home = _nginx_home(tmp, "nginx")
    if files:
        # nginx's worker runs as another user when started by root: it must be
        # able to reach the files (mkdtemp makes the run's directory 0700)
        os.chmod(tmp, os.stat(tmp).st_mode | 0o711)
    srv = _run_nginx(reaper, home, cpu, "nginx", nginx_config(home, port, bodies, files, bool(wrap)),
                     wrap or (lambda c: c))
    wait_port(port, srv, timeout=120 if wrap else 30)
    return Target("nginx", port, [srv])


def start_nginx_proxy(reaper, tmp, cpu, backend, wrap=None):
    port = free_port()
    home = _nginx_home(tmp, "nginx-proxy")
    srv = _run_nginx(reaper, home, cpu, "nginx-proxy",
                     nginx_proxy_config(home, port, backend.port, bool(wrap)), wrap or (lambda c: c))
    wait_port(port, srv, timeout=120 if wrap else 30)
    return Target("nginx-proxy", port, [srv], extra=backend.servers)


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
