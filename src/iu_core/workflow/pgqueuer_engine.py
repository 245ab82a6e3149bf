"""The pgqueuer adapter: jobs enqueued through pgqueuer's own queries, in the caller's transaction.

Enqueue goes through pgqueuer's ``SyncQueries.enqueue`` (its query builder,
its dedupe handling) on a driver that implements pgqueuer's ``SyncDriver``
port over the caller's psycopg connection. pgqueuer's own
``SyncPsycopgDriver`` insists on an autocommit connection because it is meant
for fire-and-forget enqueues; here the job must join the delivery's
transaction, which the port itself allows: ``fetch`` runs in whatever
transaction the connection has open.

Dedupe: pgqueuer's ``dedupe_key`` is unique only among jobs still ``queued``
or ``picked`` (a partial unique index); once a job has finished, the same key
may be enqueued again. IU Core does not rely on it for exactly-once: the job
row, the attempt row and the delivery's new state commit in ONE transaction,
so a delivery that enqueued is committed as finished and is never claimed
again, and a rolled-back attempt (a killed worker, a failure) leaves no job.
The dedupe key (the delivery's idempotency key) is a second fence, and
``on_conflict="skip"`` turns a duplicate into "already queued" rather than an
error.

Schema: pgqueuer's async ``Queries.install`` / ``apply_upgrade`` on a psycopg
async connection, never a copy of its DDL.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg
from pgqueuer.adapters.drivers.psycopg import PsycopgDriver
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
from pgqueuer.adapters.persistence.queries import Queries, SyncQueries
from pgqueuer.domain.settings import DBSettings
from psycopg.rows import dict_row
from psycopg.types.array import ListBinaryDumper
from psycopg.types.string import BytesBinaryDumper, StrBinaryDumper

from iu_core.workflow.engine import EngineJob, InstallResult, QueueDepth, not_installed

__all__ = ["PgQueuerEngine"]

Conn = psycopg.Connection[Any]

_BINARY_DUMPERS = ((list, ListBinaryDumper), (str, StrBinaryDumper), (bytes, BytesBinaryDumper))


class CallerTransactionDriver:
    """pgqueuer's ``SyncDriver`` port on the caller's connection, inside its open transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        # pgqueuer writes PostgreSQL's $1, $2 placeholders: a raw cursor takes them as they are.
        with psycopg.RawCursor(self._conn, row_factory=dict_row) as cur:
            # Arrays go in binary: the text form quotes every element in Python (a regex per job).
            for cls, dumper in _BINARY_DUMPERS:
                cur.adapters.register_dumper(cls, dumper)
            cur.execute(query, args or None)
            return cur.fetchall()


class PgQueuerEngine:
    """``pgqueuer:ENTRYPOINT``: one pgqueuer job per delivery, keyed by the idempotency key."""

    prefix = "pgqueuer"

    def __init__(self, settings: DBSettings | None = None) -> None:
        # pgqueuer's object names (PGQUEUER_PREFIX, PGQUEUER_SCHEMA, ...) from the
        # environment, as its own CLI and QueueManager read them.
        self._settings = settings or DBSettings()

    def _queries(self, conn: Conn) -> SyncQueries:
        return SyncQueries(CallerTransactionDriver(conn), qbq=QueryQueueBuilder(self._settings))

    def enqueue(self, conn: Conn, jobs: Sequence[EngineJob]) -> list[int | None]:
        if not jobs:
            return []
        ids = self._queries(conn).enqueue(
            [job.entrypoint for job in jobs],
            [job.payload for job in jobs],
            [0] * len(jobs),
            dedupe_key=[job.dedupe_key for job in jobs],
            on_conflict="skip",
        )
        return [None if job_id is None else int(job_id) for job_id in ids]

    def installed_problem(self, conn: Conn) -> str | None:
        # What ``pgq verify --expect present`` checks, with pgqueuer's own catalog queries.
        qbe = QueryBuilderEnvironment(self._settings)
        driver = CallerTransactionDriver(conn)
        s = self._settings
        checks = [
            *(
                (qbe.build_has_table_query(), table)
                for table in (s.queue_table, s.statistics_table, s.schedules_table, s.queue_table_log)
            ),
            (qbe.build_has_function_query(), s.function),
            (qbe.build_has_trigger_query(), s.trigger),
        ]
        for query, name in checks:
            rows = driver.fetch(query, name)
            if not rows or not rows[0].get("exists"):
                return not_installed(self.prefix)
        return None

    def queue_depth(self, conn: Conn) -> list[QueueDepth]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: {"queued": 0, "picked": 0})
        for stat in self._queries(conn).queue_size():
            if stat.status in ("queued", "picked"):
                counts[str(stat.entrypoint)][str(stat.status)] += stat.count
        return [
            QueueDepth(entrypoint=name, queued=c["queued"], picked=c["picked"])
            for name, c in sorted(counts.items())
        ]

    def install(self, database_url: str) -> InstallResult:
        return asyncio.run(self._install(database_url))

    async def _install(self, database_url: str) -> InstallResult:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True, connect_timeout=10)
        async with conn:
            queries = Queries(PsycopgDriver(conn), qbe=QueryBuilderEnvironment(self._settings))
            if not await queries.schema_is_installed():
                await queries.install()
                return InstallResult.INSTALLED
            # Present, maybe partly or from an older pgqueuer: converge it (a no-op when current).
            plan = await queries.apply_upgrade()
            return InstallResult.UPGRADED if plan.statements else InstallResult.UP_TO_DATE
