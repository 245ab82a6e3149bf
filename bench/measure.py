"""One repetition of each measurement, on a fresh database of the run's server.

Every function sets up its own database (routes, events), excludes the set-up
from the timing, checks afterwards that the work was really done (projection
rows, attempt rows, decisions), and returns plain numbers.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench import events, procs
from bench.results import percentile
from bench.server import BenchServer
from bench.sqlfiles import q

STRUCTURE_ROUTE = "structure_op_applied.workflow"


class CheckFailed(RuntimeError):
    """The measured system did not do the work it was timed for."""


@contextlib.contextmanager
def _prepared(server: BenchServer, n: int, routes: str, **kw: Any) -> Iterator[str]:
    """A database holding N fresh pending deliveries, routes set for the measurement; yields its URL.

    The events come from the run's data template for N (generated once, with
    the seeded dry-run routes, so the fan-out trigger made one pending
    delivery per event); switching the routes afterwards only changes how the
    worker treats those deliveries.
    """
    with server.database(server.data_template(n)) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            if routes == "sql":
                events.routes_live_sql(conn)
            elif routes == "http":
                events.routes_http(conn, kw["target_url"], max_in_flight=kw["max_in_flight"])
            # "dry": the seeded routes are dry-run already.
        yield url


# ---------------------------------------------------------------------------
# 1. The limit
# ---------------------------------------------------------------------------
def limit(server: BenchServer, n: int, *, audit: bool) -> float:
    """Events/s of the set-based projection (with the worker's audit rows when ``audit``)."""
    with _prepared(server, n, "sql") as url, psycopg.connect(url) as conn:
        start = time.perf_counter()
        with conn.transaction():
            conn.execute(q("limit", "limit_projection"))
            if audit:
                conn.execute(q("limit", "limit_attempts"))
                conn.execute(q("limit", "limit_delivery_state"))
        elapsed = time.perf_counter() - start
        projected = events.count(conn, "count_projection")
        if projected != n:
            raise CheckFailed(f"limit projected {projected} of {n} events")
        return n / elapsed


# ---------------------------------------------------------------------------
# 2-4, 8. The worker
# ---------------------------------------------------------------------------
@dataclass
class WorkerRun:
    rate: float  # events/s
    elapsed_s: float
    maxrss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)


def _worker_cmd(
    url: str, *, concurrency: int | None, batch_size: int | None, forever: bool = False, durable: bool = False
) -> list[str]:
    args = ["--url", url]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    if batch_size is not None:
        args += ["--batch-size", str(batch_size)]
    if forever:
        args += ["--forever"]
    if durable:
        args += ["--durable-sql-commits"]
    return procs.module_cmd("bench.worker_proc", *args)


