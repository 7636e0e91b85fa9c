#!/bin/sh
# run.sh: builds the libFuzzer targets with clang and runs each one on its
# seed corpus for a while. See tests/fuzz/README.md.
#
# usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
#   SECONDS  time per target (default 60)
#   TARGET   http, json, number, projection, item, peer_msg, query, stream, positions, sigv4,
#            credentials, spill_record, front, resources (default: all)
# environment: DDBX_FUZZ_BUILD (build dir, default build-fuzz), DDBX_FUZZ_JOBS
#   (parallel fuzzing processes per target, default 1), DDBX_FUZZ_ARGS (extra
#   libFuzzer flags)
#
# New interesting inputs go to $DDBX_FUZZ_BUILD/corpus/<target>, crashes to
# $DDBX_FUZZ_BUILD/artifacts/<target>/; the checked-in corpus is only read.
# Exit status is non-zero when a fuzzer found a crash, leak or failed check.
set -eu

secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${DDBX_FUZZ_BUILD:-$root/build-fuzz}
jobs=${DDBX_FUZZ_JOBS:-1}
targets=${*:-http json number projection item peer_msg query stream positions sigv4 credentials spill_record front resources}

cmake -S "$root" -B "$build" -DDDBX_FUZZ=ON -DDDBX_TESTS=OFF -DCMAKE_C_COMPILER=clang \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)

status=0
cd "$build" # libFuzzer writes fuzz-N.log here when running parallel jobs
for t in $targets; do
    bin="$build/tests/fuzz/fuzz_$t"
    work="$build/corpus/$t"
    artifacts="$build/artifacts/$t/"
    mkdir -p "$work" "$artifacts"
    dict="" parallel=""
    [ "$jobs" -gt 1 ] && parallel="-jobs=$jobs -workers=$jobs"
    [ -f "$root/tests/fuzz/$t.dict" ] && dict="-dict=$root/tests/fuzz/$t.dict"
    echo "== fuzz_$t for ${secs}s (corpus $root/tests/fuzz/corpus/$t, new inputs in $work)"
    # shellcheck disable=SC2086
    if ! "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
          -artifact_prefix="$artifacts" $parallel $dict \
          ${DDBX_FUZZ_ARGS:-} "$work" "$root/tests/fuzz/corpus/$t"; then
        echo "fuzz_$t: FAILED; reproducers in $artifacts" >&2
        status=1
    fi
done
exit $status
