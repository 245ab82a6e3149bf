"""The directus_flow target against a REAL Directus 12.4.0 (SQLite, 127.0.0.1).

Directus is installed once, outside the clone, by ``scripts/directus-env.sh
install`` (see ``tests/support/directus_install.py``); the test session does
that itself, right after collection, when it is missing. If it cannot, these
tests FAIL with the reason: they are never silently skipped. One server per
session (the ``directus`` fixture, ``tests/support/directus.py``); each test
creates its own flows and deletes them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from iu_core.targets import build_runtime_registry
from iu_core.targets.http import sync as http_sync
from tests.support.directus import COLLECTION, Directus
from tests.support.receivers import (
    add_route,
    attempts_of,
    outbox_event,
    outbox_structure_event,
    request_for,
    run_worker,
    set_token,
)

pytestmark = [pytest.mark.directus, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _cleanup(directus: Directus) -> Iterator[None]:
    yield
    http_sync.close()
    # Directus without a license allows only a few active flows: remove this test's.
    while directus.flows:
        directus.api("DELETE", f"/flows/{directus.flows.pop()}")


def _route(conn: psycopg.Connection[Any], directus: Directus, flow: str, token: str | None = None) -> str:
    code = f"directus.{uuid.uuid4().hex[:8]}"
    add_route(conn, code, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    set_token(conn, code, token or directus.token)
    return code


def test_every_delivered_event_arrives_once_per_delivery(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    ref = f"{directus.url}/flows/trigger/{flow}"
    requests = [request_for(route, ref, kind="directus_flow", event_ref=outbox_event(conn)) for _ in range(3)]
    outcomes = [target.deliver(r) for r in requests]
    again = target.deliver(requests[0])  # a re-delivery (e.g. after a crash) arrives again, same id
    assert all(o.status == "sent" and o.delivered for o in [*outcomes, again])
    assert outcomes[0].detail["http_status"] == 200
    for n, request in enumerate(requests):
        items = directus.items(request.idempotency_key)
        assert len(items) == (2 if n == 0 else 1)
        assert items[0]["event_type"] == "structure_op_applied"
        assert items[0]["data"]["iu_id"] == request.safe_payload["iu_id"]
    assert all(directus.token not in repr(dict(o.detail)) for o in outcomes)


def test_wrong_token_is_retried_then_succeeds(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow, token="not-the-token")
    target = build_runtime_registry(database_url)["directus_flow"]
    request = request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    failed = target.deliver(request)
    assert failed.status == "failed" and failed.detail["http_status"] == 401
    assert failed.detail["retryable"] is True and failed.detail["disable_route"] is False
    assert "not-the-token" not in repr(dict(failed.detail))
    assert directus.items(request.idempotency_key) == []
    set_token(conn, route, directus.token)  # the operator fixes the token
    target = build_runtime_registry(database_url)["directus_flow"]
    assert target.deliver(request).status == "sent"
    assert len(directus.items(request.idempotency_key)) == 1


def test_inactive_flow_is_retried_then_succeeds(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    request = request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    directus.api("PATCH", f"/flows/{flow}", json={"status": "inactive"})
    failed = target.deliver(request)
    assert failed.status == "failed" and failed.detail["http_status"] == 403
    assert failed.detail["retryable"] is True
    directus.api("PATCH", f"/flows/{flow}", json={"status": "active"})
    assert target.deliver(request).status == "sent"
    assert len(directus.items(request.idempotency_key)) == 1


def test_failing_flow_is_retryable(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow(fail_with=503)
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    outcome = target.deliver(request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow"))
    assert outcome.status == "failed" and outcome.detail["http_status"] == 503
    assert outcome.detail["retryable"] is True
    assert "IU_TEST_FAILURE" in outcome.detail["response_body"]


def test_cli_token_set_and_deliver_test(directus: Directus, conn: psycopg.Connection[Any], cli: Any) -> None:
    flow = directus.create_flow()
    route = f"directus.{uuid.uuid4().hex[:8]}"
    add_route(conn, route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    done = cli("route", "token", "set", route, input=directus.token + "\n")
    assert done.returncode == 0, done.stderr
    assert directus.token not in done.stdout + done.stderr
    result = cli("deliver", "test", route)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent: HTTP 200")
    assert directus.token not in result.stdout + result.stderr
    rows = directus.api("GET", f"/items/{COLLECTION}", params={"filter[event_type][_eq]": "iu_core.test"})
    assert any(r["data"]["route_code"] == route for r in rows)


def test_worker_retries_a_wrong_token_then_dead_letters(
    directus: Directus, conn: psycopg.Connection[Any], cli: Any
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow, token="expired-token")
    conn.execute(
        "UPDATE iu_outbound_route SET max_attempts = 2, base_delay_ms = 0, max_delay_ms = 0"
        " WHERE route_code = %s",
        (route,),
    )
    event = outbox_structure_event(conn)
    run_worker(cli, conn, route, until=2)
    attempts = attempts_of(conn, route)
    assert [(a[0], a[1]["http_status"], a[1]["retryable"]) for a in attempts] == [("failed", 401, True)] * 2
    dead = conn.execute(
        "SELECT attempts FROM iu_route_dead_letter WHERE route_code = %s AND event_ref = %s", (route, event)
    ).fetchall()
    assert dead == [(2,)]
    assert directus.items(f"{route}:{event}") == []
    assert "expired-token" not in str(attempts)
