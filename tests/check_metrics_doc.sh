#!/usr/bin/env bash
# Every metric ddbx exports (from a live /metrics) must be listed in docs/metrics.md.
set -euo pipefail
bin=$1 doc=$2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --listen 127.0.0.1:0 --admin "127.0.0.1:$port" --backend http://127.0.0.1:9 --threads 1 \
    --log-level error & pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/metrics" -o /tmp/ddbx-metrics.$$ && break; sleep 0.05; done
missing=0
for name in $(grep '^# TYPE' /tmp/ddbx-metrics.$$ | awk '{print $3}'); do
    grep -q "\`$name" "$doc" || { echo "not in $doc: $name"; missing=1; }
done
rm -f /tmp/ddbx-metrics.$$
[ $missing -eq 0 ] && echo "every exported metric is documented"
exit $missing
