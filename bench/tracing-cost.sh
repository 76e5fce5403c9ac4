#!/usr/bin/env bash
# bench/tracing-cost.sh: full tracing (every span exported to the embedded console) vs OTEL_SDK_DISABLED=true,
# alternating, each run on a fresh start. ~5 min with the defaults.
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3. Loopback only; stops every process it started, also on Ctrl-C or error (bench/lib/bench.py);
# results under bench/results/<stamp>-tracing-cost/ (summary.md, runs.jsonl, raw wrk output).
# Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128" (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py tracing-cost
