"""One ``--once`` run drains two busy HTTP routes completely: no delivery is left behind.

Regression: rows released from ``held`` used to be stamped with a new due time,
so they sorted behind the still-pending later rows of other streams; a claim
window full of rows blocked behind pending heads then never reached the heads,
and deliveries stayed pending while the worker went idle.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core.worker import WorkerConfig, run_worker
from tests.support.receivers import Receiver, add_route, set_secret

# Hand-made placeholder payloads: what these tests measure is delivery, not the payload.
pytestmark = pytest.mark.foreign_events

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTES = {"ops-hook": "structure_op_applied", "deprecated-hook": "structure_piece_deprecated"}


def _events(conn: psycopg.Connection[Any], n: int, units: int) -> None:
    """N events round-robin over UNITS IUs; every fifth one a deprecated-piece event."""
    conn.execute(
        """
        INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
        SELECT CASE WHEN g %% 5 = 0 THEN 'structure_piece_deprecated' ELSE 'structure_op_applied' END,
               'information_unit', u.iu, jsonb_build_object('iu_id', u.iu, 'n', g)
          FROM generate_series(1, %(n)s) g
          JOIN (SELECT i, gen_random_uuid() AS iu FROM generate_series(0, %(units)s - 1) i) u
            ON u.i = g %% %(units)s
         ORDER BY g
        """,
        {"n": n, "units": units},
    )


@pytest.mark.slow
def test_one_once_run_drains_two_busy_http_routes(database_url: str, conn: psycopg.Connection[Any]) -> None:
    with Receiver() as rx:
        for code, event_type in ROUTES.items():
            add_route(conn, code, rx.url, event_type=event_type)
            set_secret(conn, code, SECRET)
        conn.execute(
            "UPDATE iu_outbound_route SET max_in_flight = 64 WHERE route_code = ANY(%s)", (list(ROUTES),)
        )
        _events(conn, 2000, 200)
        stats = run_worker(database_url, WorkerConfig(concurrency=4), once=True)
        states = conn.execute(
            "SELECT route_code, state, count(*)::int FROM iu_delivery"
            " WHERE route_code = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2",
            (list(ROUTES),),
        ).fetchall()
        assert states == [("deprecated-hook", "sent", 400), ("ops-hook", "sent", 1600)], states
        assert stats.sent == 2000
        # Each event reached the receiver exactly once.
        assert len(rx.seen) == 2000
