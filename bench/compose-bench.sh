#!/bin/sh
# compose-bench.sh: the bench profile of docker-compose.yml
# (`docker-compose --profile bench run --rm bench`). Creates the bench table
# through the first node (ddbx relays CreateTable to the backend), loads
# BENCH_ITEMS items with bench/loadgen's `load` workload, then runs the
# catalog workload (zipfian GetItem) for BENCH_DURATION seconds against each
# node in turn and prints ddbx-load's report. Nodes are HOST or HOST:PORT
# (port 8111 by default); ddbx-load wants addresses, so names are resolved.
set -eu
nodes=${BENCH_NODES:-"ddbx1 ddbx2 ddbx3"}
items=${BENCH_ITEMS:-10000}
duration=${BENCH_DURATION:-10}

host_of() { echo "${1%%:*}"; }
port_of() { case "$1" in *:*) echo "${1##*:}" ;; *) echo 8111 ;; esac; }
addr_of() { getent ahostsv4 "$(host_of "$1")" | awk '{ print $1; exit }'; }

first=$(echo "$nodes" | awk '{ print $1 }')
echo "== creating table bench through $first"
curl -sS -o /dev/null -w "CreateTable: HTTP %{http_code}\n" -X POST \
    "http://$(host_of "$first"):$(port_of "$first")/" \
    -H "Content-Type: application/x-amz-json-1.0" \
    -H "X-Amz-Target: DynamoDB_20120810.CreateTable" \
    -d '{"TableName":"bench","BillingMode":"PAY_PER_REQUEST",
         "KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],
         "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}]}'
echo "== loading $items items"
ddbx-load --host "$(addr_of "$first")" --port "$(port_of "$first")" --workload load \
    --items "$items" --duration 0 | sed 's/,"histogram_us".*/}/'
for n in $nodes; do
    echo "== catalog workload through $n for ${duration}s"
    ddbx-load --host "$(addr_of "$n")" --port "$(port_of "$n")" --workload catalog \
        --items "$items" --duration "$duration" | sed 's/,"histogram_us".*/}/'
done
