"""/metrics: parsed with prometheus_client's own parser, values checked against the database."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from iu_core import metrics
from tests.support.console import client
from tests.support.routes import DEPRECATED_ROUTE, STRUCTURE_ROUTE, make_live
from tests.support.worker import insert_events, once, scalar


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def by_route(conn: psycopg.Connection[Any], query: str) -> dict[str, float]:
    return {r[0]: float(r[1]) for r in conn.execute(query).fetchall()}


def check_gauges(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float], conn: psycopg.Connection[Any]
) -> None:
    routes = [r[0] for r in conn.execute("SELECT route_code FROM iu_outbound_route").fetchall()]
    pending = by_route(
        conn,
        "SELECT route_code, count(*) FROM iu_delivery "
        "WHERE state IN ('pending','inflight','retrying','held') GROUP BY 1",
    )
    dead = by_route(
        conn, "SELECT route_code, count(*) FROM iu_route_dead_letter WHERE status = 'open' GROUP BY 1"
    )
    live = by_route(conn, "SELECT route_code, (NOT dry_run AND enabled)::int FROM iu_outbound_route")
    gate = conn.execute("SELECT fn_iu_delivery_gate_open()").fetchone()
    assert values[("iu_delivery_gate_open", ())] == (1.0 if gate and gate[0] else 0.0)
    for route in routes:
        key = (("route", route),)
        assert values[("iu_outbox_pending", key)] == pending.get(route, 0.0), route
        assert values[("iu_dead_letters_open", key)] == dead.get(route, 0.0), route
        assert values[("iu_route_live", key)] == live[route], route
        assert values[("iu_circuit_open", key)] == 0.0
        age = values[("iu_outbox_oldest_pending_age_seconds", key)]
        assert (age > 0) == (pending.get(route, 0) > 0), route


@pytest.mark.foreign_events  # a malformed event, on purpose
def test_metrics_after_a_worker_round_match_the_database(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_live(conn)  # the structure route live; the other stays dry-run
    bad, good = uuid.uuid4(), uuid.uuid4()
    insert_events(conn, 1, [bad], payload={"event_type": "structure_op_applied", "iu_id": "nope"})
    insert_events(conn, 3, [bad])  # held behind the dead letter
    insert_events(conn, 4, [good])
    insert_events(conn, 2, event_type="structure_piece_deprecated")
    stats = once(database_url)
    assert stats.sent == 4 and stats.dead == 1
    insert_events(conn, 2, [good])  # pending: not yet worked on

    route = f"metrics-test-{uuid.uuid4().hex[:8]}"
    metrics.record_attempt(route, "sql_function", "sent", 0.004, count=4)
    metrics.record_attempt(route, "sql_function", "failed", 0.002)
    metrics.record_dead_letter(route)

    server = metrics.start_metrics_server(0, database_url)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    values = samples(text)
    check_gauges(values, conn)
    assert values[("iu_outbox_pending", (("route", STRUCTURE_ROUTE),))] == 5  # 3 held + 2 pending
    assert values[("iu_dead_letters_open", (("route", STRUCTURE_ROUTE),))] == 1
    assert values[("iu_route_live", (("route", DEPRECATED_ROUTE),))] == 0
    assert values[("iu_delivery_gate_open", ())] == 1
    labels = (("outcome", "sent"), ("route", route), ("target_kind", "sql_function"))
    assert values[("iu_delivery_attempts_total", labels)] == 4
    assert values[("iu_deliveries_dead_lettered_total", (("route", route),))] == 1
    hist = (("route", route), ("target_kind", "sql_function"))
    assert values[("iu_delivery_duration_seconds_count", hist)] == 5
    assert abs(values[("iu_delivery_duration_seconds_sum", hist)] - 0.006) < 1e-9

    # the console serves the same registry (no login: Prometheus scrapes it)
    with client(database_url) as c:
        r = c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        check_gauges(samples(r.text), conn)


def test_console_metrics_token(database_url: str, conn: psycopg.Connection[Any]) -> None:
    del conn
    with client(database_url, metrics_token="t0ken-for-prometheus") as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer t0ken-for-prometheus"})
        assert r.status_code == 200 and "iu_delivery_gate_open 0.0" in r.text


def test_a_scrape_without_the_database_still_serves_the_counters() -> None:
    collector = metrics.DatabaseCollector("postgresql://127.0.0.1:1/nowhere?connect_timeout=1")
    families = list(collector.collect())
    assert [f.name for f in families] == ["iu_core_metrics_gauges_stale"]
    assert families[0].samples[0].value == 1.0


def test_scrapes_answer_at_once_under_an_exclusive_lock_and_share_one_connection(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    metrics.record_attempt("metrics-lock-test", "sql_function", "sent", 0.001)
    server = metrics.start_metrics_server(0, database_url)
    worker_url = f"http://127.0.0.1:{server.server_port}/metrics"
    results: list[tuple[float, str]] = []
    seen_connections: list[int] = []

    http = httpx.Client(timeout=30)  # one client: making one per request costs more than the scrape

    def scrape(url: str) -> None:
        started = time.monotonic()
        text = http.get(url).text
        results.append((time.monotonic() - started, text))

    def metrics_connections() -> int:
        return int(
            scalar(
                conn,
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'iu-core metrics'",
            )
        )

    try:
        with client(database_url) as console, psycopg.connect(database_url) as migration:
            console_url = str(console.base_url.join("/metrics"))
            # what a migration does: an exclusive lock on a delivery table, held
            migration.execute("LOCK TABLE iu_delivery IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            threads = [
                threading.Thread(target=scrape, args=(worker_url if i % 2 else console_url,))
                for i in range(12)
            ]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads) and time.monotonic() < started + 15:
                seen_connections.append(metrics_connections())
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            still_locked = migration.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            migration.rollback()  # the lock goes (a scrape that hung on it answers now)
            for t in threads:
                t.join()
            after = samples(httpx.get(worker_url, timeout=30).text)
    finally:
        http.close()
        server.shutdown()
        server.server_close()
    assert len(results) == 12
    # each scrape answered within the timeouts (2 s), not when the lock was released
    assert still_locked
    assert elapsed < 5 and max(seconds for seconds, _ in results) < 3, sorted(s for s, _ in results)
    for _, text in results:
        values = samples(text)
        assert values[("iu_core_metrics_gauges_stale", ())] == 1.0
        assert ("iu_outbox_pending", (("route", STRUCTURE_ROUTE),)) not in values
        assert not any(name == "iu_delivery_gate_open" for name, _ in values)
        labels = (("outcome", "sent"), ("route", "metrics-lock-test"), ("target_kind", "sql_function"))
        assert values[("iu_delivery_attempts_total", labels)] >= 1  # the counters are there
    # scrapes never piled up connections: the one the gauges use, at most
    assert max(seen_connections) <= 1, seen_connections
    # once the lock is gone, the gauges are back
    assert after[("iu_core_metrics_gauges_stale", ())] == 0.0
    check_gauges(after, conn)
