"""/metrics: parsed with prometheus_client's own parser, values checked against the database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from iu_core import metrics
from tests.support.console import client
from tests.support.routes import DEPRECATED_ROUTE, STRUCTURE_ROUTE, make_live
from tests.support.worker import insert_events, once


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
    assert list(collector.collect()) == []
