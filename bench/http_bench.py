"""``python -m bench http``: IU Core's HTTP delivery against a bare Python sender, in ONE run.

Everything runs on this machine against ONE loopback receiver
(``bench.http_receiver``), on one dedicated, durable embedded PostgreSQL
(``bench.server``: fsync, synchronous_commit and full_page_writes on):

1. the receiver's own ceiling, then a raw-socket client and the bare ``h11``
   client (``bench.http_clients``) sending the route's events, signed, no database;
2. a real ``iu-core worker`` process (default options) delivering N events
   through one live ``external_endpoint`` route (full audit: an attempt row per
   delivery), then the same through a ``directus_flow`` route;
3. commit -> receipt latency at 10% of the measured peak rate.

``--runs N`` repeats all three N times (the bare client too: each worker rate
is read against the bare client of its own repetition). ``--before-src DIR``
measures a second worker, run from another source tree (a ``git worktree`` of
an older commit), in the same repetitions, alternating which goes first.
Each worker run records its progress every 20 ms; a *stall* is an interval of
100 ms or more in which no delivery was recorded as sent.

Rates are timed from the first delivery recorded as sent to the last (worker
start-up excluded). CPU per 1,000 deliveries: the worker process, and every
PostgreSQL process (the postmaster and its children) over the same interval.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg

from bench import events as bench_events
from bench import http_clients, measure, procs, server
from bench.results import RESULTS_DIR, percentile
from bench.sqlfiles import q

ROUTE = "structure_op_applied.workflow"
PATH = "/iu-core-bench"
KINDS = ("external_endpoint", "directus_flow")


@dataclass
class HttpParams:
    n: int = 20_000  # deliveries per worker measurement
    latency_s: float = 10.0  # seconds of steady load for the latency figure
    max_in_flight: int = 64  # the route's max_in_flight (a route setting, not a worker option)
    timeout_s: float = 600.0  # a worker run that does not finish by then fails the bench
    runs: int = 1  # repetitions of the bare client, the workers and the latency figure
    before_src: str | None = None  # a second source tree measured beside this one

    @classmethod
    def quick(cls) -> HttpParams:
        return cls(n=400, latency_s=2.0, timeout_s=120.0)


def _events_for(n: int) -> int:
    # Every fifth generated event is of the other (disabled) route's type.
    return (n * 5 + 3) // 4


@contextlib.contextmanager
def receiver(log_path: Path) -> Iterator[int]:
    proc = procs.spawn(procs.module_cmd("bench.http_receiver", "--log", str(log_path)))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"receiver did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PgCpu:
    """CPU seconds of the postmaster and all its children (backends, WAL writer, checkpointer)."""

    def __init__(self, data_dir: Path) -> None:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        self.postmaster = psutil.Process(pid)

    def seconds(self) -> float:
        total = 0.0
        for proc in [self.postmaster, *self.postmaster.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


def _proc_cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _credential(kind: str) -> tuple[str, str]:
    if kind == "external_endpoint":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        return "webhook_secret", secret
    return "access_token", secrets.token_urlsafe(32)


def _setup_route(conn: psycopg.Connection[Any], kind: str, url: str, max_in_flight: int) -> str:
    bench_events.open_gate(conn)
    cred_kind, secret = _credential(kind)
    with conn.transaction():
        conn.execute(
            q("http_bench", "route_live"), {"kind": kind, "url": url, "max_in_flight": max_in_flight}
        )
        conn.execute(q("http_bench", "other_route_off"))
        fingerprint = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]
        conn.execute(
            q("http_bench", "credential"), {"kind": cred_kind, "secret": secret, "fingerprint": fingerprint}
        )
    return secret


def _target(kind: str, port: int) -> str:
    if kind == "directus_flow":
        return f"http://127.0.0.1:{port}/flows/trigger/{uuid.uuid4()}"
    return f"http://127.0.0.1:{port}{PATH}"


def _count(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(q("http_bench", name)).fetchone()
    return int(row[0]) if row else 0


def _start_worker(url: str, src: str | None = None) -> subprocess.Popen[str]:
    """``iu-core worker`` from this checkout, or (``src``) from another source tree."""
    cmd = procs.module_cmd("iu_core", "--database-url", url, "worker", "--json", "--log-level", "warning")
    if src is None:
        return procs.spawn(cmd)
    env = procs.env()
    env["PYTHONPATH"] = os.pathsep.join((str(procs.REPO), src))
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=procs.REPO
    )


STALL_S = 0.1  # no delivery recorded for this long is a stall


def _stalls(samples: list[tuple[float, int]]) -> dict[str, float]:
    """The longest interval without progress, and the seconds spent in stalls, from (time, sent) samples."""
    longest = 0.0
    stalled = 0.0
    last_t, last_sent = samples[0]
    for t, sent in samples[1:]:
        if sent != last_sent:
            gap = t - last_t
            longest = max(longest, gap)
            if gap >= STALL_S:
                stalled += gap
            last_t, last_sent = t, sent
    return {"longest_stall_ms": longest * 1000, "stalled_s": stalled}


def _stop_worker(proc: subprocess.Popen[str]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"iu-core worker exited {proc.returncode}: {err[-1500:]}")
    start = out.find("{")
    stats: dict[str, Any] = json.loads(out[start:]) if start >= 0 else {}
    return stats


def worker_run(
    srv: server.BenchServer, template: str, p: HttpParams, kind: str, port: int, src: str | None = None
) -> dict[str, Any]:
    """One ``iu-core worker`` (from ``src``, default this checkout) delivering p.n events through one
    live route of KIND."""
    pg = PgCpu(srv.data_dir)
    with srv.database(template) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            _setup_route(conn, kind, _target(kind, port), p.max_in_flight)
            have = _count(conn, "count_deliveries")
            if have != p.n:
                raise RuntimeError(f"the route has {have} deliveries, expected {p.n}")
        srv.checkpoint()
        proc = _start_worker(url, src)
        worker = psutil.Process(proc.pid)
        first: tuple[float, int, float, float] | None = None
        sent = 0
        samples: list[tuple[float, int]] = []
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                deadline = time.perf_counter() + p.timeout_s
                while time.perf_counter() < deadline and proc.poll() is None:
                    sent = _count(conn, "count_sent")
                    now = time.perf_counter()
                    if first is None and sent > 0:
                        first = (now, sent, _proc_cpu(worker), pg.seconds())
                    if first is not None:
                        samples.append((now, sent))
                    if sent >= p.n:
                        break
                    time.sleep(0.02)
            end = time.perf_counter()
            cpu_worker, cpu_pg = _proc_cpu(worker), pg.seconds()
        finally:
            stats = _stop_worker(proc) if proc.poll() is None else {}
        with psycopg.connect(url) as conn:
            row = conn.execute(q("http_bench", "count_attempts")).fetchone()
            attempts, attempts_sent = (int(row[0]), int(row[1])) if row else (0, 0)
    if first is None or sent < p.n:
        raise RuntimeError(f"{kind}: {sent} of {p.n} sent within {p.timeout_s:.0f} s")
    if attempts_sent != p.n:
        raise RuntimeError(f"{kind}: {attempts_sent} sent attempts recorded for {p.n} deliveries")
    t1, sent1, w1, pg1 = first
    measured = p.n - sent1
    per_k = 1000 / max(measured, 1)
    claims = int(stats.get("claims", 0))
    return {
        "kind": kind,
        "deliveries": p.n,
        "rate": measured / max(end - t1, 1e-9),
        "attempts": attempts,
        "cpu_worker_s_per_1k": (cpu_worker - w1) * per_k,
        "cpu_pg_s_per_1k": (cpu_pg - pg1) * per_k,
        "claims": claims,
        "round_trips": int(stats.get("round_trips", 0)),
        "round_trips_per_batch": int(stats.get("round_trips", 0)) / max(claims, 1),
        "per_claim": p.n / max(claims, 1),
        **_stalls(samples),
    }


def _receipts(log_path: Path) -> dict[str, float]:
    seen: dict[str, float] = {}
    for line in log_path.read_text(encoding="utf-8").splitlines():
        stamp, _, webhook_id = line.partition(" ")
        seen.setdefault(webhook_id, float(stamp))
    return seen


def latency(
    srv: server.BenchServer, p: HttpParams, rate: float, port: int, log_path: Path, src: str | None = None
) -> dict[str, Any]:
    """Commit -> receipt (ms) with events committed at RATE per second for p.latency_s."""
    with srv.database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            _setup_route(conn, "external_endpoint", _target("external_endpoint", port), p.max_in_flight)
        proc = _start_worker(url, src)
        committed: dict[str, float] = {}
        try:
            time.sleep(2.0)  # imported, connected, listening
            tick = 0.02
            owed = 0.0
            with psycopg.connect(url) as conn:
                start = time.perf_counter()
                next_at = start
                while time.perf_counter() - start < p.latency_s:
                    owed += rate * tick
                    k = int(owed)
                    owed -= k
                    if k:
                        ids = [r[0] for r in conn.execute(q("latency", "produce"), {"k": k})]
                        stamp = measure.stamp_and_commit(conn, time.time)
                        committed.update((f"{ROUTE}:{i}", stamp) for i in ids)
                    next_at += tick
                    time.sleep(max(0.0, next_at - time.perf_counter()))
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                time.sleep(0.3)
                seen = _receipts(log_path)
                if all(key in seen for key in committed):
                    break
        finally:
            _stop_worker(proc)
    lat = [(seen[key] - at) * 1000 for key, at in committed.items() if key in seen]
    if len(lat) < len(committed):
        raise RuntimeError(f"latency: {len(lat)} of {len(committed)} events received within 30 s")
    return {
        "rate": rate,
        "events": len(lat),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
        "p99_9_ms": percentile(lat, 99.9),
        "max_ms": max(lat),
    }


def _load_events(srv: server.BenchServer, template: str, n: int) -> list[http_clients.Event]:
    with srv.database(template) as url, psycopg.connect(url) as conn:
        rows = conn.execute(q("http_bench", "load_events"), {"n": n}).fetchall()
    return [
        http_clients.Event(f"{ROUTE}:{r[0]}", str(r[3].get("event_type") or r[1]), r[2], dict(r[3]))
        for r in rows
    ]


def _variants(p: HttpParams, repetition: int) -> list[tuple[str, str | None]]:
    if p.before_src is None:
        return [("this", None)]
    pair = [("this", None), ("before", p.before_src)]
    return pair if repetition % 2 == 0 else pair[::-1]  # alternate which goes first


def run(p: HttpParams, log: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {"params": p.__dict__.copy(), "started": dt.datetime.now(dt.UTC).isoformat()}
    srv = server.start()
    tmp = Path(tempfile.mkdtemp(prefix="iu-http-bench-"))
    log_path = tmp / "receipts.log"
    runs: list[dict[str, Any]] = []
    results["runs"] = runs
    try:
        results["server"] = srv.settings
        log(f"generating {_events_for(p.n)} events ({p.n} on the measured route)")
        template = srv.data_template(_events_for(p.n))
        events = _load_events(srv, template, p.n)
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        with receiver(log_path) as port:
            for repetition in range(p.runs):
                one: dict[str, Any] = {"load": os.getloadavg()[0]}
                runs.append(one)
                for name, client in (
                    ("receiver_ceiling", http_clients.ceiling),
                    ("raw_socket", http_clients.raw_socket),
                    ("bare_h11", http_clients.bare_h11),
                ):
                    one[name] = client("127.0.0.1", port, PATH, secret, events)
                    log(f"run {repetition + 1} {name}: {one[name]:,.0f} requests/s")
                for variant, src in _variants(p, repetition):
                    figures: dict[str, Any] = {}
                    one[variant] = figures
                    for kind in KINDS:
                        figures[kind] = worker_run(srv, template, p, kind, port, src)
                        log(f"run {repetition + 1} {variant} worker {kind}: {figures[kind]['rate']:,.0f}/s")
                    rate = figures["external_endpoint"]["rate"] * 0.1
                    figures["latency"] = latency(srv, p, rate, port, log_path, src)
                    log(f"run {repetition + 1} {variant} latency at {rate:,.0f}/s")
                one["load_after"] = os.getloadavg()[0]
    finally:
        server.stop(srv)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return results


def table(r: dict[str, Any]) -> str:
    lines: list[str] = []
    for i, one in enumerate(r["runs"], 1):
        bare = one["bare_h11"]
        lines.append(
            f"run {i} (load {one['load']:.1f} -> {one['load_after']:.1f}): receiver ceiling "
            f"{one['receiver_ceiling']:,.0f}/s, raw socket {one['raw_socket']:,.0f}/s, bare h11 {bare:,.0f}/s"
        )
        for variant in ("this", "before"):
            figures = one.get(variant)
            if figures is None:
                continue
            for kind in KINDS:
                w = figures[kind]
                lines.append(
                    f"  {variant:<6} {kind:<18} {w['rate']:>7,.0f}/s  ratio {w['rate'] / bare:.2f}  "
                    f"longest stall {w['longest_stall_ms']:.0f} ms, stalled {w['stalled_s']:.2f} s  "
                    f"CPU s/1k worker {w['cpu_worker_s_per_1k']:.2f} PostgreSQL {w['cpu_pg_s_per_1k']:.2f}  "
                    f"{w['round_trips_per_batch']:.2f} round trips per batch of {w['per_claim']:.0f}"
                )
            lat = figures["latency"]
            lines.append(
                f"  {variant:<6} commit -> receipt at {lat['rate']:,.0f}/s: p50 {lat['p50_ms']:.1f} ms, "
                f"p99 {lat['p99_ms']:.1f} ms, p99.9 {lat['p99_9_ms']:.1f} ms, max {lat['max_ms']:.1f} ms "
                f"({lat['events']} events)"
            )
    return "\n".join(lines)


def main(p: HttpParams, log: Callable[[str], None], results_dir: Path = RESULTS_DIR) -> int:
    results = run(p, log)
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"http-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(table(results))
    print(f"results: {out}")
    return 0
