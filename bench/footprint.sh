#!/usr/bin/env bash
# bench/footprint.sh: `tracemart up` time until all ready (5 fresh + 5 existing data dirs) and the RSS of
# every process at rest, under load (wrk POST /orders, 32 and 128 connections, 30 s each) and after. ~2 min.
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3. Loopback only; stops every process it started, also on Ctrl-C or error (bench/lib/bench.py);
# results under bench/results/<stamp>-footprint/ (summary.md, runs.jsonl, raw wrk output).
# Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128" (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py footprint
