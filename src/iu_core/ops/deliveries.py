"""Deliveries: what has not reached its target yet and why, and one delivery's attempt history."""

from __future__ import annotations

import enum

from psycopg.rows import dict_row

from iu_core.errors import IuCoreError, NotFound, Refused
from iu_core.ops import audit_notes
from iu_core.ops import dead_letters as dead_letter_ops
from iu_core.ops.change import Changed, Conn, change, q
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
# What a resend takes back to pending: a delivery that has finished (a dead one
# with an open dead letter is replayed through it instead).
RESENDABLE = (DeliveryState.SENT, DeliveryState.SKIPPED, DeliveryState.DEAD, DeliveryState.DISCARDED)


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


def resend(conn: Conn, delivery_id: int, *, reason: str, actor: str | None = None) -> Changed:
    """Send one delivery again, even one that was sent: the worker makes a new attempt by the normal path.

    A dead delivery's open dead letter is replayed (and resolved with the
    reason); any other finished delivery goes back to pending with a fresh
    attempt budget, audited on its route as a replay of that one delivery.
    One still on its way, or only decided in dry-run, is refused.
    """
    reason = reason.strip()
    if not reason:
        raise IuCoreError("a reason is required to resend a delivery")
    delivery = show(conn, delivery_id)
    letter = conn.execute(q("delivery_open_dead_letter"), {"delivery_id": delivery_id}).fetchone()
    if letter is not None:
        selection = dead_letter_ops.Selection(ids=(int(letter[0]),))
        replayed = dead_letter_ops.replay(conn, selection, reason=reason, actor=actor)
        return Changed(
            replayed.changed,
            f"delivery {delivery_id}: {replayed.summary}",
            {"delivery_id": delivery_id, **replayed.data},
        )
    if delivery.state not in RESENDABLE:
        why = (
            "a dry-run decision: make the route live, then backfill it"
            if delivery.state == DeliveryState.DECIDED
            else "still on its way"
        )
        raise Refused(f"delivery {delivery_id} is {delivery.state} ({why}); nothing to resend")
    params = {"delivery_id": delivery_id, "states": [s.value for s in RESENDABLE]}
    with change(conn, "deliveries resend", actor):
        row = conn.execute(q("resend_delivery"), params).fetchone()
        if row is None:
            raise Refused(f"delivery {delivery_id} changed meanwhile; look again before resending")
        route_code, event_id, attempts = str(row[0]), str(row[1]), int(row[2])
        audit_notes.note(
            conn,
            "route",
            route_code,
            "replay",
            before={"delivery_id": delivery_id, "event_id": event_id, "state": delivery.state},
            after={"delivery_id": delivery_id, "event_id": event_id, "state": "pending", "reason": reason},
        )
        conn.execute(q("notify_delivery"))
    return Changed(
        True,
        f"delivery {delivery_id} queued again on route {route_code} (it was {delivery.state}); "
        f"the worker makes attempt {attempts + 1}",
        {"delivery_id": delivery_id, "route_code": route_code, "event_id": event_id},
    )