def worker(
    server: BenchServer,
    n: int,
    *,
    mode: str,
    concurrency: int | None,
    batch_size: int | None = None,
    target_url: str | None = None,
    max_in_flight: int = 64,
    timeout: float | None = None,
    durable: bool = False,
) -> WorkerRun:
    """One ``run_worker(once=True)`` over N fresh events; mode is sql, dry or http."""
    with _prepared(server, n, mode, target_url=target_url, max_in_flight=max_in_flight) as url:
        # A worker that stops making progress must not hang the run: at least 100 events/s.
        limit_s = timeout or max(120.0, n / 100)
        if mode == "http":
            report = _run_until_sent(url, n, concurrency=concurrency, batch_size=batch_size, timeout=limit_s)
        else:
            report = procs.run_json(
                _worker_cmd(url, concurrency=concurrency, batch_size=batch_size, durable=durable),
                timeout=limit_s,
            )
        elapsed = float(report["elapsed_s"])
        extra: dict[str, Any] = {"cpu_s": float(report.get("cpu_s", 0.0))}
        with psycopg.connect(url) as conn:
            if mode == "sql":
                projected = events.count(conn, "count_projection")
                row = conn.execute(q("events", "count_attempts")).fetchone()
                sent = int(row[1]) if row else 0
                if projected != n or sent != n:
                    raise CheckFailed(f"worker (sql) projected {projected}, attempts sent {sent}, of {n}")
            elif mode == "dry":
                row = conn.execute("SELECT count(*) FROM iu_route_decision").fetchone()
                decided = int(row[0]) if row else 0
                if decided != n:
                    raise CheckFailed(f"worker (dry-run) recorded {decided} decisions of {n}")
            else:
                row = conn.execute(q("events", "count_attempts")).fetchone()
                sent = int(row[1]) if row else 0
                if sent != n:
                    # Recorded, not raised: the rate of what was sent is still a measurement,
                    # and what was left (and in which state) is the evidence for the gap.
                    states = conn.execute(
                        "SELECT state, count(*) FROM iu_delivery GROUP BY 1 ORDER BY 2 DESC"
                    ).fetchall()
                    reason = conn.execute(
                        "SELECT detail->>'reason' FROM iu_route_attempt WHERE status = 'failed' LIMIT 1"
                    ).fetchone()
                    extra["incomplete"] = (
                        f"run_worker(once=True) returned after {sent} of {n} sent; deliveries by state: "
                        + ", ".join(f"{s}={c}" for s, c in states)
                        + (f"; a failure: {reason[0]}" if reason else "")
                    )
                    elapsed = elapsed * n / max(sent, 1)  # rate = sent / elapsed
                lat = [
                    float(r[0])
                    for r in conn.execute(
                        "SELECT (detail->>'latency_ms')::float8 FROM iu_route_attempt"
                        " WHERE status = 'sent' AND detail ? 'latency_ms'"
                    )
                ]
                e2e = [
                    float(r[0])
                    for r in conn.execute(
                        "SELECT extract(epoch FROM a.finished_at - a.started_at) * 1000"
                        "  FROM iu_route_attempt a WHERE a.status = 'sent'"
                    )
                ]
                if lat:
                    extra["http_p50_ms"] = percentile(lat, 50)
                    extra["http_p99_ms"] = percentile(lat, 99)
                if e2e:
                    extra["attempt_p50_ms"] = percentile(e2e, 50)
                    extra["attempt_p99_ms"] = percentile(e2e, 99)
        return WorkerRun(
            rate=n / elapsed, elapsed_s=elapsed, maxrss_mb=float(report["maxrss_mb"]), extra=extra
        )


