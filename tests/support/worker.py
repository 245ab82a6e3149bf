"""Helpers shared by the worker tests (no tests here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from bench.procs import die_with_parent

from iu_core.worker import WorkerConfig, WorkerStats, run_worker
from tests.support.routes import STRUCTURE_ROUTE


def insert_events(
    conn: psycopg.Connection[Any],
    n: int,
    ius: Sequence[uuid.UUID] | None = None,
    event_type: str = "structure_op_applied",
    payload: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """Insert ``n`` well-formed structure events (the payload contract), IUs round-robin; return event ids."""
    ius = list(ius or [uuid.uuid4()])
    rows = conn.execute(
        """
        INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
        SELECT %(event_type)s::text, 'information_unit', iu,
               coalesce(%(payload)s::jsonb,
                        jsonb_build_object('schema_version', '1.0', 'iu_id', iu::text,
                                           'operation_id', gen_random_uuid()::text,
                                           'operation_type', 'split', 'event_type', %(event_type)s::text,
                                           'pieces', '[]'::jsonb, 'eids', '[]'::jsonb)
                        || CASE WHEN %(event_type)s::text = 'structure_piece_deprecated'
                                THEN jsonb_build_object('piece_id', gen_random_uuid()::text, 'eid', NULL)
                                ELSE jsonb_build_object('previous_eids', '{}'::jsonb) END)
          FROM (SELECT (%(ius)s::uuid[])[1 + (g - 1) %% cardinality(%(ius)s::uuid[])] AS iu, g
                  FROM generate_series(1, %(n)s) g) x
         ORDER BY g
        RETURNING event_id
        """,
        {"event_type": event_type, "payload": json.dumps(payload) if payload else None, "ius": ius, "n": n},
    ).fetchall()
    return [r[0] for r in rows]


def scalar(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def projection_count(conn: psycopg.Connection[Any]) -> int:
    return int(scalar(conn, "SELECT count(*) FROM iu_tree_change_log"))


def states(conn: psycopg.Connection[Any], route: str = STRUCTURE_ROUTE) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, count(*) FROM iu_delivery WHERE route_code = %s GROUP BY state", (route,)
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def wait_until(predicate: Callable[[], bool], timeout: float = 30, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def once(database_url: str, **config: Any) -> WorkerStats:
    return run_worker(database_url, WorkerConfig(**config), once=True)


@contextmanager
def running_worker(database_url: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """A worker running in a thread of this process until the block ends."""
    stop = threading.Event()
    box: dict[str, Any] = {}
    targets = kwargs.pop("targets", None)

    def run() -> None:
        box["stats"] = run_worker(database_url, WorkerConfig(**kwargs), stop=stop, targets=targets)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop"


def worker_process(database_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The real ``iu-core worker`` in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    full_env["IU_CORE_DATABASE_URL"] = database_url
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "iu_core", "worker", *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,  # SIGTERM when this test process dies
    )
