"""The worker loop: lanes that run batches, a listener that wakes them, a pool for HTTP kinds.

- Each *lane* is a thread with its own autocommit connection. A round goes over
  the routes: a dry-run route gets one decision batch, a live sql_function
  route one delivery batch (each a single call = a single transaction), any
  other live kind a lease claim whose deliveries go to the thread pool.
- Results of the pool are recorded in batches (one call per route per round),
  fenced by their lease token.
- The *listener* LISTENs on ``iu_core_delivery`` and wakes the lanes; lanes
  also poll every ``poll_interval`` seconds, so a lost notification (a dropped
  connection) delays nothing by more than that.
- A lost database connection is retried with capped exponential backoff and
  jitter; the worker never exits because the database went away.
- ``stop()`` (SIGTERM/SIGINT in the CLI) stops claiming, waits up to
  ``drain_timeout_s`` for in-flight deliveries, records them and returns. A
  delivery still running after that keeps its lease, which expires: another
  worker delivers it again with the same idempotency key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg

from iu_core import db
from iu_core.delivery_seam import DeliveryRegistry, DeliveryTarget
from iu_core.errors import IuCoreError
from iu_core.worker import store
from iu_core.worker.config import WorkerConfig, WorkerStats
from iu_core.worker.dispatch import compose_registry, deliver_one
from iu_core.worker.ratelimit import TokenBucket

log = logging.getLogger("iu_core.worker")

CHANNEL = "iu_core_delivery"
ROUTES_TTL_S = 1.0
MIN_IDLE_WAIT_S = 0.02
BACKOFF_MAX_S = 5.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NotMigrated(IuCoreError):
    """The database lacks the worker's schema (migration 004)."""