# ---------------------------------------------------------------------------
# 4. The HTTP receiver (a separate process)
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def http_receiver() -> Any:
    proc = procs.spawn(procs.module_cmd("bench.receiver"))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(
                f"receiver did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        port = int(line.split()[1])
        yield f"http://127.0.0.1:{port}/iu-core-bench"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------
# 5. Pickup latency
# ---------------------------------------------------------------------------
def stamp_and_commit(conn: psycopg.Connection[Any], clock: Callable[[], float] = time.perf_counter) -> float:
    """Commit and return the moment the commit was sent.

    The events become visible somewhere inside the commit's round trip. A stamp
    taken after ``commit()`` returns can be later than the delivery itself when
    this thread is descheduled (a busy 2-core machine), giving a negative
    latency; a stamp taken before can only overstate it by the commit's own
    round trip, so the figure is an upper bound.
    """
    stamp = clock()
    conn.commit()
    return stamp


class _Observer(threading.Thread):
    """LISTENs on iu_bench_delivered and stamps each delivered event's arrival."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("LISTEN iu_bench_delivered")
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for note in self.conn.notifies(timeout=0.2):
                self.seen[note.payload] = time.perf_counter()

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        self.conn.close()


def _start_worker_forever(
    url: str, concurrency: int | None, batch_size: int | None, durable: bool = False
) -> subprocess.Popen[str]:
    proc = procs.spawn(
        _worker_cmd(url, concurrency=concurrency, batch_size=batch_size, forever=True, durable=durable)
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if '"ready"' not in line:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"worker did not start: {line!r} {err[-2000:]}")
    return proc


def _stop_worker(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError("worker did not stop within 30 s of SIGTERM") from None
    try:
        report = procs.last_json(out)
    except procs.ProcError:
        report = {}
    report["stderr_tail"] = "\n".join(err.strip().splitlines()[-8:])
    return report


def _run_until_sent(
    url: str, n: int, *, concurrency: int | None, batch_size: int | None, timeout: float
) -> dict[str, Any]:
    """A continuous worker, timed from its start until the bench sees N deliveries sent.

    Used for the HTTP kind: ``run_worker(once=True)`` may return while HTTP
    deliveries are still due (see BENCHMARKS.md), so the bench watches the
    database instead (every 50 ms) and then stops the worker with SIGTERM.
    """
    proc = _start_worker_forever(url, concurrency, batch_size)
    start = time.perf_counter()
    sent = 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while time.perf_counter() - start < timeout:
                row = conn.execute("SELECT count(*) FROM iu_delivery WHERE state = 'sent'").fetchone()
                sent = int(row[0]) if row else 0
                if sent >= n:
                    break
                time.sleep(0.05)
        elapsed = time.perf_counter() - start
    finally:
        report = _stop_worker(proc)
    if sent < n:
        with psycopg.connect(url) as conn:
            states = conn.execute(
                "SELECT state, count(*) FROM iu_delivery GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        raise CheckFailed(
            f"worker (http) sent {sent} of {n} within {timeout:.0f} s; deliveries by state: "
            + ", ".join(f"{s}={c}" for s, c in states)
            + f"; worker log tail: {report.get('stderr_tail', '')[-1500:]}"
        )
    report["elapsed_s"] = elapsed
    return report


def pickup_latency(
    server: BenchServer,
    *,
    rate: float | None,
    duration_s: float,
    idle_events: int,
    concurrency: int | None,
    batch_size: int | None,
    durable: bool = False,
) -> dict[str, float]:
    """Commit -> delivered (ms) at an idle worker (rate None: one event at a time) or at RATE events/s."""
    with server.database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            events.routes_live_sql(conn)
            conn.execute(q("latency", "install_observer"))
        observer = _Observer(url)
        observer.start()
        worker = _start_worker_forever(url, concurrency, batch_size, durable)
        committed: dict[str, float] = {}
        try:
            time.sleep(1.0)  # let the worker LISTEN and go idle
            with psycopg.connect(url) as conn:
                if rate is None:
                    for _ in range(idle_events):
                        ids = [r[0] for r in conn.execute(q("latency", "produce"), {"k": 1})]
                        stamp = stamp_and_commit(conn)
                        committed.update(dict.fromkeys(ids, stamp))
                        time.sleep(0.05)  # idle between events: each one wakes the worker
                else:
                    tick = 0.02
                    per_tick = rate * tick
                    owed = 0.0
                    start = time.perf_counter()
                    next_at = start
                    while time.perf_counter() - start < duration_s:
                        owed += per_tick
                        k = int(owed)
                        owed -= k
                        if k:
                            ids = [r[0] for r in conn.execute(q("latency", "produce"), {"k": k})]
                            stamp = stamp_and_commit(conn)
                            committed.update(dict.fromkeys(ids, stamp))
                        next_at += tick
                        time.sleep(max(0.0, next_at - time.perf_counter()))
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline and len(observer.seen.keys() & committed.keys()) < len(
                committed
            ):
                time.sleep(0.05)
        finally:
            _stop_worker(worker)
            observer.close()
        lat = [(observer.seen[e] - t) * 1000 for e, t in committed.items() if e in observer.seen]
        if len(lat) < len(committed):
            raise CheckFailed(f"only {len(lat)} of {len(committed)} events were delivered within 60 s")
        return {
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": max(lat),
            "events": float(len(lat)),
        }


# ---------------------------------------------------------------------------
# 6. Claim time vs backlog
# ---------------------------------------------------------------------------
def claim_vs_backlog(
    server: BenchServer, backlogs: list[int], *, batch_size: int, samples: int
) -> dict[int, dict[str, Any]]:
    """Per-batch claim time (ms) of the worker's own claim function at each backlog size.

    Each sample claims one batch (``fn_iu_worker_claim_rows``, exactly what a
    worker's batch starts with) and rolls back, so every sample sees the same
    backlog; a second timing covers a whole sql_function batch
    (``fn_iu_worker_deliver_sql_batch``: claim, deliver, audit), also rolled back.
    """
    out: dict[int, dict[str, Any]] = {}
    with server.database() as url, psycopg.connect(url, autocommit=True) as conn:
        events.routes_live_sql(conn)
        have = 0
        for backlog in sorted(backlogs):
            events.generate(conn, backlog - have, offset=have, n_iu=max(1, backlogs[0] // 10))
            have = backlog
            events.analyze(conn)
            server.checkpoint()
            claim_ms: list[float] = []
            batch_ms: list[float] = []
            for _ in range(samples):
                conn.execute("BEGIN")
                t0 = time.perf_counter()
                row = conn.execute(
                    "SELECT cardinality(ready) FROM fn_iu_worker_claim_rows(%s, %s, true, false)",
                    (STRUCTURE_ROUTE, batch_size),
                ).fetchone()
                claim_ms.append((time.perf_counter() - t0) * 1000)
                conn.execute("ROLLBACK")
                if not row or int(row[0]) == 0:
                    raise CheckFailed(f"claim at backlog {backlog} returned nothing")
                conn.execute("BEGIN")
                t0 = time.perf_counter()
                conn.execute(
                    "SELECT * FROM fn_iu_worker_deliver_sql_batch(%s, %s)", (STRUCTURE_ROUTE, batch_size)
                )
                batch_ms.append((time.perf_counter() - t0) * 1000)
                conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            plan = "\n".join(
                str(r[0])
                for r in conn.execute(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + q("events", "claim_explain"),
                    {"route": STRUCTURE_ROUTE, "limit": batch_size},
                )
            )
            conn.execute("ROLLBACK")
            out[backlog] = {
                "claim_ms": percentile(claim_ms, 50),
                "claim_p99_ms": percentile(claim_ms, 99),
                "batch_ms": percentile(batch_ms, 50),
                "explain": plan,
            }
    return out


# ---------------------------------------------------------------------------
# 7. Peers
# ---------------------------------------------------------------------------
PEERS = {"pgqueuer": "bench.peer_pgqueuer", "procrastinate": "bench.peer_procrastinate"}


def peer(
    server: BenchServer, name: str, n: int, *, noop: bool, concurrency: int, timeout: float = 3600
) -> WorkerRun:
    module = PEERS[name]
    with server.database(server.data_template(n)) as url:
        procs.run_quiet(procs.module_cmd(module, "prepare", "--url", url), timeout=timeout)
        server.checkpoint()
        args = ["run", "--url", url, "--concurrency", str(concurrency)] + (["--noop"] if noop else [])
        report = procs.run_json(procs.module_cmd(module, *args), timeout=timeout)
        jobs = int(report["jobs"])
        if jobs != n:
            raise CheckFailed(f"{name} ran {jobs} of {n} jobs")
        if not noop:
            with psycopg.connect(url) as conn:
                projected = events.count(conn, "count_projection")
            if projected != n:
                raise CheckFailed(f"{name} projected {projected} of {n} events")
        elapsed = float(report["elapsed_s"])
        return WorkerRun(rate=n / elapsed, elapsed_s=elapsed, maxrss_mb=float(report["maxrss_mb"]))
