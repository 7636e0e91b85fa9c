#!/usr/bin/env bash
# check_format.sh: every tracked C file follows the committed .clang-format.
# Run from CTest; prints the files that differ (fix: clang-format -i FILE).
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 1; }
bad=0
while IFS= read -r f; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        bad=1
    fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')
exit $bad
