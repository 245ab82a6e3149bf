"""Helpers of the workflow tests (no tests here): pgqueuer's schema, jobs, events, the example consumer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
from pgqueuer.adapters.drivers.psycopg import PsycopgDriver
from pgqueuer.adapters.persistence.queries import Queries
from psycopg import sql

from iu_core.delivery.transactional import EventDelivery, load_event_delivery
from iu_core.delivery_seam import DeliveryRequest
from iu_core.workflow import PgQueuerEngine
from tests.support.worker import insert_events

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = ROOT / "examples" / "workflow_consumer.py"
ENTRYPOINT = "iu_structure"
REF = f"pgqueuer:{ENTRYPOINT}"
QUEUE_TABLE = PgQueuerEngine()._settings.queue_table


def install(url: str) -> None:
    PgQueuerEngine().install(url)


def uninstall(url: str) -> None:
    """Remove pgqueuer's schema with pgqueuer's own uninstaller (its queued jobs go with it)."""

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        async with conn:
            await Queries(PsycopgDriver(conn)).uninstall()

    asyncio.run(run())


def jobs_with_key(conn: psycopg.Connection[Any], key: str) -> int:
    """Jobs of pgqueuer's queue (queued or picked) that carry ``key`` as dedupe key."""
    query = sql.SQL("SELECT count(*) FROM {} WHERE dedupe_key = %s").format(sql.Identifier(QUEUE_TABLE))
    row = conn.execute(query, (key,)).fetchone()
    return int(row[0]) if row else 0


def queued_jobs(conn: psycopg.Connection[Any], entrypoint: str = ENTRYPOINT) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE entrypoint = %s").format(sql.Identifier(QUEUE_TABLE))
    row = conn.execute(query, (entrypoint,)).fetchone()
    return int(row[0]) if row else 0


def make_request(conn: psycopg.Connection[Any], route: str = "wf", target_ref: str = REF) -> DeliveryRequest:
    """A request for a new, real structure event of the outbox."""
    (event_id,) = insert_events(conn, 1)
    row = conn.execute("SELECT payload FROM event_outbox WHERE event_id = %s", (event_id,)).fetchone()
    assert row is not None
    return DeliveryRequest(
        route_code=route,
        event_ref=str(event_id),
        target_kind="workflow",
        target_ref=target_ref,
        idempotency_key=f"{route}:{event_id}",
        safe_payload=row[0],
    )


def make_delivery(conn: psycopg.Connection[Any], target_ref: str = REF) -> EventDelivery:
    delivery = load_event_delivery(conn, make_request(conn, target_ref=target_ref))
    assert delivery is not None
    return delivery


def run_consumer(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The example consumer as a real process, draining the queue then exiting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["IU_CORE_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, str(CONSUMER), "--drain", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def recorded(conn: psycopg.Connection[Any]) -> dict[uuid.UUID, int]:
    """How many times the example consumer ran a job for each event."""
    rows = conn.execute("SELECT event_id, count(*) FROM workflow_consumer_event GROUP BY event_id").fetchall()
    return {r[0]: int(r[1]) for r in rows}
