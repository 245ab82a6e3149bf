"""The worker's asyncio HTTP path against real loopback receivers: exactly once, signed, bounded."""

from __future__ import annotations

import collections
import datetime as dt
import json
import socket
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from standardwebhooks import Webhook

from iu_core.targets.webhook import Signer, new_secret
from iu_core.worker import WorkerConfig, run_worker
from tests.support.receivers import RawServer, Receiver, Reply, add_route, read_request, set_secret

# Hand-made placeholder payloads: what these tests measure is delivery, not the payload.
pytestmark = pytest.mark.foreign_events


def _events(
    conn: psycopg.Connection[Any], n: int, per_iu: int = 4, payload: dict[str, Any] | None = None
) -> None:
    conn.execute(
        """INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
           SELECT 'structure_op_applied', 'information_unit', ius.id,
                  %s::jsonb || jsonb_build_object('n', g)
             FROM generate_series(1, %s) g
             JOIN (SELECT i, gen_random_uuid() AS id FROM generate_series(0, %s) i) ius ON ius.i = g / %s""",
        (Jsonb(payload or {"event_type": "structure_op_applied"}), n, n // per_iu + 1, per_iu),
    )


def _states(conn: psycopg.Connection[Any], route: str) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM iu_delivery WHERE route_code = %s GROUP BY 1", (route,))
    return {r[0]: r[1] for r in rows}


@pytest.mark.slow
def test_async_path_delivers_2000_events_exactly_once_with_valid_signatures(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    secret = new_secret()
    with Receiver() as rx:
        add_route(conn, "fast", rx.url)
        conn.execute("UPDATE iu_outbound_route SET max_in_flight = 32 WHERE route_code = 'fast'")
        set_secret(conn, "fast", secret)
        _events(conn, 2000)
        stats = run_worker(database_url, WorkerConfig(), once=True)
        seen = list(rx.seen)
    assert stats.sent == 2000 and stats.dead == 0
    assert _states(conn, "fast") == {"sent": 2000}
    ids = collections.Counter(s.headers["webhook-id"] for s in seen)
    assert len(ids) == 2000 and max(ids.values()) == 1  # exactly once each
    verifier = Webhook(secret)
    for s in seen:
        verified = verifier.verify(s.body, s.headers)  # raises on a bad signature
        assert verified["id"] == s.headers["webhook-id"]
    # Claims and records are batched: far fewer statements than deliveries.
    assert stats.round_trips < 2000 / 4


def test_direct_signer_matches_standardwebhooks() -> None:
    secrets = [new_secret(), new_secret()]
    body = json.dumps({"id": "r:1", "data": {"text": "Điều 1 - ok é"}}, ensure_ascii=False).encode()
    for stamp in (1_700_000_000, 2_000_000_000):
        when = dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
        library = " ".join(Webhook(s).sign("r:1", when, body.decode()) for s in secrets)
        assert Signer(secrets).header("r:1", stamp, body) == library
    now = int(time.time())
    for secret in secrets:  # either key of a rotation window verifies the two-signature header
        headers = {
            "webhook-id": "r:1",
            "webhook-timestamp": str(now),
            "webhook-signature": Signer(secrets).header("r:1", now, body),
        }
        assert Webhook(secret).verify(body, headers)["id"] == "r:1"


def _hostile(body: bytes, extra_header: bytes = b"") -> Any:
    def handle(conn: socket.socket, n: int) -> None:
        while read_request(conn):
            head = b"HTTP/1.1 200 OK\r\n" + extra_header + b"Content-Length: %d\r\n\r\n" % len(body)
            conn.sendall(head + body)

    return handle


def test_hostile_bodies_and_headers_never_stall_delivery(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    """NUL, invalid UTF-8, escaped lone surrogates, 10 MB bodies and a 64 KB header: every
    event is recorded (sent or a failed attempt), and other routes keep delivering."""
    cases = {
        "nul": _hostile(b"ok\x00"),
        "badutf8": _hostile(b"\xff\xfe\xc3("),
        "surrogate": _hostile(b'{"x":"\\ud800"}'),
        "huge": _hostile(b"x" * (10 * 1024 * 1024)),
        "bighdr": _hostile(b"ok", b"X-Big: " + b"a" * (64 * 1024) + b"\r\n"),
    }
    servers = [RawServer(handle) for handle in cases.values()]
    with Receiver() as good:
        for srv in servers:
            srv.__enter__()
        try:
            for (code, _), srv in zip(cases.items(), servers, strict=True):
                add_route(conn, code, srv.url)
                set_secret(conn, code, new_secret())
            add_route(conn, "good", good.url)
            set_secret(conn, "good", new_secret())
            _events(conn, 20)
            stats = run_worker(database_url, WorkerConfig(), once=True)
        finally:
            for srv in servers:
                srv.__exit__(None, None, None)
        assert len(good.seen) == 20
    for code in [*cases, "good"]:
        states = _states(conn, code)
        assert set(states) <= {"sent", "retrying", "held"} and sum(states.values()) == 20, (code, states)
        assert states.get("sent", 0) + states.get("retrying", 0) > 0, code
    assert _states(conn, "nul") == {"sent": 20}
    bodies = [
        r[0]
        for r in conn.execute(
            "SELECT detail ->> 'response_body' FROM iu_route_attempt WHERE route_code = 'nul' LIMIT 1"
        )
    ]
    assert bodies == ["ok\ufffd"]
    assert stats.sent >= 20 * 4


def test_oversize_payload_becomes_a_dead_letter_with_the_reason(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    with Receiver() as rx:
        add_route(conn, "small", rx.url)
        set_secret(conn, "small", new_secret())
        conn.execute("UPDATE iu_outbound_route SET max_payload_bytes = 2000 WHERE route_code = 'small'")
        _events(conn, 1, payload={"event_type": "structure_op_applied", "blob": "x" * 5000})
        _events(conn, 1)
        run_worker(database_url, WorkerConfig(), once=True)
        assert len(rx.seen) == 1
    assert _states(conn, "small") == {"sent": 1, "dead": 1}
    (reason,) = conn.execute(
        "SELECT reason FROM iu_route_dead_letter WHERE route_code = 'small'"
    ).fetchone() or ("",)
    assert "exceeds the route's max_payload_bytes (2000)" in reason


def test_no_request_reaches_the_receiver_after_a_410(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    with Receiver(Reply(status=410, delay_s=0.05)) as rx:
        add_route(conn, "gone", rx.url)
        set_secret(conn, "gone", new_secret())
        conn.execute("UPDATE iu_outbound_route SET max_in_flight = 4 WHERE route_code = 'gone'")
        _events(conn, 200, per_iu=1)
        run_worker(database_url, WorkerConfig(), once=True)
        first_410_sent = min(s.at for s in rx.seen) + 0.05
        late = [s for s in rx.seen if s.at > first_410_sent + 0.01]
        total = len(rx.seen)
    assert late == [] and total <= 4, (total, len(late))
    enabled, reason = conn.execute(
        "SELECT enabled, disabled_reason FROM iu_outbound_route WHERE route_code = 'gone'"
    ).fetchone() or (None, None)
    assert enabled is False and "410" in reason
    assert _states(conn, "gone").get("dead", 0) == total  # the unsent ones wait, no attempt counted


@pytest.mark.slow
def test_route_failing_for_its_window_is_disabled_and_enable_brings_it_back(
    conn: psycopg.Connection[Any], database_url: str, cli: Any
) -> None:
    with Receiver(Reply(status=503)) as rx:
        add_route(conn, "flaky", rx.url)
        set_secret(conn, "flaky", new_secret())
        conn.execute(
            "UPDATE iu_outbound_route SET max_attempts = 100, circuit_failure_threshold = 1000 "
            "WHERE route_code = 'flaky'"
        )
        _events(conn, 2)
        run_worker(database_url, WorkerConfig(), once=True)
        # 73 hours of failures later (the clock is moved, not waited for):
        conn.execute("UPDATE iu_route_circuit SET failing_since = now() - interval '73 hours'")
        conn.execute("ALTER TABLE iu_outbound_route DISABLE TRIGGER USER")
        conn.execute("UPDATE iu_outbound_route SET updated_at = now() - interval '73 hours'")
        conn.execute("ALTER TABLE iu_outbound_route ENABLE TRIGGER USER")
        conn.execute("UPDATE iu_delivery SET available_at = now()")
        run_worker(database_url, WorkerConfig(), once=True)
    enabled, reason = conn.execute(
        "SELECT enabled, disabled_reason FROM iu_outbound_route WHERE route_code = 'flaky'"
    ).fetchone() or (None, "")
    assert enabled is False and "every attempt failed for 72 hours" in reason
    audit = conn.execute(
        "SELECT actor FROM iu_operator_audit WHERE object_key = 'flaky' AND after ->> 'enabled' = 'false'"
    ).fetchall()
    assert [a[0] for a in audit] == ["iu-core worker"]
    status = cli("status", "--json")
    assert "disabled automatically" in status.stdout
    assert cli("route", "enable", "flaky").returncode == 0
    assert conn.execute("SELECT enabled FROM iu_outbound_route WHERE route_code = 'flaky'").fetchone() == (
        True,
    )
    assert uuid  # the module's imports stay used
