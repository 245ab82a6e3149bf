"""The whole benchmark run: one durable server, every figure, repetitions interleaved.

Repetitions are interleaved (rep 1 of everything, then rep 2, ...) rather than
back to back, so a burst of load from elsewhere on a shared machine smears
over all figures instead of biasing one; each figure is the median of its
repetitions and every ratio compares medians of the same run.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import measure, server
from bench.results import RunResults

INSTALL_HINT = "pip install -r bench/requirements.txt  (bench-only; never a runtime dependency)"


@dataclass
class Params:
    n: int = 100_000
    reps: int = 3
    concurrencies: list[int] = field(default_factory=lambda: [1, 2, 4])
    batch_size: int | None = None  # None: the worker's default
    http_n: int = 10_000
    http_concurrency: int = 4
    peer_n: int = 3_000
    peer_concurrency: int = 4
    backlogs: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    claim_samples: int = 15
    latency_events: int = 1000  # p99 of 1000 is the 10th-worst event, of 100 it is one outlier
    latency_load_s: float = 10.0
    worker_timeout_s: float | None = None  # None: max(120 s, N / 100 events/s)
    only: list[str] = field(default_factory=list)  # empty: every group
    large: bool = False
    quick: bool = False

    @classmethod
    def quick_params(cls, n: int = 2_000) -> Params:
        return cls(
            n=n,
            reps=1,
            concurrencies=[1, 4],
            http_n=max(100, n // 2),
            peer_n=max(100, min(n, 500)),
            backlogs=[max(100, n // 2), n, n * 4],
            claim_samples=3,
            latency_events=8,
            latency_load_s=1.0,
            worker_timeout_s=15.0,
            quick=True,
        )


GROUPS = ("limit", "worker", "dry", "http", "peers", "latency", "claim")


def peers_available() -> dict[str, bool]:
    return {
        "pgqueuer": bool(importlib.util.find_spec("pgqueuer")) and bool(importlib.util.find_spec("asyncpg")),
        "procrastinate": bool(importlib.util.find_spec("procrastinate")),
    }


def machine() -> dict[str, Any]:
    mem_kb = 0
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def _worker_default_batch() -> int:
    try:
        from iu_core.worker import WorkerConfig

        return int(WorkerConfig().batch_size)
    except Exception:
        return 500


class Runner:
    def __init__(self, params: Params, log: Callable[[str], None]) -> None:
        self.p = params
        self.log = log
        self.results = RunResults()

    def wanted(self, group: str) -> bool:
        return not self.p.only or group in self.p.only

    def guarded(self, group: str, fn: Callable[[], None]) -> None:
        """Run one measurement; a failure is recorded with its reason and the run goes on."""
        try:
            fn()
        except Exception as exc:
            self.log(f"  ! {group} failed: {exc}")
            self.results.errors.setdefault(group, f"{type(exc).__name__}: {exc}"[:2000])
            if os.environ.get("IU_CORE_BENCH_DEBUG"):
                traceback.print_exc()

    def run(self, argv: list[str]) -> RunResults:
        p = self.p
        r = self.results
        r.meta = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench " + shlex.join(argv),
            "params": asdict(p),
            "machine": machine(),
        }
        available = peers_available()
        for name, ok in available.items():
            if not ok and self.wanted("peers"):
                r.skipped[f"peers.{name}"] = f"{name} is not installed: {INSTALL_HINT}"
        t_start = time.perf_counter()
        self.log("starting a dedicated durable PostgreSQL (fsync, synchronous_commit on)…")
        srv = server.start()
        try:
            r.meta["postgres"] = srv.settings
            batch = p.batch_size or _worker_default_batch()
            r.meta["worker_batch_size"] = batch
            for rep in range(p.reps):
                self.log(f"repetition {rep + 1}/{p.reps}")
                self._one_rep(srv, available)
            if self.wanted("latency"):
                self._latency(srv)
            if self.wanted("claim"):
                self._claim(srv, batch)
        finally:
            server.stop(srv)
        r.meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        r.meta["duration_s"] = round(time.perf_counter() - t_start, 1)
        r.meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return r

    def _one_rep(self, srv: server.BenchServer, available: dict[str, bool]) -> None:
        p = self.p
        r = self.results
        if self.wanted("limit"):
            for audit in (False, True):
                key = "limit.audit" if audit else "limit.projection"
                label = (
                    "limit: set-based INSERT…SELECT, projection + attempts + delivery state"
                    if audit
                    else "limit: set-based INSERT…SELECT ON CONFLICT DO NOTHING, projection only"
                )

                def do(audit: bool = audit, key: str = key, label: str = label) -> None:
                    rate = measure.limit(srv, p.n, audit=audit)
                    r.figure(key, label, "events/s").values.append(rate)
                    r.figures[key].extra["n"] = p.n
                    self.log(f"  {key}: {rate:,.0f} events/s")

                self.guarded(key, do)
        if self.wanted("worker"):
            # The default commits without waiting for the WAL flush (a crash undoes whole
            # batches only); ".durable" is the same worker with --durable-sql-commits.
            variants = [(c, durable) for durable in (False, True) for c in p.concurrencies]
            for c, durable in variants:
                key = f"worker.sql.c{c}" + (".durable" if durable else "")
                what = ", durable commits" if durable else ""

                def do_w(c: int = c, key: str = key, durable: bool = durable, what: str = what) -> None:
                    run = measure.worker(
                        srv,
                        p.n,
                        mode="sql",
                        concurrency=c,
                        batch_size=p.batch_size,
                        timeout=p.worker_timeout_s,
                        durable=durable,
                    )
                    fig = r.figure(
                        key,
                        f"IU Core worker, live sql_function + full audit, concurrency {c}{what}",
                        "events/s",
                    )
                    fig.values.append(run.rate)
                    fig.extra.setdefault("maxrss_mb", []).append(run.maxrss_mb)
                    # worker process CPU / wall: how much of the time the Python side is busy
                    fig.extra.setdefault("worker_cpu_share", []).append(run.extra["cpu_s"] / run.elapsed_s)
                    fig.extra["n"] = p.n
                    self.log(
                        f"  {key}: {run.rate:,.0f} events/s, peak RSS {run.maxrss_mb:.0f} MB, "
                        f"worker CPU {run.extra['cpu_s'] / run.elapsed_s:.0%} of wall"
                    )

                self.guarded(key, do_w)
        if self.wanted("dry"):

            def do_d() -> None:
                c = max(p.concurrencies)
                run = measure.worker(
                    srv, p.n, mode="dry", concurrency=c, batch_size=p.batch_size, timeout=p.worker_timeout_s
                )
                fig = r.figure(
                    "worker.dry",
                    f"IU Core worker, dry-run routes (decisions recorded), concurrency {c}",
                    "events/s",
                )
                fig.values.append(run.rate)
                fig.extra["n"] = p.n
                self.log(f"  worker.dry: {run.rate:,.0f} events/s")

            self.guarded("worker.dry", do_d)
        if self.wanted("http"):

            def do_h() -> None:
                with measure.http_receiver() as url:
                    run = measure.worker(
                        srv,
                        p.http_n,
                        mode="http",
                        concurrency=p.http_concurrency,
                        batch_size=p.batch_size,
                        target_url=url,
                        timeout=p.worker_timeout_s,
                    )
                fig = r.figure(
                    "worker.http",
                    "IU Core worker, external_endpoint to a local 200 receiver, "
                    f"concurrency {p.http_concurrency}",
                    "events/s",
                )
                fig.values.append(run.rate)
                fig.extra["n"] = p.http_n
                for k, v in run.extra.items():
                    fig.extra.setdefault(k, []).append(v)
                if "incomplete" in run.extra:
                    r.errors.setdefault("worker.http", "incomplete: " + run.extra["incomplete"])
                self.log(f"  worker.http: {run.rate:,.0f} events/s {run.extra}")

            self.guarded("worker.http", do_h)
        if self.wanted("peers"):
            for name, ok in available.items():
                if not ok:
                    continue
                for noop in (False, True):
                    key = f"peer.{name}.{'noop' if noop else 'projection'}"
                    what = "no-op job" if noop else "job = the same projection insert"

                    def do_p(name: str = name, noop: bool = noop, key: str = key, what: str = what) -> None:
                        run = measure.peer(srv, name, p.peer_n, noop=noop, concurrency=p.peer_concurrency)
                        fig = r.figure(key, f"{name}: {what}, concurrency {p.peer_concurrency}", "jobs/s")
                        fig.values.append(run.rate)
                        fig.extra["n"] = p.peer_n
                        self.log(f"  {key}: {run.rate:,.0f} jobs/s")

                    self.guarded(key, do_p)

    def _latency(self, srv: server.BenchServer) -> None:
        p = self.p
        r = self.results
        c_peak = self._peak_concurrency()

        # Idle: the default configuration (one lane) and the peak one; each event
        # alone, 50 ms apart, so every one is a LISTEN/NOTIFY wake-up.
        idle_runs = [(1, "latency.idle", False), (1, "latency.idle_durable", True)]
        if c_peak is not None and c_peak != 1:
            idle_runs.append((c_peak, f"latency.idle_c{c_peak}", False))
        for c, key, durable in idle_runs:

            def idle(c: int = c, key: str = key, durable: bool = durable) -> None:
                res = measure.pickup_latency(
                    srv,
                    rate=None,
                    duration_s=0,
                    idle_events=p.latency_events,
                    concurrency=c,
                    batch_size=p.batch_size,
                    durable=durable,
                )
                what = ", durable commits" if durable else ""
                for stat in ("p50_ms", "p99_ms"):
                    fig = r.figure(
                        f"{key}.{stat[:3]}",
                        f"pickup latency commit→delivered, idle worker, concurrency {c}{what}, {stat[:3]}",
                        "ms",
                        higher_is_better=False,
                    )
                    fig.values.append(res[stat])
                    fig.extra["events"] = res["events"]
                self.log(f"  {key}: p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms")

            self.guarded(key, idle)
        peak = max((self.results.median(f"worker.sql.c{c}") or 0.0) for c in p.concurrencies)
        if not peak:
            self.results.errors.setdefault(
                "latency.load", "no worker throughput measured: no peak to take 50% of"
            )
            return

        def load() -> None:
            res = measure.pickup_latency(
                srv,
                rate=peak / 2,
                duration_s=p.latency_load_s,
                idle_events=0,
                concurrency=c_peak,
                batch_size=p.batch_size,
            )
            for stat in ("p50_ms", "p99_ms"):
                fig = r.figure(
                    f"latency.load.{stat[:3]}",
                    f"pickup latency commit→delivered at 50% of peak ({peak / 2:,.0f} events/s), {stat[:3]}",
                    "ms",
                    higher_is_better=False,
                )
                fig.values.append(res[stat])
                fig.extra.update({"events": res["events"], "offered_rate": peak / 2})
            self.log(f"  latency at 50% load: p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms")

        self.guarded("latency.load", load)

    def _peak_concurrency(self) -> int | None:
        best: tuple[float, int | None] = (0.0, None)
        for c in self.p.concurrencies:
            m = self.results.median(f"worker.sql.c{c}") or 0.0
            if m > best[0]:
                best = (m, c)
        return best[1] or (max(self.p.concurrencies) if self.p.concurrencies else None)

    def _claim(self, srv: server.BenchServer, batch: int) -> None:
        p = self.p

        def do() -> None:
            res = measure.claim_vs_backlog(srv, p.backlogs, batch_size=batch, samples=p.claim_samples)
            for backlog, v in res.items():
                fig = self.results.figure(
                    f"claim.{backlog}",
                    f"claim time per batch of {batch}, backlog {backlog:,}",
                    "ms",
                    higher_is_better=False,
                )
                fig.values.append(v["claim_ms"])
                fig.extra.update(
                    {
                        "backlog": backlog,
                        "batch_ms": v["batch_ms"],
                        "claim_p99_ms": v["claim_p99_ms"],
                        "explain": v["explain"],
                    }
                )
                self.log(
                    f"  claim at backlog {backlog:,}: {v['claim_ms']:.2f} ms/batch "
                    f"(whole sql batch {v['batch_ms']:.1f} ms)"
                )

        self.guarded("claim", do)


def stderr_log(msg: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
