"""Delivering a batch to a transactional target (workflow engine, vector, report) in ONE transaction.

    BEGIN
      claim a batch (leases, per-IU order, the route's refusal checked)
      SAVEPOINT; target.deliver_batch(conn, deliveries)    -- the target's rows
      record the attempts and the delivery states (fenced by lease)
    COMMIT

Everything the batch did commits together or not at all. A worker killed
anywhere in between rolls the whole transaction back, its leases included:
the next worker finds the deliveries pending and the target's rows absent,
so nothing is written twice: exactly once in effect, as for sql_function.

The target works inside a savepoint: if it raises (a bug, a lost lock, a
statement timeout) its partial writes are undone and every delivery of the
batch is recorded as a retryable failure with the reason. The statement
timeout of the transaction is the route's timeout, so a target waiting on a
lock cannot hold the claim for ever.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import psycopg

from iu_core import tracing
from iu_core.delivery import DeliveryOutcome, EventDelivery, TransactionalTarget, failed_outcome
from iu_core.errors import one_line
from iu_core.worker import records, store
from iu_core.worker.store import SqlBatch

if TYPE_CHECKING:
    from opentelemetry.trace import Span

log = logging.getLogger("iu_core.worker")

Conn = psycopg.Connection[Any]


def _outcomes(
    conn: Conn, route: store.Route, target: TransactionalTarget, deliveries: list[EventDelivery]
) -> list[DeliveryOutcome]:
    try:
        with conn.transaction():  # a savepoint: a raising target leaves nothing behind
            outcomes = target.deliver_batch(conn, deliveries)
        if len(outcomes) != len(deliveries):
            raise RuntimeError(
                f"the target returned {len(outcomes)} outcomes for {len(deliveries)} deliveries"
            )
        return outcomes
    except Exception as exc:  # the batch is retried; the worker goes on
        reason = one_line(f"{type(exc).__name__}: {exc}")
        log.warning("route=%s kind=%s target failed: %s", route.route_code, route.target_kind, reason)
        return [failed_outcome(route.target_kind, reason, retryable=True) for _ in deliveries]


def _attempt_span(route: store.Route, claimed: store.Claimed) -> Span | None:
    webhook_id = records.idempotency_key(route.route_code, claimed.event_id)
    return tracing.start_attempt(
        route.route_code, route.target_kind, claimed.attempt_no, webhook_id, claimed.traceparent
    )


def deliver_in_transaction(
    conn: Conn, route: store.Route, limit: int, worker_id: str, target: TransactionalTarget
) -> SqlBatch:
    """Claim up to ``limit`` deliveries of ``route``, deliver them through ``target``, record; one commit."""
    lease_s = route.timeout_s + route.connect_timeout_s + 30.0  # the open transaction holds the rows anyway
    prepare = getattr(target, "prepare", None)
    if prepare is not None:  # slow work (a model) done before the claim's locks are taken
        prepare(conn, route.route_code, route.target_ref, limit)
    with conn.transaction():
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            (f"{int(max(route.timeout_s, 1.0) * 1000)}ms",),
        )
        claimed = store.claim(conn, route.route_code, limit, worker_id, lease_s)
        if not claimed:
            return SqlBatch(0, 0, 0, 0, 0, None)
        started = dt.datetime.now(dt.UTC)
        spans = [_attempt_span(route, c) for c in claimed] if tracing.enabled() else [None] * len(claimed)
        headers = [tracing.traceparent(s) for s in spans]
        deliveries = [records.event_delivery(route, c, h) for c, h in zip(claimed, headers, strict=True)]
        outcomes = _outcomes(conn, route, target, deliveries)
        finished = dt.datetime.now(dt.UTC)
        results = []
        for c, outcome, span, header in zip(claimed, outcomes, spans, headers, strict=True):
            if span is not None:
                tracing.end_attempt(span, outcome.status, outcome.detail)
            results.append(
                records.result(
                    route, c, outcome.status, outcome.detail, started, finished, traceparent=header
                )
            )
        record_spans = tracing.start_records(results)
        recorded = store.record(conn, route.route_code, results)
        tracing.end_records(record_spans)
    return SqlBatch(
        claimed=len(claimed),
        sent=recorded.sent,
        retrying=recorded.retrying,
        dead=recorded.dead,
        blocked=0,
        paused=None,
        skipped=recorded.skipped,
    )
