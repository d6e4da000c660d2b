#!/usr/bin/env bash
# Install the Debian packages spate needs, only those that are missing.
set -euo pipefail
pkgs=(gcc g++ make cmake pkg-config libjemalloc-dev liburing-dev libxxhash-dev libbenchmark-dev
      libcmocka-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
