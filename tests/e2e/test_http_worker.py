"""The HTTP targets through the real worker (`iu-core worker --once`), end to end.

The worker owns retries, dead letters and route disabling; these
tests check that what the targets report drives it as documented, and that a
route's secret appears nowhere the worker writes or the CLI prints.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from tests.support.receivers import (
    Receiver,
    Reply,
    add_route,
    attempts_of,
    outbox_structure_event,
    run_worker,
    set_secret,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _live_route(conn: psycopg.Connection[Any], code: str, url: str) -> None:
    add_route(conn, code, url, base_delay_ms=0, max_delay_ms=0, max_attempts=3)
    set_secret(conn, code, SECRET)


@pytest.mark.slow
def test_retry_then_sent_through_the_worker(conn: psycopg.Connection[Any], cli: Any) -> None:
    with Receiver() as rx:
        _live_route(conn, "hook.e2e", rx.url)
        rx.script = [Reply(503, body=b"busy")]
        event = outbox_structure_event(conn)
        worker_logs = run_worker(cli, conn, "hook.e2e", until=2)
        outputs = [
            cli("status", "--json"),
            cli("deliveries", "list", "--json"),
            cli("route", "show", "hook.e2e", "--json"),
            cli("route", "secret", "show-fingerprint", "hook.e2e", "--json"),
        ]
    attempts = attempts_of(conn, "hook.e2e")
    assert [a[0] for a in attempts] == ["failed", "sent"]
    failed, sent = attempts[0][1], attempts[1][1]
    assert failed["http_status"] == 503 and failed["retryable"] is True and failed["response_body"] == "busy"
    assert sent["http_status"] == 200 and sent["webhook_id"] == f"hook.e2e:{event}"
    assert [s.headers["webhook-id"] for s in rx.seen] == [f"hook.e2e:{event}"] * 2
    for seen in rx.seen:
        assert Webhook(SECRET).verify(seen.body, seen.headers)["data"]["operation_type"] == "split"
    # The secret is nowhere the worker writes or logs, or the CLI prints.
    assert "hook.e2e" in worker_logs  # the debug log was captured
    written = worker_logs + json.dumps([a[1] for a in attempts])
    written += "".join(o.stdout + o.stderr for o in outputs)
    written += "".join(r[0] for r in conn.execute("SELECT t::text FROM iu_operator_audit t").fetchall())
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    assert SECRET not in written and SECRET.removeprefix("whsec_") not in written


@pytest.mark.slow
def test_400_dead_letters_and_410_disables_through_the_worker(
    conn: psycopg.Connection[Any], cli: Any
) -> None:
    with Receiver(Reply(400, body=b"malformed")) as bad, Receiver(Reply(410, body=b"gone")) as gone:
        _live_route(conn, "hook.bad", bad.url)
        _live_route(conn, "hook.gone", gone.url)
        outbox_structure_event(conn)
        run_worker(cli, conn, "hook.bad", until=1)
        run_worker(cli, conn, "hook.gone", until=1)
        dead = cli("dead-letters", "list", "--json")
    assert [a[0] for a in attempts_of(conn, "hook.bad")] == ["failed"]  # permanent: no retry
    assert len(bad.seen) == 1
    assert dead.returncode == 0, dead.stderr
    assert "hook.bad" in dead.stdout and "HTTP 400" in dead.stdout
    row = conn.execute(
        "SELECT enabled, disabled_reason FROM iu_outbound_route WHERE route_code = 'hook.gone'"
    ).fetchone()
    assert row is not None and row[0] is False and "410" in row[1]
    assert len(gone.seen) == 1
