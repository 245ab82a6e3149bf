"""The supervisor: starts the worker's services, runs the scheduler's lanes, drains on stop.

Services (each one job, each its own module):

- ``scheduler``  lanes claiming work route by route (``concurrency`` threads);
- ``http_dispatcher``  one asyncio loop sending HTTP deliveries;
- ``dispatch.PoolDispatcher``  a thread pool for other Python targets;
- ``completer``  records outcomes in batches on its own connection;
- ``rescuer``  renews long leases, sweeps held rows;
- ``notifier``  LISTEN/NOTIFY wake-ups;
- ``policy``  rate limits, in-flight slots, routes gone after a 410.

``stop()`` (SIGTERM/SIGINT in the CLI) stops claiming, lets in-flight
deliveries finish for ``drain_timeout_s``, records them and returns. A
delivery still running after that keeps its lease, which expires: another
worker delivers it again with the same idempotency key. A lost database
connection is retried with capped exponential backoff and jitter.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg

from iu_core import db
from iu_core.delivery import DeliveryRegistry, DeliveryTarget
from iu_core.errors import IuCoreError
from iu_core.migrations import NotMigrated, require_schema
from iu_core.worker import service_loop
from iu_core.worker.completer import Completer
from iu_core.worker.config import WorkerConfig, WorkerStats
from iu_core.worker.dispatch import PoolDispatcher, compose_registry
from iu_core.worker.http_dispatcher import HttpDispatcher
from iu_core.worker.notifier import Notifier
from iu_core.worker.policy import RoutePolicy
from iu_core.worker.rescuer import Rescuer
from iu_core.worker.scheduler import Scheduler

log = logging.getLogger("iu_core.worker")

BACKOFF_MAX_S = 5.0


class _Backoff:
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
        n = self.config.concurrency
        self._wakes = [threading.Event() for _ in range(n)]
        self._waiting = [False] * n
        self._next_wake = 0
        self._drain_deadline: float | None = None
        self._error: BaseException | None = None
        self.policy = RoutePolicy(self.config.http_concurrency)

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
        """Wake one idle lane (round robin); with none idle, all (one may be about to sleep)."""
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

    def _recorded(self, config_changed: bool) -> None:
        if config_changed:
            self.scheduler.routes_changed()
        self._wake_one()  # a finished head may have released the next event of its IU

    def _config_changed(self) -> None:
        self.scheduler.routes_changed()
        self._wake_all()

    def _idle(self) -> bool:
        return self.policy.inflight_total == 0 and self.completer.idle()

    def run(self, *, once: bool = False, install_signal_handlers: bool = False) -> WorkerStats:
        """Deliver until stopped (or, with ``once``, until nothing is due); return the totals."""
        self._once = once
        started = time.monotonic()
        restore: list[tuple[signal.Signals, Any]] = []
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                restore.append((signum, signal.signal(signum, lambda *_: self.stop())))
        cfg = self.config
        registry = self.registry()
        self.completer = Completer(self.url, self.stats, self.policy, self._recorded)
        self.http = HttpDispatcher(self.policy, self.completer, self._wake_one)
        self.pool = PoolDispatcher(registry, cfg.http_concurrency, self.completer.put, self._pool_done)
        # A target given explicitly (``targets=``) replaces its kind's own path.
        self.scheduler = Scheduler(
            cfg,
            self.stats,
            self.policy,
            registry,
            self.http,
            self.pool,
            self._stop.is_set,
            set(self._targets or {}),
        )
        self.rescuer = Rescuer(self.url, cfg, self.policy, self._wake_all)
        notifier = Notifier(self.url, self._wake_one, self._config_changed, self._stop)
        log.info(
            "worker started id=%s concurrency=%d batch_size=%d http_concurrency=%d poll_interval=%.3gs "
            "routes=%s once=%s",
            cfg.worker_id,
            cfg.concurrency,
            cfg.batch_size,
            cfg.http_concurrency,
            cfg.poll_interval,
            ",".join(cfg.routes) if cfg.routes else "all",
            once,
        )
        lanes = [
            threading.Thread(target=self._lane, args=(i,), name=f"iu-core-lane-{i}", daemon=True)
            for i in range(cfg.concurrency)
        ]
        try:
            self.completer.start()
            self.http.start()
            self.rescuer.start()
            if not once:
                notifier.start()
            for t in lanes:
                t.start()
            while any(t.is_alive() for t in lanes):
                for t in lanes:
                    t.join(0.2)
            self._stop.set()
            left = (self._drain_deadline or time.monotonic()) - time.monotonic()
            self.http.stop(max(left, 0.0))
            self.pool.stop()
            self.completer.stop()
            self.rescuer.stop()
            notifier.join(2)
        finally:
            for signum_, handler in restore:
                signal.signal(signum_, handler)
        self.stats.elapsed_s = time.monotonic() - started
        totals = " ".join(f"{k}={v}" for k, v in self.stats.as_dict().items() if k != "elapsed_s")
        log.info("worker stopped %s elapsed_s=%.2f", totals, self.stats.elapsed_s)
        if self._error is not None:
            raise self._error
        return self.stats

    def _pool_done(self, route_code: str, delivery_id: int) -> None:
        self.policy.done(route_code, delivery_id)
        self._wake_one()

    # -- lanes -----------------------------------------------------------------------
    def _lane(self, index: int) -> None:
        conn: psycopg.Connection[Any] | None = None
        backoff = _Backoff()
        try:
            while True:
                stopping = self._stop.is_set()
                if stopping and (self._idle() or time.monotonic() > (self._drain_deadline or 0)):
                    return
                try:
                    if conn is None or conn.closed:
                        conn = db.connect(self.url, autocommit=True)
                        conn.execute("SET application_name = 'iu-core worker'")
                        require_schema(conn)
                        backoff.reset()
                    self._wakes[index].clear()
                    worked = 0
                    routes = []
                    completions = self.completer.completions
                    if not stopping:
                        routes = self.scheduler.routes(conn)
                        worked = self.scheduler.round(conn, routes, index)
                        if self._once and worked == 0 and index == 0 and self._idle():
                            worked = self.rescuer.sweep_now(conn)  # released rows are due work
                    if (
                        self._once
                        and worked == 0
                        and self._idle()
                        and completions == self.completer.completions  # nothing released meanwhile
                    ):
                        return
                    if worked == 0:
                        timeout = (
                            0.05
                            if stopping or (not self._idle() and self._once)
                            else (self.scheduler.wait_timeout(conn, routes))
                        )
                        self._waiting[index] = True
                        try:
                            self._wakes[index].wait(timeout)
                        finally:
                            self._waiting[index] = False
                except NotMigrated:
                    raise
                except (psycopg.OperationalError, psycopg.InterfaceError, IuCoreError) as exc:
                    delay = backoff.next_delay()
                    text = str(exc).strip()
                    log.warning(
                        "database unavailable (%s); retrying in %.2fs",
                        text.splitlines()[0] if text else type(exc).__name__,
                        delay,
                    )
                    self.stats.add(reconnects=1)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
                    self.scheduler.routes_changed()
                    if self._once and backoff.failures > 8:
                        raise
                    self._stop.wait(delay)
                except Exception as exc:
                    # A statement failed for a reason other than the connection (or a bug):
                    # log it and go on after a pause. With --once it is the run's failure.
                    service_loop.failed("scheduler", exc)
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
