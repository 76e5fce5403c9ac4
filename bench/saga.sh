#!/usr/bin/env bash
# bench/saga.sh: the order saga under load. `tracemart up` with full tracing, wrk POST /orders at 8, 32
# and 128 connections (fresh data dir each run); after wrk stops, waits (at most SAGA_SETTLE_S, 60 s) until
# no order is left in status created, then reads the order service's database (read-only) for the time
# from each order's OrderCreated to its OrderConfirmed / OrderCancelled: p50/p90/p99/max of the orders
# created during the measured window, how many were unsettled when wrk stopped, how long the backlog took
# to drain, the outcomes; the relay's lag and outbox backlog from /metrics every 0.5 s; the spans, log records
# and traces the console stored per order. ~5 min with the defaults (up to ~14 min if every run needs the
# whole wait).
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3. Loopback only; stops every process it started, also on Ctrl-C or error (bench/lib/bench.py);
# results under bench/results/<stamp>-saga/ (summary.md, runs.jsonl, raw wrk output).
# Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128" SAGA_SETTLE_S=60 (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py saga
