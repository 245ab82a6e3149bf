"""The scheduler: lanes that decide what each route needs now and claim it.

Each *lane* is a thread with its own autocommit connection. A round goes over
the routes (lanes start at different ones); a live route is worked only while
``fn_iu_route_refusal`` lets it deliver (``store.Route.refusal``). The kind
table (``iu_core.delivery.kinds``) gives each live route its path:

- dry-run route: one decision batch (``fn_iu_worker_decide_batch``);
- SQL batch (``sql_function``): one delivery batch inside the database;
- in transaction (workflow, vector, report): claim, deliver and record in one
  transaction (``iu_core.worker.in_transaction``);
- asyncio HTTP: a claim that returns the deliveries AND the route's settings
  (one round trip), handed to the HTTP dispatcher;
- a kind whose target the caller passed in (``targets=``), or that nobody
  built: a lease claim handed to the thread-pool dispatcher.

A claim takes no more than the route's free in-flight slots (and its rate
limit). A lane with nothing to do waits for a wake-up (notification, a
finished delivery) or the next due time, at most ``poll_interval``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import psycopg

from iu_core import metrics
from iu_core.delivery import DeliveryPath, DeliveryRegistry, TransactionalTarget, spec, transactional_target
from iu_core.worker import store
from iu_core.worker.config import WorkerConfig, WorkerStats
from iu_core.worker.dispatch import PoolDispatcher
from iu_core.worker.http_dispatcher import HttpDispatcher
from iu_core.worker.in_transaction import deliver_in_transaction
from iu_core.worker.policy import Lease, RoutePolicy
from iu_core.worker.store import SqlBatch

log = logging.getLogger("iu_core.worker")

ROUTES_TTL_S = 30.0  # route changes arrive as notifications; this is the safety net
MIN_IDLE_WAIT_S = 0.02


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Claims work for every route; ``round`` is one pass of one lane."""

    def __init__(
        self,
        config: WorkerConfig,
        stats: WorkerStats,
        policy: RoutePolicy,
        registry: DeliveryRegistry,
        http: HttpDispatcher | None,
        pool: PoolDispatcher,
        stopping: Callable[[], bool],
        overridden: Collection[str] = (),
    ) -> None:
        self.config = config
        self.stats = stats
        self.policy = policy
        self.registry = registry
        self.http = http
        self.pool = pool
        self._stopping = stopping
        # Kinds whose target the caller passed in go through the registry, whatever their path.
        self._overridden = frozenset(overridden)
        # Targets delivered in transaction, each built when a route of its kind is first
        # worked: a worker without such routes never imports pgqueuer or numpy.
        self._transactional: dict[str, TransactionalTarget] = {}
        self._deliver_sql_batch = functools.partial(
            store.deliver_sql_batch, durable=config.durable_sql_commits
        )
        self._lock = threading.Lock()
        self._routes: list[store.Route] = []
        self._routes_at = 0.0
        self._routes_dirty = True
        self._warned_unknown = False

    def routes_changed(self) -> None:
        with self._lock:
            self._routes_dirty = True

    def routes(self, conn: psycopg.Connection[Any]) -> list[store.Route]:
        now = _now()
        with self._lock:
            fresh = not self._routes_dirty and time.monotonic() - self._routes_at < ROUTES_TTL_S
            if fresh and not any(r.refusal_expired(now) for r in self._routes):
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
        self.policy.seen_routes(routes)
        with self._lock:
            self._routes, self._routes_at = routes, time.monotonic()
        return routes

    def round(self, conn: psycopg.Connection[Any], routes: list[store.Route], index: int) -> int:
        worked = 0
        offset = index % len(routes) if routes else 0
        for route in routes[offset:] + routes[:offset]:
            if self._stopping():
                break
            if not route.workable or self.policy.is_gone(route.route_code):
                continue
            worked += self._work_route(conn, route)
        return worked

    def _work_route(self, conn: psycopg.Connection[Any], route: store.Route) -> int:
        if route.dry_run:
            t0 = time.perf_counter()
            decided = store.decide_batch(conn, route.route_code, self.config.batch_size)
            if decided:
                self.stats.add(decided=decided, batches=1)
                log.info(
                    "batch route=%s mode=dry-run decided=%d ms=%.1f",
                    route.route_code,
                    decided,
                    (time.perf_counter() - t0) * 1000,
                )
            return decided
        path = self._path(route.target_kind)
        if path is DeliveryPath.SQL_BATCH:
            return self._in_database(conn, route, self._deliver_sql_batch)
        if path is DeliveryPath.IN_TRANSACTION:
            target = self._transactional_target(route.target_kind)

            # Claim, target.deliver_batch, record and commit in ONE transaction.
            def in_transaction(c: psycopg.Connection[Any], code: str, limit: int) -> SqlBatch:
                return deliver_in_transaction(c, route, limit, self.config.worker_id, target)

            return self._in_database(conn, route, in_transaction)
        return self._claim(conn, route, http=path is DeliveryPath.ASYNC_HTTP)

    def _path(self, kind: str) -> DeliveryPath | None:
        """The kind's path from the table; None: through the registry on the thread pool
        (a kind nobody built, or whose target the caller passed in: SQL batches excepted)."""
        row = spec(kind)
        if row is None or (kind in self._overridden and row.path is not DeliveryPath.SQL_BATCH):
            return None
        return row.path

    def _transactional_target(self, kind: str) -> TransactionalTarget:
        with self._lock:
            if kind not in self._transactional:
                self._transactional[kind] = transactional_target(kind)
            return self._transactional[kind]

    def _in_database(
        self,
        conn: psycopg.Connection[Any],
        route: store.Route,
        batch_call: Callable[[psycopg.Connection[Any], str, int], SqlBatch],
    ) -> int:
        limit = self.policy.take_rate(route, self.config.batch_size)
        if limit == 0:
            return 0
        t0 = time.perf_counter()
        batch = batch_call(conn, route.route_code, limit)
        done = batch.sent + batch.skipped + batch.retrying + batch.dead
        if done:
            # One transaction delivered the batch: its time is shared by its attempts.
            seconds = time.perf_counter() - t0
            kind, code = route.target_kind, route.route_code
            for outcome, count in (
                ("sent", batch.sent),
                ("skipped", batch.skipped),
                ("failed", batch.retrying + batch.dead),
            ):
                metrics.record_attempt(code, kind, outcome, seconds * count / done, count)
            metrics.record_dead_letter(code, batch.dead)
        self.policy.refund_rate(route, limit - done)
        if batch.paused:
            self.routes_changed()
        if done or batch.paused:
            self.stats.add(
                sent=batch.sent, skipped=batch.skipped, retrying=batch.retrying, dead=batch.dead, batches=1
            )
            log.info(
                "batch route=%s kind=%s claimed=%d sent=%d skipped=%d retrying=%d dead=%d "
                "waiting=%d%s ms=%.1f",
                route.route_code,
                route.target_kind,
                batch.claimed,
                batch.sent,
                batch.skipped,
                batch.retrying,
                batch.dead,
                batch.blocked,
                f" paused={batch.paused!r}" if batch.paused else "",
                (time.perf_counter() - t0) * 1000,
            )
        return done

    def _claim(self, conn: psycopg.Connection[Any], route: store.Route, *, http: bool) -> int:
        cfg = self.config
        if self.policy.failures_pending(route.route_code):
            return 0  # the completer's record of them may open the circuit: wait for it
        reserved = self.policy.reserve(route, cfg.batch_size)
        if reserved == 0:
            return 0
        slots = self.policy.take_rate(route, reserved)
        if slots == 0:
            self.policy.unreserve(route.route_code, reserved)
            return 0
        lease_s = route.timeout_s + route.connect_timeout_s + cfg.lease_margin_s
        sender = self.http if http else None
        settings: dict[str, Any] | None = None
        try:
            if sender is not None:
                claimed, settings = store.claim_http(conn, route.route_code, slots, cfg.worker_id, lease_s)
            else:
                claimed = store.claim(conn, route.route_code, slots, cfg.worker_id, lease_s)
        except BaseException:
            self.policy.unreserve(route.route_code, reserved)
            self.policy.refund_rate(route, slots)
            raise
        self.stats.add(round_trips=1)
        self.policy.unreserve(route.route_code, reserved - len(claimed))
        self.policy.refund_rate(route, slots - len(claimed))
        if not claimed:
            return 0
        self.stats.add(claims=1)
        started = time.monotonic()
        self.policy.acquire(
            route.route_code, [Lease(c.delivery_id, c.lease_token, lease_s, started) for c in claimed]
        )
        if sender is not None and settings is not None:
            sender.submit(route, sender.plan(route.route_code, settings), claimed)
        else:
            self.pool.submit(route, claimed)
        log.debug("claimed route=%s kind=%s n=%d", route.route_code, route.target_kind, len(claimed))
        return len(claimed)

    def wait_timeout(self, conn: psycopg.Connection[Any], routes: list[store.Route]) -> float:
        """How long an idle lane may sleep: until the next due delivery, at most poll_interval."""
        timeout = self.config.poll_interval
        now = _now()
        workable = [r.route_code for r in routes if r.workable and not self.policy.busy(r.route_code)]
        due = store.next_due(conn, workable) if workable else None
        if due is not None:
            timeout = min(timeout, max(due, MIN_IDLE_WAIT_S))
        for r in routes:  # wake when an open circuit's cool-down ends
            if r.refusal == "circuit_open" and r.circuit_open_until is not None:
                timeout = min(timeout, max((r.circuit_open_until - now).total_seconds(), MIN_IDLE_WAIT_S))
        return timeout
