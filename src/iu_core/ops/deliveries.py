"""Deliveries: what has not reached its target yet and why, and one delivery's attempt history."""

from __future__ import annotations

import enum

from psycopg.rows import dict_row

from iu_core.errors import IuCoreError, NotFound
from iu_core.ops.change import Conn, q
from iu_core.ops.records import Attempt, Delivery, DeliveryHistory


class DeliveryState(enum.StrEnum):
    """The states of iu_delivery.state (mirrors its CHECK; a test compares them)."""

    PENDING = "pending"
    INFLIGHT = "inflight"
    RETRYING = "retrying"
    HELD = "held"
    SENT = "sent"
    SKIPPED = "skipped"
    DEAD = "dead"
    DISCARDED = "discarded"
    DECIDED = "decided"


# What ``deliveries list --state`` accepts, and the states each means.
STATE_FILTERS: dict[str, tuple[DeliveryState, ...]] = {
    "pending": (DeliveryState.PENDING,),
    "in-flight": (DeliveryState.INFLIGHT,),
    "retrying": (DeliveryState.RETRYING,),
    "held": (DeliveryState.HELD,),
    "dead": (DeliveryState.DEAD,),
    "sent": (DeliveryState.SENT,),
    "skipped": (DeliveryState.SKIPPED,),
    "discarded": (DeliveryState.DISCARDED,),
    "dry-run": (DeliveryState.DECIDED,),
}
UNFINISHED = (
    DeliveryState.PENDING,
    DeliveryState.INFLIGHT,
    DeliveryState.RETRYING,
    DeliveryState.HELD,
    DeliveryState.DEAD,
)


def list_deliveries(
    conn: Conn,
    *,
    route_code: str | None = None,
    iu_code: str | None = None,
    state: str | None = None,
    limit: int = 200,
) -> list[Delivery]:
    """Deliveries that have not reached their target (or those of one ``state``)."""
    if state is not None and state not in STATE_FILTERS:
        raise IuCoreError(f"unknown state {state!r}; expected one of {', '.join(STATE_FILTERS)}")
    states = [s.value for s in (STATE_FILTERS[state] if state else UNFINISHED)]
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            q("deliveries"),
            {"states": states, "route_code": route_code, "iu_code": iu_code, "limit": limit},
        ).fetchall()
    return [Delivery.from_row(r) for r in rows]


def show(conn: Conn, delivery_id: int) -> DeliveryHistory:
    """One delivery with its attempt history (time, status, latency, response snippet)."""
    with conn.cursor(row_factory=dict_row) as cur:
        delivery = cur.execute(q("delivery"), {"delivery_id": delivery_id}).fetchone()
        if delivery is None:
            raise NotFound(f"no delivery with id {delivery_id} (see: iu-core deliveries list)")
        attempts = cur.execute(q("delivery_attempts"), {"delivery_id": delivery_id}).fetchall()
    history = tuple(Attempt.from_row(a) for a in attempts)
    return DeliveryHistory.from_row({**delivery, "attempts_history": history})
