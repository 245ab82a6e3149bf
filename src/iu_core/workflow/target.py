"""The ``workflow`` target: hands each event to a job engine in the delivery's own transaction.

``target_ref``:

- ``event_outbox``: the original no-op. Outcome ``skipped``; the event stays
  in the outbox.
- ``ENGINE:ENTRYPOINT`` (``pgqueuer:reindex``): one job for ``ENTRYPOINT`` per
  delivery, payload the JSON bytes ``{"id", "type", "occurred_at",
  "aggregate_id", "idempotency_key", "data"}`` (and ``traceparent``, the W3C
  context of the attempt, when the worker traces), dedupe key the delivery's
  idempotency key.

Exactly once in effect: the job is written on the worker's connection, in the
transaction that also writes the attempt row and the delivery's state. Either
all of them commit or none does, so a killed worker, a failed attempt or a
replayed dead letter never leaves a second job behind (see
``pgqueuer_engine`` for why pgqueuer's own dedupe is not what guarantees it).

A batch is enqueued with one statement per engine inside a savepoint; when it
fails, each delivery is retried in a savepoint of its own so one bad delivery
cannot fail the others. Every enqueue runs under a statement timeout (set
local to its savepoint and put back after), so a locked or hanging queue table
fails the attempt retryably instead of stalling the worker.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from iu_core.delivery import DeliveryOutcome, EventDelivery
from iu_core.errors import one_line
from iu_core.sqlfiles import queries
from iu_core.workflow.engine import EngineJob, WorkflowEngine, not_installed
from iu_core.workflow.pgqueuer_engine import PgQueuerEngine
from iu_core.workflow.ref import RefError, WorkflowRef, parse_ref

__all__ = ["DEFAULT_ENQUEUE_TIMEOUT_S", "WorkflowTarget", "job_payload"]

Conn = psycopg.Connection[Any]
KIND = "workflow"
DEFAULT_ENQUEUE_TIMEOUT_S = 10.0
NOOP_REASON = "workflow target 'event_outbox' is a no-op: the event stays in the outbox"

# A missing table, type or function: the engine's schema is not (fully) installed.
_MISSING = (pg_errors.UndefinedTable, pg_errors.UndefinedObject, pg_errors.UndefinedFunction)


def _q(name: str) -> str:
    return queries("workflow")[name]


def job_payload(delivery: EventDelivery) -> bytes:
    """The job's payload: compact JSON, UTF-8, the same bytes on every attempt (but for
    ``traceparent``, which names the attempt that wrote the job)."""
    body = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "occurred_at": delivery.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "aggregate_id": None if delivery.aggregate_id is None else str(delivery.aggregate_id),
        "idempotency_key": delivery.request.idempotency_key,
        "data": dict(delivery.request.safe_payload),
    }
    if delivery.traceparent is not None:  # tracing on: the job continues the attempt's trace
        body["traceparent"] = delivery.traceparent
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def _outcome(status: str, detail: dict[str, Any]) -> DeliveryOutcome:
    return DeliveryOutcome(status=status, delivered=status == "sent", target_kind=KIND, detail=detail)


def _failed(reason: str, *, retryable: bool) -> DeliveryOutcome:
    return _outcome("failed", {"reason": one_line(reason), "retryable": retryable})


class WorkflowTarget:
    """The ``workflow`` kind as a ``TransactionalTarget``; engines keyed by their ref prefix."""

    target_kind = KIND

    def __init__(
        self,
        engines: Sequence[WorkflowEngine] | None = None,
        *,
        enqueue_timeout_s: float = DEFAULT_ENQUEUE_TIMEOUT_S,
    ) -> None:
        built = [PgQueuerEngine()] if engines is None else list(engines)
        self.engines: dict[str, WorkflowEngine] = {engine.prefix: engine for engine in built}
        self.enqueue_timeout_s = enqueue_timeout_s

    def parse(self, target_ref: str) -> WorkflowRef:
        """``target_ref`` parsed against this target's engines (``RefError`` when not valid)."""
        return parse_ref(target_ref, self.engines)

    def _parse_or_error(self, target_ref: str) -> WorkflowRef | RefError:
        try:
            return self.parse(target_ref)
        except RefError as exc:
            return exc

    def ref_problem(self, target_ref: str) -> str | None:
        try:
            self.parse(target_ref)
        except RefError as exc:
            return str(exc)
        return None

    def readiness_problem(self, conn: Conn, target_ref: str) -> str | None:
        try:
            ref = self.parse(target_ref)
        except RefError as exc:
            return str(exc)
        if ref.engine is None:
            return None
        return self.engines[ref.engine].installed_problem(conn)

    def deliver_batch(self, conn: Conn, deliveries: Sequence[EventDelivery]) -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome | None] = [None] * len(deliveries)
        by_engine: dict[str, list[tuple[int, EngineJob]]] = {}
        parsed: dict[str, WorkflowRef | RefError] = {}  # a batch is one route's: one ref, parsed once
        for i, delivery in enumerate(deliveries):
            ref = parsed.get(delivery.request.target_ref)
            if ref is None:
                ref = parsed[delivery.request.target_ref] = self._parse_or_error(delivery.request.target_ref)
            if isinstance(ref, RefError):
                outcomes[i] = _failed(str(ref), retryable=False)
                continue
            if ref.engine is None or ref.entrypoint is None:
                outcomes[i] = _outcome("skipped", {"reason": NOOP_REASON})
                continue
            job = EngineJob(ref.entrypoint, job_payload(delivery), delivery.request.idempotency_key)
            by_engine.setdefault(ref.engine, []).append((i, job))
        for prefix, jobs in by_engine.items():
            for i, outcome in self._enqueue(conn, self.engines[prefix], jobs):
                outcomes[i] = outcome
        return [o if o is not None else _failed("no outcome", retryable=True) for o in outcomes]

    def _enqueue(
        self, conn: Conn, engine: WorkflowEngine, jobs: list[tuple[int, EngineJob]]
    ) -> list[tuple[int, DeliveryOutcome]]:
        """All of ``jobs`` in one statement; on failure, one savepoint each to isolate the cause."""
        try:
            ids = self._guarded(conn, engine, [job for _, job in jobs])
        except psycopg.Error as exc:
            if conn.broken:
                raise
            if len(jobs) == 1 or isinstance(exc, (*_MISSING, pg_errors.QueryCanceled)):
                # A cause every job shares (no schema, a locked or hanging queue): no use trying one by one.
                failure = self._failure(engine, exc)
                return [(i, failure) for i, _ in jobs]
        else:
            return [(i, self._sent(engine, job, job_id)) for (i, job), job_id in zip(jobs, ids, strict=True)]
        results: list[tuple[int, DeliveryOutcome]] = []
        for i, job in jobs:
            try:
                (job_id,) = self._guarded(conn, engine, [job])
            except psycopg.Error as exc:
                if conn.broken:
                    raise
                results.append((i, self._failure(engine, exc)))
            else:
                results.append((i, self._sent(engine, job, job_id)))
        return results

    def _guarded(self, conn: Conn, engine: WorkflowEngine, jobs: list[EngineJob]) -> list[int | None]:
        # Read before the savepoint opens: on a connection that is not autocommit
        # this first statement starts the caller's transaction, so the block below
        # is a savepoint inside it and never a transaction of its own that commits.
        row = conn.execute(_q("statement_timeout")).fetchone()
        previous = str(row[0]) if row else "0"
        with conn.transaction():
            # Local to the savepoint: its rollback undoes the setting; on success the
            # caller's value is put back, so the transaction's settings are unchanged.
            conn.execute(_q("set_statement_timeout"), {"value": f"{int(self.enqueue_timeout_s * 1000)}ms"})
            ids = engine.enqueue(conn, jobs)
            conn.execute(_q("set_statement_timeout"), {"value": previous})
            return ids

    def _sent(self, engine: WorkflowEngine, job: EngineJob, job_id: int | None) -> DeliveryOutcome:
        detail: dict[str, Any] = {"engine": engine.prefix, "entrypoint": job.entrypoint, "job_id": job_id}
        if job_id is None:
            detail["deduplicated"] = True
            detail["note"] = "a job with this dedupe key is already queued"
        return _outcome("sent", detail)

    def _failure(self, engine: WorkflowEngine, exc: psycopg.Error) -> DeliveryOutcome:
        if isinstance(exc, _MISSING):
            return _failed(not_installed(engine.prefix), retryable=True)
        if isinstance(exc, pg_errors.QueryCanceled):
            return _failed(
                f"{engine.prefix} enqueue did not finish within {self.enqueue_timeout_s:g} s", retryable=True
            )
        primary = exc.diag.message_primary or type(exc).__name__
        return _failed(f"{engine.prefix} enqueue failed: {primary}", retryable=True)
