#!/usr/bin/env python3
"""Where tracemart's CPU goes: `tracemart up` (fresh data dir, benchmark ports) under wrk
POST /orders at 32 connections, `perf record -F 499 -g` on the services and the console for
15 s, then the leaf function of each sample grouped by process and by category.

    python3 bench/lib/profile.py [off]     (off: OTEL_SDK_DISABLED=true)

With CALLGRAPH=1 it records call graphs instead (`--call-graph dwarf`, 199 Hz, 8 s) and prints,
per process, the share of samples that have each of tracemart's, the OTel / tracing crates',
reqwest's, serde's and SQLite's entry functions on their stack (inclusive cost).

Needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1. Writes
bench/results/profile/perf-<full|off>.data and prints the table of docs/benchmarks.md.
"""

import collections
import os
import re
import subprocess
import sys
import time

import bench

CATEGORIES = [  # first match wins; matched against "symbol (dso)"
    ("kernel", r"kernel"),
    ("malloc/free/memmove", r"malloc|free|realloc|unlink_chunk|consolidate|_rdl_|alloc::|memmove|memcpy|memcmp|memset|drop"),
    ("sqlite+sqlx", r"sqlite3|pcache|wal|pager|Btree|btree|balance_|Vdbe|vdbe|sqlx"),
    ("tracing/otel/metrics", r"opentelemetry|tracing|Span|span|otel|prost|tonic|exemplar|prometheus|ContextFields"),
    ("json/fmt", r"serde|json|fmt|format|write_str|Write|chrono|escape"),
    ("http/runtime/threads", r"hyper|axum|tower|http|reqwest|h2|tokio|flume|futex|park|epoll|pthread|syscall|clock|mio"),
]


CALLGRAPH = os.environ.get("CALLGRAPH", "") not in ("", "0")
# Frames worth naming in the inclusive view: our code and the crates the per-request work goes
# through (inlined frames and generic glue are left out).
INCLUSIVE = re.compile(r"^<?(tracemart|opentelemetry|tracing_opentelemetry|tracing_subscriber|reqwest|serde_json|rusqlite|sqlite3_step|prost)")


def inclusive(data, names):
    """Per process: the share of samples with each interesting function anywhere on the stack."""
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,ip,sym"],
                            capture_output=True, text=True).stdout
    stacks = collections.defaultdict(list)
    current = None
    for line in script.splitlines():
        if line and not line[0].isspace():
            current = set()
            stacks[int(line.split()[0])].append(current)
        elif line.strip() and current is not None:
            parts = line.split(None, 1)
            if len(parts) == 2 and "(inlined)" not in parts[1]:
                current.add(parts[1].strip())
    total = sum(len(v) for v in stacks.values())
    print(f"{total} samples with call graphs; per process: share of all samples, then the "
          "share of its samples that have each function on the stack")
    for pid, samples in sorted(stacks.items(), key=lambda kv: -len(kv[1])):
        counts = collections.Counter(sym for stack in samples for sym in stack if INCLUSIVE.match(sym))
        print(f"{names.get(pid, pid)}: {100 * len(samples) / total:.0f} %")
        for sym, n in counts.most_common(25):
            print(f"   {100 * n / len(samples):5.1f} %  {sym[:120]}")


def main():
    variant = sys.argv[1] if len(sys.argv) > 1 else "full"
    bench.prepare_peer()
    bench.snapshot_binary()
    out = bench.RESULTS / "profile"
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"perf-{variant}{'-callgraph' if CALLGRAPH else ''}.data"
    tm = bench.Tracemart("profile", env={"OTEL_SDK_DISABLED": "true"} if variant == "off" else {})
    tm.start(out)
    try:
        names = {pid: n for pid, n in tm.processes().items() if n in ("order", "user", "product", "inventory", "payment", "console")}
        wrk = subprocess.Popen(["timeout", "60", "wrk", "-t2", "-c32", "-d25s", "-s", str(bench.POST_ORDER_LUA), tm.url],
                               stdout=open(out / f"wrk-{variant}.txt", "w"))
        time.sleep(4)
        sampling = (["-F", "199", "--call-graph", "dwarf,32768"] if CALLGRAPH else ["-F", "499", "-g"])
        subprocess.run(["timeout", "60", "perf", "record", *sampling, "-o", str(data),
                        "-p", ",".join(map(str, names)), "--", "sleep", "8" if CALLGRAPH else "15"],
                       stderr=subprocess.DEVNULL, check=True)
        wrk.wait()
    finally:
        tm.stop()
        bench.clean_data(out)
    if CALLGRAPH:
        inclusive(data, names)
        return
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,ip,sym,dso", "-G"],
                            capture_output=True, text=True).stdout
    cats, tot, syms = collections.defaultdict(collections.Counter), collections.Counter(), collections.defaultdict(collections.Counter)
    for line in script.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        pid, sym = int(parts[0]), parts[2]
        cat = next((c for c, rx in CATEGORIES if re.search(rx, sym)), "other")
        cats[pid][cat] += 1
        tot[pid] += 1
        syms[pid][sym.split("(")[0].strip()[:80]] += 1
    total = sum(tot.values())
    print(f"{total} samples; per process: share of all samples, then categories of the leaf function")
    for pid, n in tot.most_common():
        print(f"{names.get(pid, pid)}: {100 * n / total:.0f} %")
        print("   " + ", ".join(f"{c} {100 * k / n:.0f} %" for c, k in cats[pid].most_common()))
        print("   top: " + "; ".join(f"{s} {100 * k / n:.1f} %" for s, k in syms[pid].most_common(6)))


if __name__ == "__main__":
    main()
