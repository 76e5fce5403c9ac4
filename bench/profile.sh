#!/usr/bin/env bash
# bench/profile.sh [off]: where tracemart's CPU goes. perf record on the services and the console
# of a fresh `tracemart up` under wrk POST /orders (c=32), leaf functions grouped by process and
# category (the "Profile" table of docs/benchmarks.md). `off`: with OTEL_SDK_DISABLED=true.
# Needs perf (root), wrk, target/release/tracemart. Loopback only; stops what it started. ~1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-300} python3 bench/lib/profile.py "$@"
