"""The worker's own changes are audited under its name: a route it disables after an HTTP 410."""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core.targets.webhook import new_secret
from iu_core.worker import WorkerConfig, run_worker
from tests.support.receivers import Receiver, Reply, add_route, set_secret
from tests.support.worker import insert_events


def test_a_route_the_worker_disables_is_audited_as_the_worker(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    with Receiver(Reply(status=410)) as rx:
        add_route(conn, "gone", rx.url)
        set_secret(conn, "gone", new_secret())
        insert_events(conn, 1)
        start = conn.execute("SELECT coalesce(max(audit_id), 0) FROM iu_operator_audit").fetchone()
        run_worker(database_url, WorkerConfig(), once=True)
    rows = conn.execute(
        "SELECT actor, object_type, object_key, action, after ->> 'enabled',"
        "       after ->> 'disabled_reason', context"
        "  FROM iu_operator_audit WHERE audit_id > %s ORDER BY audit_id",
        start,
    ).fetchall()
    assert len(rows) == 1 and rows[0][:5] == ("iu-core worker", "route", "gone", "update", "false"), rows
    assert "410" in rows[0][5] and rows[0][6] == "iu-core worker"
