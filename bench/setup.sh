#!/usr/bin/env bash
# bench/setup.sh: what the benchmark needs beyond ddbx's own build, from
# Debian's packages, and a Release build of ddbx into build/.
#   nginx-light  the HTTP ceiling        gnuplot-nox  plots
#   libuv1-dev, libhttp-parser-dev       the load generator (bench/loadgen)
#   linux-perf   --profile               valgrind     the callgrind recipe
# Python needs boto3 (table creation) and moto (the default backend); node and
# npm are needed only for --backend dynalite (installed from npm on first use).
set -euo pipefail
source "$(dirname "$0")/../scripts/deps.sh"
ddbx_install_debs "${DDBX_DEBS[@]}" nginx-light gnuplot-nox linux-perf valgrind util-linux
python3 -c "import boto3, moto" 2>/dev/null || echo "note: python3 needs boto3 and moto (pip install boto3 'moto[server]')"
ddbx_build "$DDBX_ROOT/build" -DCMAKE_BUILD_TYPE=Release
make -s -C "$DDBX_ROOT/bench/loadgen" OUT="$(mktemp -d)" && echo "bench/loadgen builds"
echo "ready: bench/run.py --workload catalog"
