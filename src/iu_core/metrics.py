"""Prometheus metrics of delivery: what the worker counts, and what the database holds at scrape time.

Two kinds of figures, on one registry of their own (never the process-global
default, so a test or an embedding application sees only these):

- **Counted by the worker** as it records results: attempts by outcome, their
  duration, dead letters made. They live in the worker's process and start at
  zero with it, as Prometheus counters do.
- **Read at scrape time** from the database, all in ONE query per scrape
  (``metrics_gauges`` in ``sql/queries/console.sql``): backlog, oldest
  pending age, open dead letters, the gate, live routes, open circuits. Every
  process that can reach the database (any worker, the console) reports the
  same values, so it does not matter which one Prometheus scrapes.

A scrape can never hurt the worker: the gauges are read over ONE connection
per process, kept between scrapes, under a statement and a lock timeout.
When the database does not answer in time (a migration holds a lock on a
delivery table), or another scrape is still reading, the scrape answers at
once with the counters and without the gauges, and says so:
``iu_core_metrics_gauges_stale 1``.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from iu_core.errors import one_line
from iu_core.sqlfiles import queries

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "DatabaseCollector",
    "exposition",
    "record_attempt",
    "record_dead_letter",
    "register_database",
    "start_metrics_server",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

ATTEMPTS = Counter(
    "iu_delivery_attempts",
    "Delivery attempts recorded by this worker process, by route, target kind and outcome "
    "(sent, failed, skipped).",
    ["route", "target_kind", "outcome"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "iu_delivery_duration_seconds",
    "Time of one delivery attempt, from dispatch to result, by route and target kind.",
    ["route", "target_kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "iu_deliveries_dead_lettered",
    "Deliveries this worker process moved to the dead-letter queue, by route.",
    ["route"],
    registry=REGISTRY,
)


def record_attempt(route: str, kind: str, outcome: str, seconds: float, count: int = 1) -> None:
    """Count ``count`` attempts of one outcome that took ``seconds`` in all (a batch shares its time)."""
    if count <= 0:
        return
    ATTEMPTS.labels(route, kind, outcome).inc(count)
    histogram = DURATION.labels(route, kind)
    each = max(seconds, 0.0) / count
    for _ in range(count):
        histogram.observe(each)


def record_results(route: str, results: Sequence[Any], dead: int) -> None:
    """Count a recorded batch of worker results (each with status, target_kind, started/finished)."""
    for result in results:
        seconds = (result.finished_at - result.started_at).total_seconds()
        record_attempt(route, result.target_kind or "unknown", result.status, seconds)
    record_dead_letter(route, dead)


def record_dead_letter(route: str, count: int = 1) -> None:
    """Count deliveries of ``route`` that became dead letters."""
    if count > 0:
        DEAD_LETTERED.labels(route).inc(count)


class GaugesUnavailable(Exception):
    """The scrape-time gauges could not be read in time (the reason is the message)."""


class DatabaseCollector(Collector):
    """Scrape-time gauges, read from the database in one query per scrape.

    One connection, opened on the first scrape and kept (reopened after an
    error), used by one scrape at a time: a scrape that finds it busy waits at
    most half a second. The query runs under ``statement_timeout`` and
    ``lock_timeout``, so it neither waits behind an exclusive lock nor holds
    one for long. A scrape that cannot read the gauges in time reports none
    of them (and logs why) instead of failing or hanging: the worker's own
    counters are still worth having, and ``iu_core_metrics_gauges_stale`` is 1.
    """

    def __init__(self, database_url: str, *, timeout_s: float = 2.0) -> None:
        self.database_url = database_url
        self.timeout_s = timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            ms = max(1, int(self.timeout_s * 1000))
            conn = psycopg.connect(
                self.database_url,
                autocommit=True,
                connect_timeout=max(2, int(self.timeout_s + 0.999)),
                application_name="iu-core metrics",
            )
            # Set for the session (the URL's own options stay): a lock is waited
            # for half the time a statement may take.
            conn.execute(
                queries("console")["metrics_session"],
                {"statement_timeout": f"{ms}ms", "lock_timeout": f"{max(1, ms // 2)}ms"},
            )
            self._conn = conn
        return self._conn

    def _read(self) -> tuple[bool, list[tuple[Any, ...]]]:
        # Another scrape reads now: in normal times it is done in milliseconds;
        # when it is stuck behind a lock, this one does not queue up behind it.
        if not self._lock.acquire(timeout=min(0.5, self.timeout_s)):
            raise GaugesUnavailable("another scrape is still reading the gauges")
        try:
            conn = self._connection()
            try:
                row = conn.execute(queries("console")["metrics_gauges"]).fetchone()
            except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
                raise  # the connection is fine; only this scrape is late
            except psycopg.Error:
                self.close()  # broken or in an unknown state: the next scrape opens another
                raise
        finally:
            self._lock.release()
        assert row is not None
        gate_open, routes = row
        return bool(gate_open), [tuple(r) for r in routes or ()]

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter([*self._families(False, []), _stale_family(False)])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            gate_open, routes = self._read()
        except (psycopg.Error, GaugesUnavailable) as exc:
            log.warning("metrics: scrape-time gauges left out: %s", one_line(str(exc), 300))
            return iter([_stale_family(True)])
        return iter([*self._families(gate_open, routes), _stale_family(False)])

    @staticmethod
    def _families(gate_open: bool, routes: list[tuple[Any, ...]]) -> list[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "iu_outbox_pending",
            "Deliveries not yet at their target (pending, in flight, retrying, held).",
            labels=["route"],
        )
        oldest = GaugeMetricFamily(
            "iu_outbox_oldest_pending_age_seconds",
            "Age of the oldest delivery not yet at its target (0 when there is none).",
            labels=["route"],
        )
        dead = GaugeMetricFamily("iu_dead_letters_open", "Open dead letters.", labels=["route"])
        gate = GaugeMetricFamily("iu_delivery_gate_open", "1 while the global delivery gate is open.")
        live = GaugeMetricFamily(
            "iu_route_live", "1 while the route is live (not dry-run, enabled).", labels=["route"]
        )
        circuit = GaugeMetricFamily(
            "iu_circuit_open", "1 while the route's circuit breaker is open.", labels=["route"]
        )
        gate.add_metric([], 1.0 if gate_open else 0.0)
        for route, n_pending, age_s, n_dead, is_live, is_open in routes:
            pending.add_metric([route], float(n_pending))
            oldest.add_metric([route], float(age_s or 0.0))
            dead.add_metric([route], float(n_dead))
            live.add_metric([route], 1.0 if is_live else 0.0)
            circuit.add_metric([route], 1.0 if is_open else 0.0)
        return [pending, oldest, dead, gate, live, circuit]


def _stale_family(stale: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "iu_core_metrics_gauges_stale",
        "1 when this scrape could not read the database's gauges in time (they are left out).",
    )
    family.add_metric([], 1.0 if stale else 0.0)
    return family


_registered: list[DatabaseCollector] = []
_register_lock = threading.Lock()


def register_database(database_url: str) -> DatabaseCollector:
    """Read the scrape-time gauges from ``database_url`` (one database per process: the last one wins)."""
    with _register_lock:
        for old in _registered:
            if old.database_url == database_url:
                return old
            REGISTRY.unregister(old)
            old.close()
        _registered.clear()
        collector = DatabaseCollector(database_url)
        REGISTRY.register(collector)
        _registered.append(collector)
        return collector


@atexit.register
def _close_registered() -> None:
    # The last database's collector holds its connection until the process ends:
    # close it then, so no open connection is left to the garbage collector.
    with _register_lock:
        for collector in _registered:
            collector.close()


def exposition() -> bytes:
    """The registry in Prometheus' text format (for ``/metrics`` of the console)."""
    return generate_latest(REGISTRY)


def start_metrics_server(port: int, database_url: str, addr: str = "127.0.0.1") -> WSGIServer:
    """Serve ``/metrics`` on ``addr:port`` in a daemon thread (``iu-core worker --metrics-port``).

    Returns the server; ``server.shutdown()`` stops it. Port 0 picks a free
    port (``server.server_port``).
    """
    register_database(database_url)
    server, _thread = start_http_server(port, addr=addr, registry=REGISTRY)
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server
