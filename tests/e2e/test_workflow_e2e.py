"""End to end: outbox -> live ``pgqueuer:`` route -> ``iu-core worker`` -> the example pgqueuer consumer.

Everything is real: the CLI in subprocesses, pgqueuer's schema from its own
installer, the example consumer as its own process. What is checked is the
effect a user sees: every event's job ran exactly once, whatever happened
to the worker in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import CliRunner
from tests.support.worker import insert_events, wait_until, worker_process
from tests.support.workflow import ENTRYPOINT, REF, queued_jobs, recorded, run_consumer, uninstall

ROUTE = "wf"

pytestmark = pytest.mark.timeout(300)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def go_live(cli: CliRunner) -> None:
    """The operator's commands: install pgqueuer, add the route, open the gate, allowlist, switch live."""
    ok(cli("workflow", "install"))
    ok(
        cli(
            "route",
            "add",
            ROUTE,
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "workflow",
            "--target-ref",
            REF,
        )
    )
    ok(cli("gate", "open"))
    ok(cli("allowlist", "add", ROUTE))
    ok(cli("route", "set", ROUTE, "--live"))


def route_events(conn: psycopg.Connection[Any]) -> set[uuid.UUID]:
    rows = conn.execute("SELECT event_id FROM iu_delivery WHERE route_code = %s", (ROUTE,)).fetchall()
    return {r[0] for r in rows}


def states(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, count(*) FROM iu_delivery WHERE route_code = %s GROUP BY state", (ROUTE,)
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def reasons(conn: psycopg.Connection[Any]) -> list[str]:
    """The distinct failure reasons of the route's attempts (shown when an assertion fails)."""
    rows = conn.execute(
        "SELECT DISTINCT detail->>'reason' FROM iu_route_attempt WHERE route_code = %s AND status = 'failed'",
        (ROUTE,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def consume(url: str) -> None:
    result = run_consumer(url, "--entrypoint", ENTRYPOINT)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_live_route_runs_each_event_job_once_and_a_closed_gate_enqueues_nothing(
    cli: CliRunner, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    go_live(cli)
    ok(cli("gate", "close"))
    ok(cli("samples", "seed"))
    events = route_events(conn)
    assert len(events) >= 3

    ok(cli("worker", "--once"))
    assert queued_jobs(conn) == 0  # gate closed: nothing enqueued, nothing dead-lettered
    assert states(conn) == {"pending": len(events)}

    ok(cli("gate", "open"))
    ok(cli("worker", "--once"))
    assert states(conn) == {"sent": len(events)}, reasons(conn)
    assert queued_jobs(conn) == len(events)
    status = json.loads(ok(cli("workflow", "status", "--json")).stdout)
    (route,) = [r for r in status["routes"] if r["route_code"] == ROUTE]
    assert route["backlog"] == 0 and route["queued"] == len(events) and route["entrypoint"] == ENTRYPOINT

    consume(database_url)
    assert recorded(conn) == dict.fromkeys(events, 1)
    assert queued_jobs(conn) == 0

    # Nothing left to deliver: another worker pass and consumer pass change nothing.
    ok(cli("worker", "--once"))
    consume(database_url)
    assert recorded(conn) == dict.fromkeys(events, 1)


def _waiting_on_queue_lock(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND wait_event_type = 'Lock' AND query ILIKE %s LIMIT 1",
        ("%pgqueuer%",),
    ).fetchone()
    return None if row is None else int(row[0])


@pytest.mark.slow
def test_kill_9_mid_batch_and_dead_letter_replay_create_no_second_job(
    cli: CliRunner, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    go_live(cli)
    ok(cli("samples", "seed"))
    events = route_events(conn)

    # Hold pgqueuer's table so the worker stops inside its batch transaction
    # (claimed, job insert waiting), then kill -9 it there.
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE pgqueuer IN ACCESS EXCLUSIVE MODE")
        worker = worker_process(database_url)
        try:
            assert wait_until(lambda: _waiting_on_queue_lock(conn) is not None, timeout=60), (
                "worker never blocked"
            )
            backend = _waiting_on_queue_lock(conn)
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.communicate(timeout=10)  # reaps it and closes its pipes
        locker.rollback()
    # The killed worker's server session ends and rolls its transaction back.
    gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    if not wait_until(lambda: conn.execute(gone, (backend,)).fetchone() == (0,), timeout=20):
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        assert wait_until(lambda: conn.execute(gone, (backend,)).fetchone() == (0,), timeout=20)
    assert queued_jobs(conn) == 0
    assert "sent" not in states(conn)

    ok(cli("worker", "--once"))
    assert states(conn) == {"sent": len(events)}, reasons(conn)
    consume(database_url)
    assert recorded(conn) == dict.fromkeys(events, 1)

    # pgqueuer goes missing: the next deliveries fail and, with one attempt, become dead letters
    # (relaxed ordering: under strict ordering the first dead letter would hold its IU's later events).
    ok(cli("route", "set", ROUTE, "--max-attempts", "1", "--ordering", "relaxed"))
    uninstall(database_url)
    later = set(insert_events(conn, 3))
    ok(cli("worker", "--once"))
    assert states(conn).get("dead") == 3
    letters = json.loads(ok(cli("dead-letters", "list", "--route", ROUTE, "--json")).stdout)
    assert len(letters) == 3
    assert all("pgqueuer is not installed" in json.dumps(letter) for letter in letters)

    ok(cli("workflow", "install"))
    ok(cli("dead-letters", "replay", "--route", ROUTE, "--reason", "pgqueuer installed again"))
    ok(cli("worker", "--once"))
    consume(database_url)
    ok(cli("dead-letters", "replay", "--all", "--reason", "again"))  # nothing open: changes nothing
    ok(cli("worker", "--once"))
    consume(database_url)
    assert states(conn) == {"sent": len(events) + 3}
    assert recorded(conn) == dict.fromkeys(events | later, 1)
