"""What the operator reads: status at 80 columns in a pipe, finished deliveries with no next attempt."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from tests.conftest import run_iu_core
from tests.support.routes import add_route, make_live
from tests.support.worker import insert_events, once

LONG_URL = "https://receiver.example.internal/hooks/iu-core/structure-events/v2?tenant=legal-knowledge-hub"


def test_status_is_readable_piped_at_80_columns(database_url: str, conn: psycopg.Connection[Any]) -> None:
    add_route(conn, "orders-hook", kind="external_endpoint", ref=LONG_URL)
    result = run_iu_core(["status"], database_url=database_url, env={"COLUMNS": "80"})  # stdout is a pipe
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Every kind and target whole on one line, next to each other: nothing folded.
    assert "  target   external_endpoint " + LONG_URL in lines
    assert "  target   workflow event_outbox" in lines
    assert not [line for line in lines if len(line) > 80 and LONG_URL not in line]
    assert not any("│" in line for line in lines)  # no table cells to fold into


def test_a_sent_delivery_shows_no_next_attempt(database_url: str, conn: psycopg.Connection[Any]) -> None:
    make_live(conn)
    insert_events(conn, 1)
    once(database_url)
    listed = run_iu_core(["deliveries", "list", "--state", "sent", "--json"], database_url=database_url)
    (sent,) = json.loads(listed.stdout)
    assert sent["state"] == "sent" and sent["next_attempt_at"] is None
    shown = json.loads(
        run_iu_core(
            ["deliveries", "show", str(sent["delivery_id"]), "--json"], database_url=database_url
        ).stdout
    )
    assert shown["next_attempt_at"] is None and shown["finished_at"] is not None
