#!/usr/bin/env bash
# bench/instances.sh: one against two order service instances on the same PostgreSQL databases
# and RabbitMQ vhost (`tracemart up --postgres --broker`, plus `tracemart serve order` on another
# port with up's effective config), alternating, full tracing into the console, wrk POST /orders
# at 8, 32 and 128 connections with its threads spread over the instances (client-side balancing,
# so no load balancer shares the CPU measured). CPU per order counts PostgreSQL and RabbitMQ too.
# ~5 min with the defaults.
#
# Needs what bench/engines.sh needs: target/release/tracemart, wrk, python3, PostgreSQL and
# RabbitMQ running here (psql and rabbitmqctl on PATH). Results under
# bench/results/<stamp>-instances/. Knobs: DURATION=10 WARMUP=3 REPEATS=3 CONNECTIONS="8 32 128",
# WRK_THREADS=2 (at least 2: thread i goes to instance i mod 2), PG_URL, AMQP_URL (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
exec timeout --foreground --kill-after=30 ${BENCH_TIMEOUT:-1800} python3 bench/lib/bench.py instances
