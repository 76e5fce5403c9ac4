#!/usr/bin/env python3
"""Driver behind bench/*.sh: starts the systems under test, loads them with wrk, reads CPU and RSS
of every process from /proc, writes results under bench/results/, and stops exactly what it
started (also on Ctrl-C / SIGTERM / error).

    python3 bench/lib/bench.py vs-seed|tracing-cost|floor|footprint|allocator|versus|saga|engines|instances

Python 3 standard library only. Everything binds and targets 127.0.0.1. Environment knobs
(defaults in brackets): DURATION [10] and WARMUP [3] seconds per measured run, REPEATS [3],
CONNECTIONS ["8 32 128"], WRK_THREADS [2], TRACEMART_BIN [target/release/tracemart],
PEER_DIR [../shared/peers/flask-seed], TM_PORT_BASE [28080] (services on BASE..BASE+4, console
UI/OTLP-gRPC/OTLP-HTTP on 26686/24317/24318), PEER ports [18080-18083, sink 14318],
FLOOR_PORT_BASE [38080], FOOTPRINT_LOAD_S [30], FOOTPRINT_STARTS [5], WITH_FLOOR [1] (vs-seed also runs the floor); for `versus`:
BASE_BIN (an earlier build to compare with) and MODE [full] or off (OTEL_SDK_DISABLED=true); for `saga`:
SAGA_SETTLE_S [60], the longest wait after wrk for every order to leave status created; for
`engines`: PG_URL [postgres://postgres@127.0.0.1:5432/postgres] (a user that may create
databases) and AMQP_URL [amqp://guest:guest@127.0.0.1:5672] (a vhost is added per run).
"""

import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
TM_BIN = Path(os.environ.get("TRACEMART_BIN", ROOT / "target/release/tracemart")).resolve()
FLOOR_DIR = BENCH / "floor"
FLOOR_BIN = FLOOR_DIR / "target/release/tracemart-floor"
PEER_SRC = Path(os.environ.get("PEER_DIR", ROOT.parent / "shared/peers/flask-seed"))
PEER = BENCH / ".peer"  # writable copy of the peer (its run.sh writes .venv/, run/, logs/)
POST_ORDER_LUA = PEER / "post_order.lua"

HZ = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1
DURATION = int(os.environ.get("DURATION", "10"))
WARMUP = int(os.environ.get("WARMUP", "3"))
REPEATS = int(os.environ.get("REPEATS", "3"))
CONNECTIONS = [int(c) for c in os.environ.get("CONNECTIONS", "8 32 128").split()]
WRK_THREADS = int(os.environ.get("WRK_THREADS", "2"))
TM_PORT = int(os.environ.get("TM_PORT_BASE", "28080"))
FLOOR_PORT = int(os.environ.get("FLOOR_PORT_BASE", "38080"))
PEER_PORTS = {
    "ORDER_PORT": int(os.environ.get("ORDER_PORT", "18080")),
    "USER_PORT": int(os.environ.get("USER_PORT", "18081")),
    "PRODUCT_PORT": int(os.environ.get("PRODUCT_PORT", "18082")),
    "INVENTORY_PORT": int(os.environ.get("INVENTORY_PORT", "18083")),
    "SINK_PORT": int(os.environ.get("SINK_PORT", "14318")),
}
# Far more than any run can sell (each order takes 2 units of product 1); runs start fresh anyway.
DEMO_STOCK = 1_000_000_000

