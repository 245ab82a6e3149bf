"""Targets whose effect is written in the delivery's own database transaction.

The worker delivers a live route of such a kind like this, in ONE transaction:

    claim a batch -> target.deliver_batch(conn, deliveries) -> record attempts and states -> COMMIT

so the target's rows (a pgqueuer job, vectors, a report row), the attempt rows
and the delivery states commit together or not at all. A worker killed
mid-batch rolls everything back, the leases included: the next worker finds
the deliveries pending again and nothing was written twice. That is what
makes these kinds exactly once in effect, like ``sql_function``.

A target must not commit, roll back or change the transaction's settings. It
may open savepoints (``with conn.transaction():``) to keep one delivery's
failure from spoiling the others of its batch; the worker wraps each batch
call in a savepoint of its own as well.

``bind`` turns such a target into a plain seam ``DeliveryTarget`` (one request
at a time on a given connection), which is how the contract suite and
``deliver test`` drive it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import psycopg

from iu_core.delivery.seam import DeliveryOutcome, DeliveryRequest

__all__ = ["BoundTarget", "EventDelivery", "TransactionalTarget", "bind", "load_event_delivery"]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """One claimed delivery as a target sees it: the seam's request plus the event's facts."""

    request: DeliveryRequest
    event_id: uuid.UUID
    event_seq: int
    event_type: str
    aggregate_id: uuid.UUID | None
    occurred_at: dt.datetime
    traceparent: str | None = None  # W3C context of the attempt, with tracing on; else None


@runtime_checkable
class TransactionalTarget(Protocol):
    """A target that writes its effect on the caller's connection, inside the caller's transaction."""

    target_kind: str

    def ref_problem(self, target_ref: str) -> str | None:
        """None when ``target_ref`` is well formed for this kind, else why not (one line)."""
        ...

    def readiness_problem(self, conn: Conn, target_ref: str) -> str | None:
        """None when this database can take deliveries for ``target_ref`` now, else why not."""
        ...

    def deliver_batch(self, conn: Conn, deliveries: Sequence[EventDelivery]) -> list[DeliveryOutcome]:
        """Write the effect of every delivery on ``conn``; one outcome per delivery, in order.

        Never raises for a delivery's own problem: that is a ``failed`` outcome
        whose detail says ``retryable`` and ``reason``.
        """
        ...


_EVENT_FACTS = """
SELECT event_id, event_seq, event_type, aggregate_id, occurred_at, payload
  FROM public.event_outbox WHERE event_id = %s
"""


def load_event_delivery(conn: Conn, request: DeliveryRequest) -> EventDelivery | None:
    """The event facts behind ``request`` (None when the event is not in the outbox)."""
    row = conn.execute(_EVENT_FACTS, (request.event_ref,)).fetchone()
    if row is None:
        return None
    return EventDelivery(
        request=request,
        event_id=row[0],
        event_seq=row[1],
        event_type=row[2],
        aggregate_id=row[3],
        occurred_at=row[4],
    )


class BoundTarget:
    """A transactional target bound to one connection: the seam's one-method ``DeliveryTarget``."""

    def __init__(self, target: TransactionalTarget, conn: Conn) -> None:
        self.target = target
        self.conn = conn
        self.target_kind = target.target_kind

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        delivery = load_event_delivery(self.conn, request)
        if delivery is None:
            return DeliveryOutcome(
                status="failed",
                delivered=False,
                target_kind=request.target_kind,
                detail={"reason": "the event is not in event_outbox", "retryable": False},
            )
        return self.target.deliver_batch(self.conn, [delivery])[0]


def bind(target: TransactionalTarget, conn: Conn) -> BoundTarget:
    """``target`` as a seam ``DeliveryTarget`` that writes on ``conn``."""
    return BoundTarget(target, conn)
