#!/usr/bin/env bash
# make run: the built-in line generator serves Zipf words on a loopback port and
# network_wordcount counts them per batch, printing each batch, for a few seconds.
set -euo pipefail
build=$1 port=$2 secs=$3
"$build/examples/line_generator" --port "$port" --seconds $((secs + 2)) --rate 100000 &
gen=$!
trap 'kill $gen 2>/dev/null || true' EXIT
sleep 0.3
"$build/examples/network_wordcount" 127.0.0.1 "$port" 1000 --seconds "$secs"
wait $gen 2>/dev/null || true
