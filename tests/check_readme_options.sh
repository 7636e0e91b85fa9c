#!/usr/bin/env bash
# The README's options table must be exactly what `ddbx --help-markdown` prints.
set -euo pipefail
bin=$1 readme=$2
expected=$("$bin" --help-markdown)
actual=$(sed -n '/<!-- options:begin -->/,/<!-- options:end -->/p' "$readme" | sed '1d;$d')
if [ "$expected" != "$actual" ]; then
    echo "README.md's options table differs from ddbx --help-markdown (run scripts/doc-tables):"
    diff <(echo "$expected") <(echo "$actual") || true
    exit 1
fi
echo "README options table matches ddbx --help-markdown"
