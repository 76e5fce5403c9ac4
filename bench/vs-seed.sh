#!/usr/bin/env bash
# bench/vs-seed.sh: tracemart vs the seed's Python system (peers/flask-seed): POST /orders with wrk and the peer's
# post_order.lua at 8, 32, 128 connections, alternating peer / tracemart (console) / tracemart exporting
# to the peer's discarding sink / the floor (bench/floor, built first; WITH_FLOOR=0 skips it), each run on
# a fresh start. ~11 min with the defaults.
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3, cargo (for the floor). Loopback only; stops every process it started, also on Ctrl-C or error (bench/lib/bench.py);
# results under bench/results/<stamp>-vs-seed/ (summary.md, runs.jsonl, raw wrk output).
# Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128" (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py vs-seed
