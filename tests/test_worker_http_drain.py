"""A continuous worker drains two busy HTTP routes completely: no delivery is left behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg

from iu_core.worker import WorkerConfig, run_worker
from tests.test_http_support import Receiver, add_route, set_secret

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTES = {"ops-hook": "structure_op_applied", "deprecated-hook": "structure_piece_deprecated"}


def _events(conn: psycopg.Connection[Any], n: int, units: int) -> None:
    conn.execute(
        """
        INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
        SELECT CASE WHEN g % 2 = 0 THEN 'structure_op_applied' ELSE 'structure_piece_deprecated' END,
               'information_unit', u.iu, jsonb_build_object('iu_id', u.iu, 'n', g)
          FROM generate_series(1, %(n)s) g
          JOIN (SELECT i, gen_random_uuid() AS iu FROM generate_series(0, %(units)s - 1) i) u
            ON u.i = g %% %(units)s
         ORDER BY g
        """.replace("g % 2", "g %% 2"),
        {"n": n, "units": units},
    )


def test_continuous_worker_drains_two_http_routes(database_url: str, conn: psycopg.Connection[Any]) -> None:
    with Receiver() as rx:
        for code, event_type in ROUTES.items():
            add_route(conn, code, rx.url, event_type=event_type)
            set_secret(conn, code, SECRET)
        _events(conn, 1200, 120)
        stop = threading.Event()
        worker = threading.Thread(
            target=run_worker,
            args=(database_url, WorkerConfig(concurrency=4, poll_interval=0.5)),
            kwargs={"stop": stop},
            daemon=True,
        )
        worker.start()
        deadline = time.monotonic() + 90
        states: list[tuple[str, str, int]] = []
        try:
            while time.monotonic() < deadline:
                states = conn.execute(
                    "SELECT route_code, state, count(*)::int FROM iu_delivery"
                    " WHERE route_code = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2",
                    (list(ROUTES),),
                ).fetchall()
                if all(state == "sent" for _, state, _ in states):
                    break
                time.sleep(0.5)
        finally:
            stop.set()
            worker.join(60)
        left = conn.execute(
            "SELECT route_code, state, attempts, available_at > now() AS later, count(*)::int"
            " FROM iu_delivery WHERE route_code = ANY(%s) AND state <> 'sent' GROUP BY 1, 2, 3, 4",
            (list(ROUTES),),
        ).fetchall()
        assert states == [("deprecated-hook", "sent", 600), ("ops-hook", "sent", 600)], (states, left)
        # Each event reached the receiver once per route, in order within its IU.
        assert len(rx.seen) == 1200
