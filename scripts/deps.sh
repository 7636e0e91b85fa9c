#!/usr/bin/env bash
# deps.sh: installs what building and testing ddbx needs from Debian's packages,
# skipping what is already there. Sourced by demo and test; run as root (or with sudo).
set -euo pipefail

DDBX_DEBS=(build-essential cmake pkg-config libuv1-dev liblmdb-dev libcurl4-openssl-dev
           libmsgpack-dev libcmocka-dev libhttp-parser-dev libyajl-dev libxxhash-dev
           zlib1g-dev libssl-dev curl)
# Node.js and npm (for the JavaScript SDK tests and dynalite): Debian's nodejs
# and npm packages, unless a node with a bundled npm is already installed.
command -v npm >/dev/null 2>&1 || DDBX_DEBS+=(nodejs npm)

ddbx_install_debs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing from Debian: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

ddbx_build() { # ddbx_build <dir> [cmake args...]
    local dir=$1; shift
    cmake -S "$DDBX_ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)"
}

DDBX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