def _require_schema(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT to_regprocedure('fn_iu_worker_deliver_sql_batch(text, integer)')").fetchone()
    if row is None or row[0] is None:
        raise NotMigrated("the database has no worker schema: run `iu-core db migrate` first")


class _Backoff:
    """Capped exponential backoff with jitter for reconnects."""

    def __init__(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        cap = min(BACKOFF_MAX_S, 0.1 * float(2 ** min(self.failures, 10)))
        return cap / 2 + random.random() * cap / 2

    def reset(self) -> None:
        self.failures = 0


class Worker:
    """One worker process's delivery machinery. ``run()`` blocks until done or stopped."""

    def __init__(
        self,
        database_url: str,
        config: WorkerConfig | None = None,
        *,
        targets: Mapping[str, DeliveryTarget] | None = None,
        registry: DeliveryRegistry | None = None,
    ) -> None:
        self.url = database_url
        self.config = config or WorkerConfig()
        self._targets = targets
        self._registry = registry
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._once = False
        self._wakes = [threading.Event() for _ in range(self.config.concurrency)]
        self._waiting = [False] * self.config.concurrency  # lane i is idle in _wait
        self._next_wake = 0
        self._lock = threading.Lock()
        self._routes: list[store.Route] = []
        self._routes_at = 0.0
        self._routes_dirty = True
        self._inflight: dict[str, int] = defaultdict(int)
        self._inflight_total = 0
        self._results: queue.SimpleQueue[store.Result] = queue.SimpleQueue()
        self._buckets: dict[str, TokenBucket] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._last_sweep = 0.0
        self._drain_deadline: float | None = None
        self._error: BaseException | None = None
        self._warned_unknown = False

    # -- control ---------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming, drain in-flight deliveries, return from ``run()``. Thread- and signal-safe."""
        if not self._stop.is_set():
            self._drain_deadline = time.monotonic() + self.config.drain_timeout_s
            self._stop.set()
        self._wake_all()

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _wake_one(self) -> None:
        """Wake one idle lane (round robin): new work needs one claim, not a stampede of
        every lane claiming at once. With no lane idle, wake them all: a lane between its
        last claim and its wait must not sleep through this."""
        n = len(self._wakes)
        for step in range(n):
            index = (self._next_wake + step) % n
            if self._waiting[index]:
                self._next_wake = index + 1
                self._wakes[index].set()
                return
        self._wake_all()

    def registry(self) -> DeliveryRegistry:
        if self._registry is None:
            self._registry = compose_registry(self.url, self._targets)
        return self._registry

    def run(self, *, once: bool = False, install_signal_handlers: bool = False) -> WorkerStats:
        """Deliver until stopped (or, with ``once``, until nothing is due); return the totals."""
        self._once = once
        started = time.monotonic()
        restore: list[tuple[signal.Signals, Any]] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                restore.append((signum, signal.signal(signum, lambda *_: self.stop())))
        self.registry()  # build targets before the first claim
        log.info(
            "worker started id=%s concurrency=%d batch_size=%d poll_interval=%.3gs routes=%s once=%s",
            self.config.worker_id,
            self.config.concurrency,
            self.config.batch_size,
            self.config.poll_interval,
            ",".join(self.config.routes) if self.config.routes else "all",
            once,
        )
        threads = [
            threading.Thread(target=self._lane, args=(i,), name=f"iu-core-lane-{i}", daemon=True)
            for i in range(self.config.concurrency)
        ]
        if not once:
            threads.append(threading.Thread(target=self._listen, name="iu-core-listen", daemon=True))
        try:
            for t in threads:
                t.start()
            lanes = threads[: self.config.concurrency]
            while any(t.is_alive() for t in lanes):
                for t in lanes:
                    t.join(0.2)
            self._stop.set()  # lets the listener go (once mode / all lanes done)
            for t in threads[self.config.concurrency :]:
                t.join(2)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            for signum_, handler in restore:
                signal.signal(signum_, handler)
        self.stats.elapsed_s = time.monotonic() - started
        totals = " ".join(f"{k}={v}" for k, v in self.stats.as_dict().items() if k != "elapsed_s")
        log.info("worker stopped %s elapsed_s=%.2f", totals, self.stats.elapsed_s)
        if self._error is not None:
            raise self._error
        return self.stats

    # -- lanes -----------------------------------------------------------------------
    def _idle(self) -> bool:
        with self._lock:
            return self._inflight_total == 0 and self._results.empty()

    def _lane(self, index: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        backoff = _Backoff()
        try:
            while True:
                stopping = self._stop.is_set()
                if stopping and (self._idle() or time.monotonic() > (self._drain_deadline or 0)):
                    if conn is not None and not conn.closed and not self._results.empty():
                        with contextlib.suppress(psycopg.Error):
                            self._flush(conn)
                    return
                try:
                    if conn is None or conn.closed:
                        conn = db.connect(self.url, autocommit=True)
                        conn.execute("SET application_name = 'iu-core worker'")
                        _require_schema(conn)
                        backoff.reset()
                    self._wakes[index].clear()
                    worked = self._flush(conn)
                    routes: list[store.Route] = []
                    if not stopping:
                        routes = self._get_routes(conn)
                        worked += self._round(conn, routes, index)
                        worked += self._flush(conn)
                        if index == 0:
                            worked += self._maybe_sweep(conn)  # released rows are due work
                    if self._once and worked == 0 and self._idle():
                        return
                    if worked == 0:
                        self._wait(index, conn, routes, stopping)
                except NotMigrated:
                    raise
                except (psycopg.OperationalError, psycopg.InterfaceError, IuCoreError) as exc:
                    delay = backoff.next_delay()
                    log.warning(
                        "database unavailable (%s); retrying in %.2fs",
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                        delay,
                    )
                    self.stats.add(reconnects=1)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
                    with self._lock:
                        self._routes_dirty = True
                    if self._once and backoff.failures > 8:
                        raise
                    self._stop.wait(delay)
                except Exception:
                    # A statement failed for a reason other than the connection (or a
                    # bug): log it and go on after a pause instead of spinning or dying.
                    # With --once it is the run's failure.
                    log.exception("worker round failed; retrying")
                    if self._once:
                        raise
                    self._stop.wait(backoff.next_delay())
        except BaseException as exc:
            self._error = exc
            self.stop()
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _get_routes(self, conn: psycopg.Connection[Any]) -> list[store.Route]:
        with self._lock:
            fresh = not self._routes_dirty and time.monotonic() - self._routes_at < ROUTES_TTL_S
            if fresh:
                return self._routes
            self._routes_dirty = False
        routes = store.load_routes(conn)
        if self.config.routes is not None:
            wanted = set(self.config.routes)
            unknown = wanted - {r.route_code for r in routes}
            if unknown and not self._warned_unknown:
                self._warned_unknown = True
                log.warning("unknown routes in --routes: %s", ", ".join(sorted(unknown)))
            routes = [r for r in routes if r.route_code in wanted]
        with self._lock:
            self._routes, self._routes_at = routes, time.monotonic()
        return routes

    def _round(self, conn: psycopg.Connection[Any], routes: list[store.Route], index: int) -> int:
        worked = 0
        now = _now()
        # Lanes start at different routes so that they do not queue behind each other.
        offset = index % len(routes) if routes else 0
        for route in routes[offset:] + routes[:offset]:
            if self._stop.is_set():
                break
            if route.paused_reason(now) is not None:
                continue
            worked += self._work_route(conn, route)
        return worked

    def _limit(self, route: store.Route, wanted: int) -> int:
        if route.rate_limit_per_s is None:
            return wanted
        with self._lock:
            bucket = self._buckets.get(route.route_code)
            if bucket is None or bucket.rate != route.rate_limit_per_s:
                bucket = self._buckets[route.route_code] = TokenBucket(route.rate_limit_per_s)
        return bucket.take(wanted)

    def _refund(self, route: store.Route, unused: int) -> None:
        bucket = self._buckets.get(route.route_code)
        if bucket is not None and unused > 0:
            bucket.refund(unused)

    def _work_route(self, conn: psycopg.Connection[Any], route: store.Route) -> int:
        cfg = self.config
        if route.dry_run:
            t0 = time.perf_counter()
            decided = store.decide_batch(conn, route.route_code, cfg.batch_size)
            if decided:
                self.stats.add(decided=decided, batches=1)
                log.info(
                    "batch route=%s mode=dry-run decided=%d ms=%.1f",
                    route.route_code,
                    decided,
                    (time.perf_counter() - t0) * 1000,
                )
            return decided
        if route.target_kind == "sql_function":
            limit = self._limit(route, cfg.batch_size)
            if limit == 0:
                return 0
            t0 = time.perf_counter()
            batch = store.deliver_sql_batch(conn, route.route_code, limit)
            done = batch.sent + batch.retrying + batch.dead
            self._refund(route, limit - done)
            if batch.paused:
                with self._lock:
                    self._routes_dirty = True
            if done or batch.paused:
                self.stats.add(sent=batch.sent, retrying=batch.retrying, dead=batch.dead, batches=1)
                log.info(
                    "batch route=%s kind=sql_function claimed=%d sent=%d retrying=%d dead=%d "
                    "waiting=%d%s ms=%.1f",
                    route.route_code,
                    batch.claimed,
                    batch.sent,
                    batch.retrying,
                    batch.dead,
                    batch.blocked,
                    f" paused={batch.paused!r}" if batch.paused else "",
                    (time.perf_counter() - t0) * 1000,
                )
            return done
        return self._claim_for_pool(conn, route)

    def _claim_for_pool(self, conn: psycopg.Connection[Any], route: store.Route) -> int:
        cfg = self.config
        with self._lock:
            slots = min(
                route.max_in_flight - self._inflight[route.route_code],
                cfg.http_concurrency - self._inflight_total,
                cfg.batch_size,
            )
        if slots <= 0:
            return 0
        slots = self._limit(route, slots)
        if slots == 0:
            return 0
        lease_s = route.timeout_s + route.connect_timeout_s + cfg.lease_margin_s
        claimed = store.claim(conn, route.route_code, slots, cfg.worker_id, lease_s)
        self._refund(route, slots - len(claimed))
        if not claimed:
            return 0
        with self._lock:
            self._inflight[route.route_code] += len(claimed)
            self._inflight_total += len(claimed)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(cfg.http_concurrency, thread_name_prefix="iu-core-deliver")
            pool = self._pool
        registry = self.registry()
        for item in claimed:
            future = pool.submit(deliver_one, route, item, registry)
            future.add_done_callback(self._delivered)
        log.debug("claimed route=%s kind=%s n=%d", route.route_code, route.target_kind, len(claimed))
        return len(claimed)

    def _delivered(self, future: Future[store.Result]) -> None:
        if future.cancelled():
            return
        result = future.result()  # deliver_one never raises
        self._results.put(result)
        with self._lock:
            self._inflight[result.route_code] -= 1
            self._inflight_total -= 1
        self._wake_one()  # one lane records the results and claims the next heads

    def _flush(self, conn: psycopg.Connection[Any]) -> int:
        """Record every finished delivery: one call per route."""
        pending: list[store.Result] = []
        while True:
            try:
                pending.append(self._results.get_nowait())
            except queue.Empty:
                break
        if not pending:
            return 0
        by_route: dict[str, list[store.Result]] = defaultdict(list)
        for result in pending:
            by_route[result.route_code].append(result)
        done = 0
        for route_code, results in by_route.items():
            t0 = time.perf_counter()
            try:
                recorded = store.record(conn, route_code, results)
            except psycopg.Error:
                for result in results:  # keep them for the next connection
                    self._results.put(result)
                raise
            done += len(results)
            self.stats.add(
                sent=recorded.sent,
                skipped=recorded.skipped,
                retrying=recorded.retrying,
                dead=recorded.dead,
                fenced=recorded.fenced,
                batches=1,
            )
            if recorded.fenced:
                log.warning(
                    "route=%s %d late results not recorded: their lease had passed to another worker",
                    route_code,
                    recorded.fenced,
                )
            if recorded.dead or recorded.retrying:
                with self._lock:
                    self._routes_dirty = True  # the circuit may have opened
            log.info(
                "batch route=%s recorded=%d sent=%d skipped=%d retrying=%d dead=%d ms=%.1f",
                route_code,
                len(results),
                recorded.sent,
                recorded.skipped,
                recorded.retrying,
                recorded.dead,
                (time.perf_counter() - t0) * 1000,
            )
        return done

    def _maybe_sweep(self, conn: psycopg.Connection[Any]) -> int:
        if time.monotonic() - self._last_sweep < self.config.sweep_interval_s:
            return 0
        self._last_sweep = time.monotonic()
        released = store.sweep(conn)
        if released:
            log.info("sweep released=%d held deliveries", released)
        return released

    def _wait(
        self, index: int, conn: psycopg.Connection[Any], routes: list[store.Route], stopping: bool
    ) -> None:
        timeout = self.config.poll_interval
        if stopping:
            timeout = 0.05
        else:
            now = _now()
            with self._lock:
                full = {code for code, n in self._inflight.items() if n > 0}
            # Routes that could take work now (a route with deliveries in flight is
            # woken by their completion instead of by polling).
            workable = [
                r.route_code for r in routes if r.paused_reason(now) is None and r.route_code not in full
            ]
            due = store.next_due(conn, workable) if workable else None
            if due is not None:
                timeout = min(timeout, max(due, MIN_IDLE_WAIT_S))
            for r in routes:  # wake when an open circuit's cool-down ends
                if r.enabled and r.live and r.circuit_open(now) and r.circuit_open_until is not None:
                    timeout = min(timeout, max((r.circuit_open_until - now).total_seconds(), MIN_IDLE_WAIT_S))
        self._waiting[index] = True
        try:
            self._wakes[index].wait(timeout)
        finally:
            self._waiting[index] = False

    # -- listener --------------------------------------------------------------------
    def _listen(self) -> None:
        backoff = _Backoff()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff.reset()
                    with self._lock:
                        self._routes_dirty = True
                    self._wake_all()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if note.payload == "config":
                                with self._lock:
                                    self._routes_dirty = True
                                self._wake_all()
                            else:
                                self._wake_one()
            except psycopg.Error as exc:
                log.debug("listener lost its connection: %s", type(exc).__name__)
                self._stop.wait(backoff.next_delay())


def run_worker(
    database_url: str,
    config: WorkerConfig | None = None,
    *,
    once: bool = False,
    targets: Mapping[str, DeliveryTarget] | None = None,
    stop: threading.Event | None = None,
    install_signal_handlers: bool = False,
) -> WorkerStats:
    """Run a worker until ``stop`` is set (or, with ``once``, until nothing is due)."""
    worker = Worker(database_url, config, targets=targets)
    watcher: threading.Thread | None = None
    if stop is not None:

        def watch() -> None:
            while not worker._stop.is_set():
                if stop.wait(0.1):
                    worker.stop()
                    return

        watcher = threading.Thread(target=watch, name="iu-core-stop", daemon=True)
        watcher.start()
    try:
        return worker.run(once=once, install_signal_handlers=install_signal_handlers)
    finally:
        worker._stop.set()
        if watcher is not None:
            watcher.join(1)
