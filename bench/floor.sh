#!/usr/bin/env bash
# bench/floor.sh: tracemart vs bench/floor (the same hops in plain hyper + one SQLite transaction, no
# telemetry, no validation) and tracemart with OTEL_SDK_DISABLED=true; builds bench/floor first
# (cargo --release, own target dir). ~7 min with the defaults.
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3. Loopback only; stops every process it started, also on Ctrl-C or error (bench/lib/bench.py);
# results under bench/results/<stamp>-floor/ (summary.md, runs.jsonl, raw wrk output).
# Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128" (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py floor
