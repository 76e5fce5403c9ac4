#!/usr/bin/env bash
# bench/engines.sh: the shop on its default engines (SQLite files, events in process over HTTP)
# against the same shop on PostgreSQL (one database per service) and RabbitMQ (events between order
# and payment), alternating, full tracing into the console, wrk POST /orders at 8, 32 and 128
# connections (fresh data, databases and vhost each run). CPU per order counts the PostgreSQL
# backends and RabbitMQ's beam.smp too. ~5 min with the defaults.
#
# Needs: target/release/tracemart (cargo build --release -p tracemart), wrk (apt-get install -y wrk),
# python3, PostgreSQL and RabbitMQ running on this machine (psql and rabbitmqctl on PATH: each run
# adds a vhost and drops its databases afterwards). Loopback only; results under
# bench/results/<stamp>-engines/. Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128",
# PG_URL, AMQP_URL (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py engines