ORDER_BODY = json.dumps({
    "user_id": 42,
    "items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 1}],
    "shipping_address": {"street": "123 Teheran-ro", "city": "Seoul", "postal_code": "06236", "country": "KR"},
}).encode()


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(ppid, utime+stime ticks) or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return int(rest[1]), int(rest[11]) + int(rest[12])


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def pss_kb(pid):
    """Proportional set size: shared pages (the one tracemart binary mapped by every process)
    counted once across processes instead of once per process as in VmRSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                out.append(int(d))
    return out


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v  # user nice system idle iowait irq softirq steal


def probe_s():
    """Seconds for a fixed pure-Python loop: how fast the shared machine is right now."""
    t = time.perf_counter()
    sum(range(20_000_000))
    return round(time.perf_counter() - t, 3)


def http(method, url, body=None, timeout=5):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def port_free(port):
    """True if nothing accepts connections on 127.0.0.1:port (a leftover would be measured instead)."""
    import socket
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def require_free(ports, who, wait_s=15.0):
    # The run before may still be letting go of its ports (a gunicorn master waits for its
    # workers), so wait a little before calling them taken.
    deadline = time.monotonic() + wait_s
    busy = [p for p in ports if not port_free(p)]
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = [p for p in busy if not port_free(p)]
    if busy:
        raise RuntimeError(f"{who}: ports {busy} are already in use on 127.0.0.1; stop what listens there "
                           f"or move the benchmark (TM_PORT_BASE, FLOOR_PORT_BASE, ORDER_PORT, ...)")


def wait_until(pred, deadline_s, step=0.02):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def kill_pids(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- systems

class System:
    """Something that serves POST /orders on `url`; `processes()` maps pid -> short name."""
    name = "?"
    url = ""
    spread = None  # ports wrk's threads are spread over (same path as url), if more than one

    def start(self, run_dir):
        raise NotImplementedError

    def processes(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError


class Tracemart(System):
    """`tracemart up` with a fresh data dir. `console=False` exports to `otlp` instead."""

    def __init__(self, name, console=True, otlp=None, env=None, sink=None, binary=None):
        self.name, self.console, self.otlp, self.extra_env, self.sink = name, console, otlp, env or {}, sink
        self.binary = binary  # None: the build under test (TRACEMART_BIN)
        self.url = f"http://127.0.0.1:{TM_PORT}/orders"
        self.proc = None
        self.known = {}
        self.count = 0
        self.extra_args = []

    def env(self):
        e = dict(os.environ)
        for k in list(e):  # a developer's own settings must not leak into the measurement
            if k.startswith("TRACEMART_") or k.startswith("OTEL_"):
                del e[k]
        for i, svc in enumerate(["ORDER", "USER", "PRODUCT", "INVENTORY", "PAYMENT"]):
            e[f"TRACEMART_{svc}_PORT"] = str(TM_PORT + i)
        e["TRACEMART_CONSOLE_UI_PORT"] = "26686"
        e["TRACEMART_CONSOLE_OTLP_GRPC_PORT"] = "24317"
        e["TRACEMART_CONSOLE_OTLP_HTTP_PORT"] = "24318"
        e.update(self.extra_env)
        return e

    def start(self, run_dir, data_dir=None):
        require_free([TM_PORT + i for i in range(5)] + [26686, 24317, 24318], self.name)
        if self.sink:
            self.sink.start(run_dir)
        self.count += 1
        self.data_dir = data_dir or run_dir / f"data-{self.name}-{self.count}"
        if data_dir is None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        args = [str(self.binary or TM_BIN), "up", "--data-dir", str(self.data_dir), "--demo-stock", str(DEMO_STOCK)]
        if not self.console:
            args.append("--no-console")
        if self.otlp:
            args += ["--otlp-endpoint", self.otlp]
        args += self.extra_args
        out = run_dir / f"up-{self.name}-{self.count}.out"
        self.out = out
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=open(out, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env(), start_new_session=True)
        ok = wait_until(lambda: "tracemart is up" in out.read_text() or self.proc.poll() is not None, 60, 0.005)
        wall_ms = (time.monotonic() - t0) * 1000
        text = out.read_text()
        m = re.search(r"tracemart is up \((\d+) ms\)", text)
        if not ok or not m:
            raise RuntimeError(f"{self.name}: tracemart up did not become ready:\n{text[-2000:]}")
        self.ready = {"ready_wall_ms": round(wall_ms, 1), "ready_reported_ms": int(m.group(1))}
        self.known = {}
        names = set(self.processes().values())
        missing = {"order", "user", "product", "inventory", "payment"} - names
        if missing:
            raise RuntimeError(f"{self.name}: no process for {sorted(missing)} under up (see {out})")
        status, body = http("POST", self.url, ORDER_BODY)
        if status != 201:
            raise RuntimeError(f"{self.name}: POST /orders answered {status}: {body[:300]!r}")
        return self.ready

    def processes(self):
        if not self.proc:
            return {}
        pids = {self.proc.pid: "up"}
        for c in children(self.proc.pid):
            cl = cmdline(c).split()
            if "serve" in cl:
                pids[c] = cl[cl.index("serve") + 1]
            elif "console" in cl:
                pids[c] = "console"
            else:
                pids[c] = "other"
        self.known.update(pids)
        if self.sink:
            pids.update(self.sink.processes())
        return pids

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # children of up that outlived it (they stop by themselves within 0.5 s when orphaned)
        left = [p for p in self.known if cmdline(p).startswith(str(TM_BIN))]
        if left and not wait_until(lambda: not any(cmdline(p).startswith(str(TM_BIN)) for p in left), 5, 0.1):
            kill_pids([p for p in left if cmdline(p).startswith(str(TM_BIN))], signal.SIGKILL)
        self.proc = None
        self.known = {}
        if self.sink:
            self.sink.stop()


class TracemartOnServers(Tracemart):
    """`tracemart up` on PostgreSQL (one database per service) and RabbitMQ (events between
    order and payment), each start on databases and a vhost of its own, dropped at stop. The
    servers' processes (every `postgres` backend, RabbitMQ's `beam.smp`) count as the system's,
    so CPU per order includes the work they do for it."""

    def __init__(self, name, pg_url, amqp_base, **kw):
        super().__init__(name, **kw)
        self.pg_url, self.amqp_base = pg_url, amqp_base.rstrip("/")

    def start(self, run_dir, data_dir=None):
        self.run_dir = run_dir
        self.prefix = f"tmbench_{os.getpid()}_{re.sub('[^a-z0-9]', '_', self.name)}_{self.count + 1}"
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", self.prefix], check=True, capture_output=True)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", self.prefix, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        self.extra_args = ["--postgres", self.pg_url, "--postgres-prefix", self.prefix,
                           "--broker", f"{self.amqp_base}/{self.prefix}"]
        ready = super().start(run_dir, data_dir)
        self.at_start = self.footprint()
        return ready

    def processes(self):
        pids = super().processes()
        if not pids:
            return pids
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                comm = (p / "comm").read_text().strip()
            except OSError:
                continue
            if comm == "postgres":
                pids[int(p.name)] = "postgresql"
            elif comm == "beam.smp":
                pids[int(p.name)] = "rabbitmq"
        return pids

    def footprint(self):
        """Per service database: bytes and rows, and the orders stored (for per-order figures
        in docs/scale.md)."""
        sizes = {}
        for svc in ["order", "user", "product", "inventory", "payment"]:
            db = self.pg_url.rsplit("/", 1)[0] + f"/{self.prefix}_{svc}"
            # Rows counted exactly (the statistics views lag behind by seconds).
            q = ("SELECT pg_database_size(current_database()), coalesce(sum((xpath('/row/c/text()', "
                 "query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), "
                 "false, true, '')))[1]::text::bigint), 0) FROM pg_tables WHERE schemaname = 'public'")
            out = subprocess.run(["psql", db, "-qAtc", q], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                size, rows = out.stdout.strip().split("|")
                sizes[svc] = {"bytes": int(size), "rows": int(rows)}
            # The work each database did (cumulative since it was created): transactions and
            # rows read and written, for the per-order figures of docs/scale.md.
            q = ("SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated, "
                 "tup_deleted FROM pg_stat_database WHERE datname = current_database()")
            out = subprocess.run(["psql", db, "-qAtc", q], capture_output=True, text=True)
            if svc in sizes and out.returncode == 0 and out.stdout.strip():
                keys = ["commits", "rollbacks", "rows_returned", "rows_fetched", "rows_inserted",
                        "rows_updated", "rows_deleted"]
                sizes[svc]["activity"] = dict(zip(keys, map(int, out.stdout.strip().split("|"))))
        db = self.pg_url.rsplit("/", 1)[0] + f"/{self.prefix}_order"
        out = subprocess.run(["psql", db, "-qAtc", "SELECT count(*) FROM orders"], capture_output=True, text=True)
        sizes["orders"] = int(out.stdout.strip() or 0) if out.returncode == 0 else None
        return sizes

    def stop(self):
        was_running = bool(self.proc)
        super().stop()
        if getattr(self, "prefix", None) and was_running:
            # Read once the services are gone: a backend reports its statistics when it ends
            # (an idle one only every 10 s).
            footprint = {"at_start": self.at_start, "at_stop": self.footprint()}
            (self.run_dir / f"{self.prefix}.databases.json").write_text(json.dumps(footprint, indent=1))
        if getattr(self, "prefix", None):
            for svc in ["order", "user", "product", "inventory", "payment"]:
                subprocess.run(["psql", self.pg_url, "-qAtc", f"DROP DATABASE IF EXISTS {self.prefix}_{svc} WITH (FORCE)"],
                               capture_output=True)
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", self.prefix], capture_output=True)
            self.prefix = None


class OrderInstances(TracemartOnServers):
    """TracemartOnServers with `instances` order services on the same database and vhost:
    `up`'s own, plus `tracemart serve order` with up's effective config on ports after the
    console's. wrk spreads its threads over them (client-side balancing: a load balancer would
    add a process to the CPU measured); with instances=1, the same wrk script on one port."""

    def __init__(self, name, pg_url, amqp_base, instances, **kw):
        super().__init__(name, pg_url, amqp_base, **kw)
        self.instances = instances
        self.extra = []
        self.extra_ports = [TM_PORT + 10 + i for i in range(instances - 1)]
        self.spread = [TM_PORT] + self.extra_ports

    def start(self, run_dir, data_dir=None):
        require_free(self.extra_ports, self.name)
        ready = super().start(run_dir, data_dir)
        for port in self.extra_ports:
            env = self.env()
            env["TRACEMART_OTLP_ENDPOINT"] = "http://127.0.0.1:24318"
            log_file = self.data_dir / f"order-{port}.log"
            self.extra.append(subprocess.Popen(
                [str(self.binary or TM_BIN), "serve", "order", "--port", str(port),
                 "--config", str(self.data_dir / "effective-config.toml")],
                stdout=open(log_file, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True))
            url = f"http://127.0.0.1:{port}/health/ready"
            if not wait_until(lambda: http("GET", url)[0] == 200, 30, 0.05):
                raise RuntimeError(f"{self.name}: order instance on {port} not ready (see {log_file})")
            status, body = http("POST", f"http://127.0.0.1:{port}/orders", ORDER_BODY)
            if status != 201:
                raise RuntimeError(f"{self.name}: POST /orders on {port} answered {status}: {body[:300]!r}")
        return ready

    def processes(self):
        pids = super().processes()
        if pids:
            pids.update({p.pid: "order" for p in self.extra if p.poll() is None})
        return pids

    def stop(self):
        for p in self.extra:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.extra:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.extra = []
        super().stop()


def prepare_peer():
    """Copies the (read-only) peer next to us once, and lets its run.sh create .venv there."""
    if not PEER_SRC.is_dir() and not PEER.is_dir():
        raise RuntimeError(f"peer not found at {PEER_SRC} (set PEER_DIR)")
    PEER.mkdir(parents=True, exist_ok=True)
    if PEER_SRC.is_dir():
        for f in PEER_SRC.iterdir():
            if f.is_file():
                dst = PEER / f.name
                if not dst.exists() or dst.read_bytes() != f.read_bytes():
                    if dst.exists():
                        dst.chmod(0o644)
                    shutil.copyfile(f, dst)
                    dst.chmod(f.stat().st_mode | 0o200)


class Sink(System):
    """The peer's discarding OTLP/HTTP sink, alone."""
    name = "sink"

    def __init__(self):
        self.proc = None
        self.port = PEER_PORTS["SINK_PORT"]

    def start(self, run_dir):
        prepare_peer()
        require_free([self.port], "sink")
        py = PEER / ".venv/bin/python"
        if not py.exists():
            raise RuntimeError("the peer's .venv is missing: run bench/vs-seed.sh once (it creates it)")
        self.proc = subprocess.Popen([str(py), "sink.py", str(self.port)], cwd=PEER,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not wait_until(lambda: http("GET", f"http://127.0.0.1:{self.port}/health")[0] == 200, 15, 0.05):
            raise RuntimeError("sink did not start")

    def processes(self):
        return {self.proc.pid: "sink"} if self.proc and self.proc.poll() is None else {}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


class Peer(System):
    """The seed's Python system (peers/flask-seed) via its own run.sh / stop.sh."""
    name = "peer"

    def __init__(self):
        self.url = f"http://127.0.0.1:{PEER_PORTS['ORDER_PORT']}/orders"
        self.up = False

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        e.update({k: str(v) for k, v in PEER_PORTS.items()})
        e["SEED_DB_SLEEP_S"] = os.environ.get("SEED_DB_SLEEP_S", "0")
        return e

    def start(self, run_dir):
        prepare_peer()
        require_free(PEER_PORTS.values(), "peer")
        t0 = time.monotonic()
        self.up = True
        r = subprocess.run(["timeout", "900", "./run.sh"], cwd=PEER, env=self.env(), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"peer run.sh failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        self.ready = {"ready_wall_ms": round((time.monotonic() - t0) * 1000, 1)}
        status, body = http("POST", self.url, ORDER_BODY, timeout=10)
        if status != 201:
            raise RuntimeError(f"peer: POST /orders answered {status}: {body[:300]!r}")
        return self.ready

    def processes(self):
        pids = {}
        for f in (PEER / "run").glob("*.pid"):
            try:
                pid = int(f.read_text().strip())
            except ValueError:
                continue
            if proc_stat(pid):
                pids[pid] = f.stem
                for c in children(pid):
                    pids[c] = f.stem
        return pids

    def stop(self):
        if self.up:
            subprocess.run(["timeout", "60", "./stop.sh"], cwd=PEER, capture_output=True)
            for f in (PEER / "logs").glob("*.log"):  # keep the disk bounded
                f.write_text("")
        self.up = False


class Floor(System):
    """bench/floor: the same hops in plain hyper, four processes."""
    name = "floor"

    def __init__(self):
        self.url = f"http://127.0.0.1:{FLOOR_PORT}/orders"
        self.procs = {}
        self.count = 0

    def start(self, run_dir):
        self.count += 1
        data = run_dir / f"data-floor-{self.count}"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        p = FLOOR_PORT
        require_free([p, p + 1, p + 2, p + 3], "floor")
        roles = {"user": [str(p + 1)], "product": [str(p + 2)], "inventory": [str(p + 3)],
                 "order": [str(p), str(data / "order.db"), str(p + 1), str(p + 2), str(p + 3)]}
        t0 = time.monotonic()
        for role, args in roles.items():
            proc = subprocess.Popen([str(FLOOR_BIN), role, *args], stdin=subprocess.DEVNULL,
                                    stdout=open(run_dir / f"floor-{role}.log", "a"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
            self.procs[proc.pid] = (role, proc)
        for port in (p, p + 1, p + 2, p + 3):
            if not wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/health")[0] == 200, 15, 0.01):
                raise RuntimeError(f"floor: port {port} not ready")
        self.ready = {"ready_wall_ms": round((time.monotonic() - t0) * 1000, 1)}
        if len(self.processes()) != 4:
            raise RuntimeError(f"floor: a process exited; see {run_dir}/floor-*.log")
        status, body = http("POST", self.url, ORDER_BODY)
        if status != 201:
            raise RuntimeError(f"floor: POST /orders answered {status}: {body[:300]!r}")
        return self.ready

    def processes(self):
        return {pid: role for pid, (role, proc) in self.procs.items() if proc.poll() is None}

    def stop(self):
        for _, proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = {}


# ---------------------------------------------------------------- measuring

class RssSampler(threading.Thread):
    """Samples VmRSS of the system's processes every `every` seconds while it runs."""

    def __init__(self, system, every=0.5):
        super().__init__(daemon=True)
        self.system, self.every = system, every
        self.max_by_name = {}
        self.max_total = 0
        self.max_pss_total = 0
        self.timeline = []
        self.stop_flag = threading.Event()

    def sample(self):
        by_name, total = {}, 0
        for pid, name in self.system.processes().items():
            kb = rss_kb(pid)
            if kb:
                by_name[name] = by_name.get(name, 0) + kb
                total += kb
        return by_name, total

    def run(self):
        t0 = time.monotonic()
        while not self.stop_flag.is_set():
            by_name, total = self.sample()
            for n, kb in by_name.items():
                self.max_by_name[n] = max(self.max_by_name.get(n, 0), kb)
            self.max_total = max(self.max_total, total)
            self.max_pss_total = max(self.max_pss_total,
                                     sum(pss_kb(pid) or 0 for pid in self.system.processes()))
            self.timeline.append((round(time.monotonic() - t0, 1), total))
            self.stop_flag.wait(self.every)


def wrk(url, conns, seconds, raw=None, spread=None):
    """Runs wrk with the peer's post_order.lua; returns (RESULT dict, wrk CPU seconds). With
    `spread` (ports), wrk's threads are spread over those ports (post_order_spread.lua)."""
    script, env = POST_ORDER_LUA, None
    if spread:
        script = BENCH / "lib/post_order_spread.lua"
        env = dict(os.environ, POST_ORDER_LUA=str(POST_ORDER_LUA), SPREAD_PORTS=",".join(map(str, spread)))
    args = ["wrk", "--latency", "-t", str(min(WRK_THREADS, conns)), "-c", str(conns), "-d", f"{seconds}s",
            "--timeout", "10s", "-s", str(script), url]
    out = open(raw, "w") if raw else subprocess.DEVNULL
    p = subprocess.Popen(["timeout", str(seconds + 30), *args], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:  # interrupted: wrk must not outlive us (timeout passes TERM on to it)
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
        raise
    p.returncode = os.waitstatus_to_exitcode(status)
    if raw:
        out.close()
        m = re.search(r"^RESULT (.*)$", Path(raw).read_text(), re.M)
        if not m:
            raise RuntimeError(f"wrk gave no RESULT line; see {raw}")
        res = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", m.group(1))}
        return res, ru.ru_utime + ru.ru_stime
    return None, ru.ru_utime + ru.ru_stime


def measure(system, conns, run_dir, tag):
    """One warmed-up, measured wrk run against a running system; returns the record."""
    if WARMUP > 0:
        wrk(system.url, conns, WARMUP, spread=system.spread)
    probe = probe_s()
    procs = system.processes()
    before = {pid: (proc_stat(pid) or (0, 0))[1] for pid in procs}
    m0 = machine_ticks()
    sampler = RssSampler(system)
    sampler.start()
    raw = run_dir / f"{tag}.wrk.txt"
    t_start = time.time()
    res, wrk_cpu = wrk(system.url, conns, DURATION, raw, spread=system.spread)
    t_end = time.time()
    sampler.stop_flag.set()
    sampler.join()
    m1 = machine_ticks()
    cpu_by_name = {}
    for pid, name in procs.items():
        st = proc_stat(pid)
        if st:
            cpu_by_name[name] = cpu_by_name.get(name, 0) + (st[1] - before[pid])
    ok = res["requests"] - res["non2xx"]
    d = [b - a for a, b in zip(m0, m1)]
    total_ticks = sum(d)
    idle = d[3] + d[4]
    sys_cpu_s = sum(cpu_by_name.values()) / HZ
    busy_cores = NPROC * (total_ticks - idle) / total_ticks if total_ticks else 0
    rec = {
        "system": system.name, "connections": conns, "tag": tag,
        "rps": res["rps"], "ok_rps": ok / res["duration_s"], "p50_ms": res["p50_ms"], "p90_ms": res["p90_ms"],
        "p99_ms": res["p99_ms"], "max_ms": res["max_ms"], "requests": int(res["requests"]),
        "non2xx": int(res["non2xx"]), "errors": int(res["timeouts"] + res["connect_err"] + res["read_err"] + res["write_err"]),
        "cpu_ms_per_order": round(sys_cpu_s * 1000 / ok, 3) if ok else None,
        "cpu_ms_per_order_by_process": {n: round(t * 1000 / HZ / ok, 3) for n, t in sorted(cpu_by_name.items())} if ok else {},
        "system_cores": round(sys_cpu_s / res["duration_s"], 2),
        "wrk_cores": round(wrk_cpu / res["duration_s"], 2),
        "others_cores": round(busy_cores - (sys_cpu_s + wrk_cpu) / res["duration_s"], 2),
        "steal_pct": round(100 * d[7] / total_ticks, 1) if total_ticks else 0,
        "idle_pct": round(100 * idle / total_ticks, 1) if total_ticks else 0,
        "probe_s": probe,
        "rss_max_kb_by_process": sampler.max_by_name, "rss_max_total_kb": sampler.max_total,
        "pss_max_total_kb": sampler.max_pss_total,
        # The measured wrk run's wall-clock window (Unix seconds), for the saga benchmark.
        "wrk_start_epoch": round(t_start, 6), "wrk_end_epoch": round(t_end, 6),
    }
    log(f"  {system.name:10} c={conns:<4} rps={rec['rps']:8.1f} p50={rec['p50_ms']:7.2f}ms p99={rec['p99_ms']:8.2f}ms "
        f"non2xx={rec['non2xx']} err={rec['errors']} cpu/order={rec['cpu_ms_per_order']}ms "
        f"rss={sampler.max_total / 1024:.0f}MB pss={sampler.max_pss_total / 1024:.0f}MB others={rec['others_cores']} probe={probe}s")
    return rec


# ---------------------------------------------------------------- summaries

def med_range(values, fmt="{:.1f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def summarize(records, systems, baseline, out):
    """Markdown tables: per system and connection count the median (min–max) of the repeats;
    ratios against `baseline` per repeat (paired by round), then their median (min–max)."""
    lines = []
    conns = sorted({r["connections"] for r in records})
    lines.append("| system | conns | orders/s | p50 ms | p99 ms | CPU ms/order (all processes) | non-2xx | n |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for s in systems:
        for c in conns:
            rs = [r for r in records if r["system"] == s and r["connections"] == c]
            if not rs:
                continue
            lines.append(f"| {s} | {c} | {med_range([r['ok_rps'] for r in rs])} | {med_range([r['p50_ms'] for r in rs], '{:.2f}')} "
                         f"| {med_range([r['p99_ms'] for r in rs], '{:.2f}')} | {med_range([r['cpu_ms_per_order'] for r in rs], '{:.3f}')} "
                         f"| {sum(r['non2xx'] + r['errors'] for r in rs)} | {len(rs)} |")
    lines.append("")
    lines.append("CPU ms per order by process (median of repeats):")
    lines.append("")
    for s in systems:
        for c in conns:
            rs = [r for r in records if r["system"] == s and r["connections"] == c]
            if not rs:
                continue
            names = sorted({n for r in rs for n in r["cpu_ms_per_order_by_process"]})
            parts = [f"{n} {statistics.median(r['cpu_ms_per_order_by_process'].get(n, 0) for r in rs):.3f}" for n in names]
            lines.append(f"- {s} c={c}: " + ", ".join(parts))
    lines.append("")
    if baseline:
        lines.append(f"Paired ratios against `{baseline}` (same round; median (min–max) over rounds):")
        lines.append("")
        lines.append(f"| system | conns | throughput x | p50 / {baseline} p50 | p99 / {baseline} p99 | CPU/order / {baseline} |")
        lines.append("|---|---|---|---|---|---|")
        for s in systems:
            if s == baseline:
                continue
            for c in conns:
                tp, p50, p99, cpu = [], [], [], []
                for rnd in sorted({r["round"] for r in records}):
                    a = [r for r in records if r["system"] == s and r["connections"] == c and r["round"] == rnd]
                    b = [r for r in records if r["system"] == baseline and r["connections"] == c and r["round"] == rnd]
                    if a and b:
                        a, b = a[0], b[0]
                        tp.append(a["ok_rps"] / b["ok_rps"])
                        p50.append(a["p50_ms"] / b["p50_ms"])
                        p99.append(a["p99_ms"] / b["p99_ms"])
                        if a["cpu_ms_per_order"] and b["cpu_ms_per_order"]:
                            cpu.append(a["cpu_ms_per_order"] / b["cpu_ms_per_order"])
                if tp:
                    lines.append(f"| {s} | {c} | {med_range(tp, '{:.3f}')} | {med_range(p50, '{:.3f}')} "
                                 f"| {med_range(p99, '{:.3f}')} | {med_range(cpu, '{:.3f}')} |")
        lines.append("")
    lines.append("Machine during the runs (median): " + ", ".join(
        f"{s}: others_cores {statistics.median(r['others_cores'] for r in records if r['system'] == s):.2f}, "
        f"probe {statistics.median(r['probe_s'] for r in records if r['system'] == s):.3f}s, "
        f"max RSS {max(r['rss_max_total_kb'] for r in records if r['system'] == s) / 1024:.0f} MB"
        for s in systems if any(r["system"] == s for r in records)))
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    log("\n" + text)
    return text


# ---------------------------------------------------------------- benchmarks

RUNNING = []


def alternate(bench, systems, baseline):
    """For each connection count and round, every system once, in a rotating order; each run
    starts its system fresh (new data dir) and stops it afterwards."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"{stamp}-{bench}"
    run_dir.mkdir(parents=True)
    header = machine_header()
    header.update({"bench": bench, "duration_s": DURATION, "warmup_s": WARMUP, "repeats": REPEATS,
                   "connections": CONNECTIONS, "wrk_threads": WRK_THREADS})
    (run_dir / "machine.json").write_text(json.dumps(header, indent=1))
    log(f"# {bench}: {header['cpu_model']}, nproc={NPROC}, {header['mem_total_gb']} GB; "
        f"{REPEATS} rounds x {CONNECTIONS} connections x {[s.name for s in systems]}, {DURATION}s (+{WARMUP}s warm-up) each; results in {run_dir}")
    records = []
    with open(run_dir / "runs.jsonl", "w") as jl:
        for c in CONNECTIONS:
            for rnd in range(REPEATS):
                k = (rnd + CONNECTIONS.index(c)) % len(systems)
                for s in systems[k:] + systems[:k]:
                    RUNNING.append(s)
                    try:
                        ready = s.start(run_dir)
                        rec = measure(s, c, run_dir, f"{s.name}-c{c}-r{rnd}")
                    finally:
                        s.stop()
                        RUNNING.remove(s)
                    rec.update(ready)
                    rec["round"] = rnd
                    records.append(rec)
                    jl.write(json.dumps(rec) + "\n")
                    jl.flush()
                    clean_data(run_dir)
    summarize(records, [s.name for s in systems], baseline, run_dir / "summary.md")
    per_order_databases(run_dir, run_dir / "summary.md")


def per_order_databases(run_dir, out):
    """From the runs on PostgreSQL (`<prefix>.databases.json`): per order and service, the rows
    and bytes the database grew by and the work it did (commits, rows read and written),
    median (min–max) over runs. Appended to `out`."""
    runs = []
    for f in sorted(run_dir.glob("*.databases.json")):
        d = json.loads(f.read_text())
        a, b = d["at_start"], d["at_stop"]
        orders = (b.get("orders") or 0) - (a.get("orders") or 0)
        if orders > 0:
            runs.append((a, b, orders))
    if not runs:
        return
    lines = ["", f"Per order, by service database (PostgreSQL, {len(runs)} runs; median (min–max)):", "",
             "| service | rows | bytes | commits | rows read (returned + fetched) | rows inserted | updated | deleted |",
             "|---|---|---|---|---|---|---|---|"]
    for svc in ["order", "payment", "inventory", "user", "product"]:
        def per(get):
            return [(get(b[svc]) - get(a[svc])) / n for a, b, n in runs
                    if svc in a and svc in b and "activity" in a[svc] and "activity" in b[svc]]
        act = lambda k: (lambda x: x["activity"][k])
        cols = [per(lambda x: x["rows"]), per(lambda x: x["bytes"]), per(act("commits")),
                per(lambda x: x["activity"]["rows_returned"] + x["activity"]["rows_fetched"]),
                per(act("rows_inserted")), per(act("rows_updated")), per(act("rows_deleted"))]
        if cols[0]:
            lines.append(f"| {svc} | " + " | ".join(med_range(c, "{:.2f}") for c in cols) + " |")
    text = "\n".join(lines) + "\n"
    with open(out, "a") as f:
        f.write(text)
    log(text)


def clean_data(run_dir):
    """Measured runs leave databases of up to a few hundred MB; keep the disk bounded."""
    for d in run_dir.glob("data-*"):
        shutil.rmtree(d, ignore_errors=True)


def machine_header():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1])
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    return {"cpu_model": model, "nproc": NPROC, "mem_total_gb": round(mem / 1024 / 1024, 1),
            "kernel": os.uname().release, "wrk": wrk_v[0] if wrk_v else "?",
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tracemart_bin": str(TM_BIN), "tracemart_bin_mtime": time.ctime(TM_BIN.stat().st_mtime) if TM_BIN.exists() else None}


def footprint():
    """Ready time of `tracemart up` (fresh and existing data dir) and RSS of every process at
    rest and under load."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"{stamp}-footprint"
    run_dir.mkdir(parents=True)
    (run_dir / "machine.json").write_text(json.dumps(machine_header(), indent=1))
    starts = int(os.environ.get("FOOTPRINT_STARTS", "5"))
    load_s = int(os.environ.get("FOOTPRINT_LOAD_S", "30"))
    tm = Tracemart("tracemart")
    RUNNING.append(tm)
    out = {"fresh": [], "existing": []}
    data = run_dir / "data-footprint"
    log(f"# footprint: {starts} starts with a fresh data dir, {starts} with the same one; results in {run_dir}")
    for i in range(starts):
        for kind in ("fresh", "existing"):
            if kind == "fresh":
                shutil.rmtree(data, ignore_errors=True)
            try:
                r = tm.start(run_dir, data_dir=data)
            finally:
                tm.stop()
            out[kind].append(r)
            log(f"  start {i + 1} ({kind} data dir): ready in {r['ready_wall_ms']} ms wall ({r['ready_reported_ms']} ms reported)")
    shutil.rmtree(data, ignore_errors=True)
    tm.start(run_dir, data_dir=data)
    try:
        time.sleep(3)
        rest, rest_pss = {}, 0
        for pid, name in tm.processes().items():
            rest[name] = rss_kb(pid)
            rest_pss += pss_kb(pid) or 0
        log(f"  at rest: {sum(rest.values()) / 1024:.1f} MB  " + ", ".join(f"{n} {kb / 1024:.1f}" for n, kb in sorted(rest.items())))
        loads = []
        for c in (32, 128):
            global DURATION
            saved, DURATION = DURATION, load_s
            try:
                rec = measure(tm, c, run_dir, f"footprint-c{c}")
            finally:
                DURATION = saved
            loads.append(rec)
        time.sleep(3)
        after = {name: rss_kb(pid) for pid, name in tm.processes().items()}
        after_pss = sum(pss_kb(pid) or 0 for pid in tm.processes())
    finally:
        tm.stop()
        RUNNING.remove(tm)
    res = {"ready": out, "rss_rest_kb": rest, "rss_after_load_kb": after, "load": loads,
           "pss_rest_kb": rest_pss, "pss_after_load_kb": after_pss}
    (run_dir / "footprint.json").write_text(json.dumps(res, indent=1))
    lines = ["| start | ready, wall ms: median (min–max) | reported by up |", "|---|---|---|"]
    for kind in ("fresh", "existing"):
        lines.append(f"| {kind} data dir | {med_range([r['ready_wall_ms'] for r in out[kind]], '{:.0f}')} "
                     f"| {med_range([r['ready_reported_ms'] for r in out[kind]], '{:.0f}')} |")
    lines += ["", "| process | RSS at rest MB | max RSS under load (c=32, c=128) MB | after load MB |", "|---|---|---|---|"]
    for n in sorted(rest):
        lines.append(f"| {n} | {rest[n] / 1024:.1f} | " + ", ".join(f"{l['rss_max_kb_by_process'].get(n, 0) / 1024:.1f}" for l in loads)
                     + f" | {(after.get(n) or 0) / 1024:.1f} |")
    lines.append(f"| **all** | {sum(rest.values()) / 1024:.1f} | " + ", ".join(f"{l['rss_max_total_kb'] / 1024:.1f}" for l in loads)
                 + f" | {sum(v or 0 for v in after.values()) / 1024:.1f} |")
    lines.append(f"| **all, PSS** (shared pages counted once) | {rest_pss / 1024:.1f} | "
                 + ", ".join(f"{l['pss_max_total_kb'] / 1024:.1f}" for l in loads) + f" | {after_pss / 1024:.1f} |")
    lines.append("")
    lines.append(f"Load: wrk POST /orders for {load_s}s each: " + "; ".join(
        f"c={l['connections']}: {l['ok_rps']:.0f} orders/s, p99 {l['p99_ms']:.1f} ms" for l in loads))
    text = "\n".join(lines) + "\n"
    (run_dir / "summary.md").write_text(text)
    log("\n" + text)


# ---------------------------------------------------------------- the order saga

SAGA_SETTLE_S = int(os.environ.get("SAGA_SETTLE_S", "60"))
SAGA_TYPES = ("OrderCreated", "OrderConfirmed", "OrderCancelled")
SAGA_METRICS = ("event_relay_lag_seconds", "event_outbox_pending", "event_dead_letters")


def epoch_of(ts):
    """An RFC 3339 time as the services write it (`2026-11-27T08:00:00.123456Z`) -> Unix seconds."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def percentile(sorted_values, q):
    """Nearest rank; `sorted_values` may end with math.inf (orders that never settled)."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


class OrderDb:
    """The order service's SQLite database, opened read-only. It is in WAL mode: a reader sees
    the last commit and never blocks the service's writer."""

    def __init__(self, data_dir):
        self.path = data_dir / "order.db"
        if not self.path.exists():
            raise RuntimeError(f"no order database at {self.path}")
        self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)

    def unsettled(self):
        return self.conn.execute("SELECT count(*) FROM orders WHERE status = 'created'").fetchone()[0]

    def sagas(self):
        """{order_id: {"created": t, "final": t or None, "status": ..., "reason": ...}} from the
        orders' event streams (OrderCreated, then OrderConfirmed or OrderCancelled)."""
        out = {}
        rows = self.conn.execute(
            "SELECT order_id, type, created_at FROM order_events WHERE type IN (?, ?, ?)", SAGA_TYPES).fetchall()
        for order_id, kind, at in rows:
            o = out.setdefault(order_id, {"created": None, "final": None})
            if kind == "OrderCreated":
                o["created"] = epoch_of(at)
            else:
                o["final"] = epoch_of(at)
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(orders)")}
        reason_col = "cancellation_reason" if "cancellation_reason" in cols else "NULL"  # a build before the saga
        for order_id, status, reason in self.conn.execute(f"SELECT id, status, {reason_col} FROM orders"):
            o = out.setdefault(order_id, {"created": None, "final": None})
            o["status"], o["reason"] = status, reason
        return out

    def close(self):
        self.conn.close()


class MetricsSampler(threading.Thread):
    """GETs /metrics of the given services every `every` seconds and keeps SAGA_METRICS."""

    def __init__(self, urls, every=0.5):
        super().__init__(daemon=True)
        self.urls, self.every = urls, every
        self.samples = []  # (unix time, service, {metric: value})
        self.stop_flag = threading.Event()

    def run(self):
        pat = re.compile(r"^(" + "|".join(SAGA_METRICS) + r")(?:\{[^}]*\})? ([-+0-9.eE]+|NaN)$", re.M)
        while not self.stop_flag.is_set():
            for svc, url in self.urls.items():
                t = time.time()
                status, body = http("GET", url, timeout=2)
                if status == 200:
                    vals = {k: float(v) for k, v in pat.findall(body.decode(errors="replace"))}
                    self.samples.append((round(t, 3), svc, vals))
            self.stop_flag.wait(self.every)

    def max_in(self, svc, metric, t0, t1):
        vals = [v[metric] for t, s, v in self.samples if s == svc and t0 <= t <= t1 and metric in v]
        return max(vals) if vals else None


def scan_logs(data_dir, run_dir, tag):
    """Counts the ERROR and WARN records in the services' log files (DATA_DIR/logs/*.log, one JSON
    object a line) and the lines that are not JSON (a panic, anything written to stderr), and
    keeps the first 20 of them per run in `<tag>.log-problems.txt`."""
    counts, kept = {}, []
    for f in sorted((data_dir / "logs").glob("*.log*")):
        name = f.name.split(".")[0]
        with open(f, errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    level = str(json.loads(line).get("level", "?")).upper()
                except (ValueError, AttributeError):
                    level = "not-json"
                if level in ("ERROR", "WARN", "WARNING", "not-json"):
                    key = f"{name}:{level}"
                    counts[key] = counts.get(key, 0) + 1
                    if len(kept) < 20:
                        kept.append(f"{f.name}: {line.rstrip()[:600]}")
    if kept:
        (run_dir / f"{tag}.log-problems.txt").write_text("\n".join(kept) + "\n")
    return counts


def telemetry_per_order(data_dir, orders):
    """Spans, log records and traces the console stored per order (every order of the run, the
    warm-up's included, and whatever ran beside them: relay polls, health checks), once the
    exporters' last batches are in: the counts are read every 2 s until they stop growing
    (at least 6 s, at most 20 s)."""
    path = data_dir / "console.db"
    if not orders or not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        t0, last = time.monotonic(), None
        while True:
            spans = dict(conn.execute("SELECT n.name, count(*) FROM spans s JOIN names n ON n.id = s.service "
                                      "GROUP BY n.name").fetchall())
            # Log records are counted per block: their services are inside the compressed data.
            logs = conn.execute("SELECT coalesce(sum(log_count), 0) FROM log_blocks").fetchone()[0]
            now = (sum(spans.values()), logs)
            waited = time.monotonic() - t0
            if (now == last and waited >= 6) or waited >= 20:
                break
            last = now
            time.sleep(2)
        traces = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
    finally:
        conn.close()
    short = lambda n: n.removesuffix("-service")
    return {"spans": round(now[0] / orders, 2), "logs": round(now[1] / orders, 2), "traces": round(traces / orders, 2),
            "spans_by_service": {short(k): round(v / orders, 2) for k, v in sorted(spans.items())}}


def saga_run(tm, conns, run_dir, tag):
    """One measured wrk run (as `measure`), then waits (at most SAGA_SETTLE_S) until no order is
    left in status created, and reads from the order database how long each order of the
    measured window took from OrderCreated to OrderConfirmed / OrderCancelled."""
    sampler = MetricsSampler({"order": f"http://127.0.0.1:{TM_PORT}/metrics",
                              "payment": f"http://127.0.0.1:{TM_PORT + 4}/metrics"})
    sampler.start()
    db = None
    try:
        rec = measure(tm, conns, run_dir, tag)
        t_stop = time.time()
        procs = tm.processes()
        before = {pid: (proc_stat(pid) or (0, 0))[1] for pid in procs}
        db = OrderDb(tm.data_dir)
        unsettled_live = db.unsettled()
        settled = wait_until(lambda: db.unsettled() == 0, SAGA_SETTLE_S, 0.05)
        t_settled = time.time()
        drain_cpu_s = sum((proc_stat(pid) or (0, before[pid]))[1] - before[pid] for pid in procs) / HZ
        sagas = db.sagas()
        telemetry = telemetry_per_order(tm.data_dir, len(sagas))
    finally:
        sampler.stop_flag.set()
        sampler.join()
        if db:
            db.close()
    t0, t1 = rec["wrk_start_epoch"], rec["wrk_end_epoch"]
    window = [o for o in sagas.values() if o["created"] is not None and t0 <= o["created"] <= t1]
    lat = sorted((o["final"] - o["created"]) * 1000 if o["final"] is not None else math.inf for o in window)
    first = min((o["created"] for o in sagas.values() if o["created"] is not None), default=None)
    idle = [o for o in sagas.values() if o["created"] == first]  # the order start() made on the idle shop
    finals = [o["final"] for o in sagas.values() if o["final"] is not None]
    outcomes = {}
    for o in window:
        key = o.get("status", "?") + (f":{o['reason']}" if o.get("reason") else "")
        outcomes[key] = outcomes.get(key, 0) + 1

    def pct_in(lo, hi, q):
        part = sorted((o["final"] - o["created"]) * 1000 if o["final"] is not None else math.inf
                      for o in window if lo <= o["created"] < hi)
        v = percentile(part, q)
        return None if v is None else (round(v, 2) if v != math.inf else "inf")

    def r(v):
        return None if v is None else (round(v, 2) if v != math.inf else "inf")

    rec.update({
        "saga_window_orders": len(window),
        "saga_created_per_s": round(len(window) / (t1 - t0), 1),
        "saga_settled_per_s_in_window": round(sum(1 for t in finals if t0 <= t <= t1) / (t1 - t0), 1),
        "saga_p50_ms": r(percentile(lat, 50)), "saga_p90_ms": r(percentile(lat, 90)),
        "saga_p99_ms": r(percentile(lat, 99)), "saga_max_ms": r(lat[-1] if lat else None),
        "saga_p50_first2s_ms": pct_in(t0, t0 + 2, 50), "saga_p50_last2s_ms": pct_in(t1 - 2, t1 + 1, 50),
        "saga_p99_first2s_ms": pct_in(t0, t0 + 2, 99), "saga_p99_last2s_ms": pct_in(t1 - 2, t1 + 1, 99),
        "saga_unsettled_at_stop": sum(1 for o in sagas.values() if o["created"] is not None
                                      and (o["final"] is None or o["final"] > t1)),
        "saga_unsettled_at_stop_live": unsettled_live,
        "saga_unsettled_after_wait": sum(1 for o in sagas.values() if o["final"] is None),
        "saga_settled_within_wait": settled,
        "saga_drain_s": round(max(0.0, max(finals, default=t1) - t1), 3),
        "saga_wait_s": round(t_settled - t_stop, 3),
        "saga_drain_cpu_s": round(drain_cpu_s, 3),
        "saga_outcomes_window": outcomes,
        "saga_orders_total": len(sagas),
        "saga_idle_ms": r((idle[0]["final"] - idle[0]["created"]) * 1000) if idle and idle[0]["final"] else None,
        "relay_lag_max_s": {s: sampler.max_in(s, "event_relay_lag_seconds", t0, t1) for s in ("order", "payment")},
        "outbox_pending_max": {s: sampler.max_in(s, "event_outbox_pending", t0, t1) for s in ("order", "payment")},
        "outbox_pending_at_stop": {s: sampler.max_in(s, "event_outbox_pending", t1, t1 + 0.6) for s in ("order", "payment")},
        "dead_letters_max": {s: sampler.max_in(s, "event_dead_letters", t0, t_settled) for s in ("order", "payment")},
        "telemetry_per_order": telemetry,
        "metrics_samples": sampler.samples,
    })
    log(f"  saga c={conns:<4} window orders={len(window)} 201->settled p50={rec['saga_p50_ms']}ms "
        f"p90={rec['saga_p90_ms']}ms p99={rec['saga_p99_ms']}ms max={rec['saga_max_ms']}ms "
        f"settled/s in window={rec['saga_settled_per_s_in_window']} unsettled at stop={rec['saga_unsettled_at_stop']} "
        f"drain={rec['saga_drain_s']}s outcomes={outcomes} relay lag max={rec['relay_lag_max_s']} "
        f"outbox max={rec['outbox_pending_max']} idle={rec['saga_idle_ms']}ms telemetry per order={telemetry}")
    return rec


def saga():
    """The order saga under load: `tracemart up` (full tracing), wrk POST /orders at each
    connection count, REPEATS times, each on a fresh data dir; see saga_run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"{stamp}-saga"
    run_dir.mkdir(parents=True)
    header = machine_header()
    header.update({"bench": "saga", "duration_s": DURATION, "warmup_s": WARMUP, "repeats": REPEATS,
                   "connections": CONNECTIONS, "wrk_threads": WRK_THREADS, "settle_s": SAGA_SETTLE_S})
    (run_dir / "machine.json").write_text(json.dumps(header, indent=1))
    log(f"# saga: {header['cpu_model']}, nproc={NPROC}; {REPEATS} rounds x {CONNECTIONS} connections, "
        f"{DURATION}s (+{WARMUP}s warm-up) each, then up to {SAGA_SETTLE_S}s to settle; results in {run_dir}")
    tm = Tracemart("saga")
    records = []
    with open(run_dir / "runs.jsonl", "w") as jl:
        for c in CONNECTIONS:
            for rnd in range(REPEATS):
                tag = f"saga-c{c}-r{rnd}"
                RUNNING.append(tm)
                try:
                    ready = tm.start(run_dir)
                    rec = saga_run(tm, c, run_dir, tag)
                finally:
                    tm.stop()
                    RUNNING.remove(tm)
                rec.update(ready)
                rec["round"] = rnd
                rec["log_problems"] = scan_logs(tm.data_dir, run_dir, tag)
                if rec["log_problems"]:
                    log(f"  log lines: {rec['log_problems']} (first ones in {tag}.log-problems.txt)")
                records.append(rec)
                jl.write(json.dumps(rec) + "\n")
                jl.flush()
                clean_data(run_dir)
    saga_summary(records, run_dir / "summary.md")


def saga_summary(records, out):
    def mr(values, f="{:.1f}"):
        """median (min–max), with unsettled orders ("inf") sorting last."""
        vals = sorted((math.inf if v == "inf" else v) for v in values if v is not None)
        if not vals:
            return "-"
        show = lambda v: "∞" if v == math.inf else f.format(v)
        med = vals[(len(vals) - 1) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2
        return show(med) if len(vals) == 1 else f"{show(med)} ({show(vals[0])}–{show(vals[-1])})"

    conns = sorted({r["connections"] for r in records})
    lines = ["`POST /orders` (wrk, full tracing into the console) and the saga of every order created "
             "during the measured window: OrderCreated → OrderConfirmed / OrderCancelled, from the "
             "order's event stream. Median (min–max) over rounds.", "",
             "| conns | orders/s | POST p50 ms | POST p99 ms | orders in window | 201→settled p50 ms | p90 ms | p99 ms | max ms "
             "| settled/s during load | unsettled at wrk stop | drain s | non-2xx | n |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in conns:
        rs = [r for r in records if r["connections"] == c]
        lines.append(
            f"| {c} | {mr([r['ok_rps'] for r in rs])} | {mr([r['p50_ms'] for r in rs], '{:.2f}')} "
            f"| {mr([r['p99_ms'] for r in rs], '{:.2f}')} | {mr([r['saga_window_orders'] for r in rs], '{:.0f}')} "
            f"| {mr([r['saga_p50_ms'] for r in rs])} | {mr([r['saga_p90_ms'] for r in rs])} "
            f"| {mr([r['saga_p99_ms'] for r in rs])} | {mr([r['saga_max_ms'] for r in rs])} "
            f"| {mr([r['saga_settled_per_s_in_window'] for r in rs])} | {mr([r['saga_unsettled_at_stop'] for r in rs], '{:.0f}')} "
            f"| {mr([r['saga_drain_s'] for r in rs], '{:.2f}')} | {sum(r['non2xx'] + r['errors'] for r in rs)} | {len(rs)} |")
    lines += ["", "The trend within the window (201→settled, orders created in its first 2 s → its last 2 s), "
              "the relay (max during the window, from the order service's /metrics every 0.5 s) and the outcomes:", "",
              "| conns | p50 first → last 2 s ms | p99 first → last 2 s ms | order relay lag max s | order outbox pending max "
              "| payment outbox pending max | one order on the idle shop ms | outcomes (orders in window) |",
              "|---|---|---|---|---|---|---|---|"]
    for c in conns:
        rs = [r for r in records if r["connections"] == c]
        outc = {}
        for r in rs:
            for k, v in r["saga_outcomes_window"].items():
                outc[k] = outc.get(k, 0) + v
        lines.append(
            f"| {c} | {mr([r['saga_p50_first2s_ms'] for r in rs])} → {mr([r['saga_p50_last2s_ms'] for r in rs])} "
            f"| {mr([r['saga_p99_first2s_ms'] for r in rs])} → {mr([r['saga_p99_last2s_ms'] for r in rs])} "
            f"| {mr([r['relay_lag_max_s']['order'] for r in rs], '{:.3f}')} | {mr([r['outbox_pending_max']['order'] for r in rs], '{:.0f}')} "
            f"| {mr([r['outbox_pending_max']['payment'] for r in rs], '{:.0f}')} | {mr([r['saga_idle_ms'] for r in rs])} "
            f"| {', '.join(f'{k} {v}' for k, v in sorted(outc.items()))} (sum of {len(rs)} runs) |")
    lines += ["", "CPU ms per order by process during the window (median of rounds); CPU used after wrk stopped, "
              "until every order had settled:", ""]
    for c in conns:
        rs = [r for r in records if r["connections"] == c]
        names = sorted({n for r in rs for n in r["cpu_ms_per_order_by_process"]})
        parts = [f"{n} {statistics.median(r['cpu_ms_per_order_by_process'].get(n, 0) for r in rs):.3f}" for n in names]
        lines.append(f"- c={c}: all {statistics.median(r['cpu_ms_per_order'] for r in rs):.3f} ({', '.join(parts)}); "
                     f"after the window {mr([r['saga_drain_cpu_s'] for r in rs], '{:.2f}')} CPU s")
    lines += ["", "Stored by the console per order (all orders of the run; median of rounds): spans, log records, traces:", ""]
    for c in conns:
        ts = [r["telemetry_per_order"] for r in records if r["connections"] == c and r.get("telemetry_per_order")]
        if ts:
            med = lambda f: statistics.median(f(t) for t in ts)
            svcs = sorted({k for t in ts for k in t["spans_by_service"]})
            lines.append(f"- c={c}: spans {med(lambda t: t['spans']):.1f}, logs {med(lambda t: t['logs']):.1f}, "
                         f"traces {med(lambda t: t['traces']):.2f}; spans by service: "
                         + ", ".join(f"{k} {med(lambda t: t['spans_by_service'].get(k, 0)):.1f}" for k in svcs))
    problems = {}
    for r in records:
        for k, v in r.get("log_problems", {}).items():
            problems[k] = problems.get(k, 0) + v
    lines += ["", "ERROR / WARN lines in the services' logs (all runs): "
              + (", ".join(f"{k} {v}" for k, v in sorted(problems.items())) or "none"),
              "Unsettled after the wait: " + str(sum(r["saga_unsettled_after_wait"] for r in records))
              + f" (waited at most {SAGA_SETTLE_S} s per run); dead letters (max): "
              + str(max((v or 0) for r in records for v in r["dead_letters_max"].values())), ""]
    lines.append("Machine during the runs (median): " + f"others_cores {statistics.median(r['others_cores'] for r in records):.2f}, "
                 f"probe {statistics.median(r['probe_s'] for r in records):.3f}s, "
                 f"max RSS {max(r['rss_max_total_kb'] for r in records) / 1024:.0f} MB")
    text = "\n".join(lines) + "\n"
    out.write_text(text)
    log("\n" + text)
    return text


def snapshot_binary():
    """Other people rebuild target/ on this machine: measure a private copy of the binary
    (`up` starts its children from its own path, so they are the copy too)."""
    global TM_BIN
    dst = RESULTS / "bin" / "tracemart"
    dst.parent.mkdir(parents=True, exist_ok=True)
    # copy2 keeps the mtime: another size or mtime is another build (older or newer)
    if not dst.exists() or (dst.stat().st_mtime, dst.stat().st_size) != (TM_BIN.stat().st_mtime, TM_BIN.stat().st_size):
        tmp = dst.with_suffix(".tmp")
        shutil.copy2(TM_BIN, tmp)
        tmp.replace(dst)
    TM_BIN = dst.resolve()


def snapshot_base():
    """A private copy of BASE_BIN (an earlier build), for the `versus` comparison."""
    src = os.environ.get("BASE_BIN")
    if not src or not Path(src).exists():
        raise SystemExit("versus needs BASE_BIN=<path to an earlier release build of tracemart>")
    dst = RESULTS / "bin" / "tracemart-base"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst.with_suffix(".tmp"))
    dst.with_suffix(".tmp").replace(dst)
    return dst.resolve()


def build_floor():
    r = subprocess.run(["cargo", "build", "--release", "--manifest-path", str(FLOOR_DIR / "Cargo.toml")])
    if r.returncode != 0:
        raise RuntimeError("building bench/floor failed")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    which = sys.argv[1]
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 1
    if not TM_BIN.exists():
        print(f"{TM_BIN} not found: cargo build --release -p tracemart", file=sys.stderr)
        return 1
    prepare_peer()  # for post_order.lua (all benchmarks use the peer's wrk script)
    snapshot_binary()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        if which == "vs-seed":
            sink = Sink()
            systems = [Peer(), Tracemart("tracemart"),
                       Tracemart("tracemart-sink", console=False, sink=sink,
                                 otlp=f"http://127.0.0.1:{sink.port}")]
            if os.environ.get("WITH_FLOOR", "1") != "0":
                # The floor in the same run shows the ceiling: how many times the seed any
                # program making these hops can reach on this machine.
                build_floor()
                systems.append(Floor())
            alternate("vs-seed", systems, "peer")
        elif which == "tracing-cost":
            alternate("tracing-cost", [Tracemart("tracing-off", env={"OTEL_SDK_DISABLED": "true"}),
                                       Tracemart("tracing-full")], "tracing-off")
        elif which == "floor":
            build_floor()
            alternate("floor", [Floor(), Tracemart("tracemart"),
                                Tracemart("tracemart-off", env={"OTEL_SDK_DISABLED": "true"})], "floor")
        elif which == "allocator":
            # Experiment (not one of the issue's benchmarks): the same binary with glibc malloc
            # vs jemalloc preloaded (Debian libjemalloc2), to size the allocator's share.
            jemalloc = os.environ.get("JEMALLOC", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
            alternate("allocator", [Tracemart("glibc-malloc"),
                                    Tracemart("jemalloc", env={"LD_PRELOAD": jemalloc})], "glibc-malloc")
        elif which == "versus":
            # Not one of the issue's benchmarks: an earlier build (BASE_BIN) against this one,
            # alternating, to size a change side by side. MODE=off compares with tracing off.
            base = snapshot_base()
            env = {"OTEL_SDK_DISABLED": "true"} if os.environ.get("MODE") == "off" else {}
            alternate("versus", [Tracemart("base", env=env, binary=base),
                                 Tracemart("new", env=env)], "base")
        elif which == "engines":
            # The same shop on SQLite + in-process events against PostgreSQL + RabbitMQ
            # (servers on this machine, started beforehand), full tracing into the console.
            pg = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            amqp = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
            alternate("engines", [Tracemart("sqlite-embedded"),
                                  TracemartOnServers("postgres-rabbitmq", pg, amqp)], "sqlite-embedded")
        elif which == "instances":
            # One against two order services on the same PostgreSQL databases and RabbitMQ
            # vhost, wrk's threads spread over the instances in both.
            pg = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            amqp = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
            alternate("instances", [OrderInstances("order-x1", pg, amqp, 1),
                                    OrderInstances("order-x2", pg, amqp, 2)], "order-x1")
        elif which == "footprint":
            footprint()
        elif which == "saga":
            saga()
        else:
            print(__doc__)
            return 2
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping what was started")
        return 130
    finally:
        for s in list(RUNNING):
            s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
