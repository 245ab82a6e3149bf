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
"""

from __future__ import annotations

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


class DatabaseCollector(Collector):
    """Scrape-time gauges, read from the database in one query per scrape.

    A scrape that cannot reach the database reports none of these gauges (and
    logs why) instead of failing the whole scrape: the worker's own counters
    are still worth having when the database is down.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _read(self) -> tuple[bool, list[tuple[Any, ...]]]:
        # A connection per scrape (every 15 s or so): nothing is held between
        # scrapes, and a database restart needs no reconnect logic.
        with psycopg.connect(
            self.database_url, autocommit=True, connect_timeout=5, application_name="iu-core metrics"
        ) as conn:
            row = conn.execute(queries("console")["metrics_gauges"]).fetchone()
        assert row is not None
        gate_open, routes = row
        return bool(gate_open), [tuple(r) for r in routes or ()]

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(False, []))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            gate_open, routes = self._read()
        except psycopg.Error as exc:
            log.warning("metrics: database unavailable, scrape-time gauges left out: %s", exc)
            return iter(())
        return iter(self._families(gate_open, routes))

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


_registered: list[DatabaseCollector] = []
_register_lock = threading.Lock()


def register_database(database_url: str) -> DatabaseCollector:
    """Read the scrape-time gauges from ``database_url`` (one database per process: the last one wins)."""
    with _register_lock:
        for old in _registered:
            if old.database_url == database_url:
                return old
            REGISTRY.unregister(old)
        _registered.clear()
        collector = DatabaseCollector(database_url)
        REGISTRY.register(collector)
        _registered.append(collector)
        return collector


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
