"""A pgqueuer consumer of IU Core's ``workflow`` target: records every structure event it is handed.

IU Core enqueues one pgqueuer job per delivery of a live ``pgqueuer:ENTRYPOINT``
route, in the delivery's own transaction. This process is the other side: a
plain pgqueuer ``QueueManager`` with one entrypoint that reads the job's
payload (JSON: ``id``, ``type``, ``occurred_at``, ``aggregate_id``,
``idempotency_key``, ``data``) and records it in a table it creates,
``workflow_consumer_event``. Replace ``record`` with the real work (re-index,
notify reviewers, regenerate an export).

Run it against the database IU Core uses: ``IU_CORE_DATABASE_URL`` when you
set one, else IU Core's embedded default database (``IU_CORE_DATA_DIR``), as
``iu-core`` itself chooses::

    python examples/workflow_consumer.py --entrypoint iu_structure --drain   # exit once the queue is empty
    IU_CORE_DATABASE_URL=postgresql://... python examples/workflow_consumer.py

It prints one line per job it records, and with ``--drain`` how many it did.

It stops cleanly on SIGTERM / Ctrl-C (jobs in progress finish first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

import psycopg
from pgqueuer import Job, PsycopgDriver, Queries, QueueManager
from pgqueuer.types import QueueExecutionMode

from iu_core.db import resolve_url
from iu_core.embedded import ensure_migrated
from iu_core.errors import IuCoreError
from iu_core.settings import Settings
from iu_core.workflow import PgQueuerEngine

CREATE = """
CREATE TABLE IF NOT EXISTS workflow_consumer_event (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          bigint NOT NULL,
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    aggregate_id    uuid,
    idempotency_key text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    data            jsonb NOT NULL,
    ran_at          timestamptz NOT NULL DEFAULT now()
)
"""

RECORD = """
INSERT INTO workflow_consumer_event
       (job_id, event_id, event_type, aggregate_id, idempotency_key, occurred_at, data)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""


async def main(url: str, entrypoint: str, drain: bool, batch_size: int) -> None:
    # pgqueuer's psycopg driver wants an autocommit connection of its own;
    # the job's writes go through a second one.
    queue_conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    work_conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await work_conn.execute(CREATE)
    qm = QueueManager(Queries(PsycopgDriver(queue_conn)))

    recorded = 0

    @qm.entrypoint(entrypoint, on_failure="hold")  # a failing job stays, for `pgq failed` / requeue
    async def record(job: Job) -> None:
        nonlocal recorded
        event = json.loads(job.payload or b"{}")
        await work_conn.execute(
            RECORD,
            (
                job.id,
                event["id"],
                event["type"],
                event.get("aggregate_id"),
                event["idempotency_key"],
                event["occurred_at"],
                json.dumps(event["data"]),
            ),
        )
        recorded += 1
        print(
            f"recorded {event['type']} {event['id']} of IU {event.get('aggregate_id')} (job {job.id})",
            flush=True,
        )

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, qm.shutdown.set)
    mode = QueueExecutionMode.drain if drain else QueueExecutionMode.continuous
    print(
        f"waiting for jobs of entrypoint {entrypoint!r}" + (" until the queue is empty" if drain else ""),
        flush=True,
    )
    try:
        await qm.run(batch_size=batch_size, mode=mode)
        print(f"done: {recorded} job(s) recorded in workflow_consumer_event", flush=True)
    finally:
        await work_conn.close()
        await queue_conn.close()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--entrypoint", default="iu_structure", help="the ENTRYPOINT of the route's pgqueuer:ENTRYPOINT"
    )
    parser.add_argument("--drain", action="store_true", help="exit once the queue is empty")
    parser.add_argument("--batch-size", type=int, default=10, help="jobs fetched per dequeue")
    args = parser.parse_args()
    try:
        url = database_url()
        asyncio.run(main(url, args.entrypoint, args.drain, args.batch_size))
    except (IuCoreError, psycopg.Error) as exc:
        sys.exit(f"error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")


def database_url() -> str:
    """The database ``iu-core`` uses: IU_CORE_DATABASE_URL, else the embedded default (started on demand)."""
    settings = Settings.from_env()
    url = resolve_url(settings)
    if settings.embedded:
        ensure_migrated(url)
    with psycopg.connect(url) as conn:
        problem = PgQueuerEngine().installed_problem(conn)
    if problem:
        raise IuCoreError(problem)
    return url


if __name__ == "__main__":
    cli()
