"""The engine every structure operation runs on: one locked, journaled, evented transaction.

``operate`` locks the IU row (``SELECT … FOR UPDATE`` on information_unit),
re-reads its tree after the lock (the latest committed tree), writes the
``iu_structure_operation`` row, lets the operation change pieces, then
``finish`` records the outcome, checks sibling positions and writes the
events — all in the caller's one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iu_core import tracing
from iu_core.domain import citation_store, store
from iu_core.domain.model import OperationResult, Piece, Tree
from iu_core.errors import Refused

Conn = store.Conn
PieceRef = uuid.UUID | str


@dataclass
class Change:
    """What an operation did, collected while it writes."""

    pieces: list[uuid.UUID] = field(default_factory=list)
    created: list[uuid.UUID] = field(default_factory=list)
    deprecated: list[uuid.UUID] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    # The unit is new or its title changed: other units may now name it.
    title_changed: bool = False


Apply = Callable[[Conn, Tree, uuid.UUID, uuid.UUID, Change], None]


def short(piece_id: uuid.UUID) -> str:
    return str(piece_id)[:8]


def require_active(tree: Tree, piece_id: uuid.UUID) -> Piece:
    piece = tree.pieces[piece_id]
    if not piece.active:
        raise Refused(f"piece {short(piece_id)} ({piece.title}) is deprecated; restore it first")
    return piece


def operate(
    conn: Conn,
    ref: PieceRef,
    operation_type: str,
    parameters: dict[str, Any],
    actor: str | None,
    apply: Apply,
) -> OperationResult:
    # With tracing on, the span holds the whole transaction, its commit included:
    # the events' fan-out spans are its children (``store.emit``).
    attributes = {"iu_core.operation.type": operation_type}
    with tracing.span(f"iu_core.operation {operation_type}", attributes) as span, conn.transaction():
        piece_id, iu_id = store.resolve_piece(conn, ref)
        unit = store.lock_unit(conn, iu_id)
        store.refuse_if_archived(unit)
        tree = store.load_tree(conn, iu_id)  # read after the lock: the latest committed tree
        store.defer_positions(conn)
        operation_id = store.insert_operation(
            conn, iu_id, operation_type, {"piece_id": str(piece_id), **parameters}, actor
        )
        if span is not None:
            span.set_attribute("iu_core.operation.id", str(operation_id))
            span.set_attribute("iu_core.iu_id", str(iu_id))
        change = Change()
        apply(conn, tree, piece_id, operation_id, change)
        return finish(conn, iu_id, operation_id, operation_type, change)


def finish(
    conn: Conn, iu_id: uuid.UUID, operation_id: uuid.UUID, operation_type: str, change: Change
) -> OperationResult:
    """Record the outcome, check positions, write the events (same transaction)."""
    pieces = list(dict.fromkeys(change.pieces))
    # The legal identifiers follow the numbering: every piece whose eid changed
    # (a renamed piece's descendants, renumbered repeats) is touched too.
    eids, previous = store.refresh_eids(conn, iu_id)
    pieces += [p for p in previous if p not in pieces]
    store.finish_operation(
        conn,
        operation_id,
        {
            "pieces": pieces,
            "created": change.created,
            "deprecated": change.deprecated,
            **change.outcome,
            "previous_eids": {str(p): e for p, e in previous.items()},
        },
    )
    store.check_positions(conn)
    store.execute(conn, "touch_unit", {"iu_id": iu_id})
    store.record_history(conn, iu_id, operation_id)
    event_ids = store.emit_structure_events(
        conn,
        iu_id=iu_id,
        operation_id=operation_id,
        operation_type=operation_type,
        pieces=pieces,
        deprecated=change.deprecated,
        eids=eids,
        previous_eids=previous,
    )
    # The citations follow the text and the numbering, in the same transaction;
    # citing pieces whose cited provision changed are told (iu_citation_impacted
    # events, found in the outbox; event_ids stays the structure events).
    citation_store.refresh(
        conn,
        iu_id,
        operation_id=operation_id,
        operation_type=operation_type,
        touched=pieces,
        deprecated=change.deprecated,
        eids=eids,
        title_changed=change.title_changed,
    )
    return OperationResult(
        operation_id=operation_id,
        iu_id=iu_id,
        operation_type=operation_type,
        pieces=tuple(pieces),
        created=tuple(change.created),
        deprecated=tuple(change.deprecated),
        event_ids=event_ids,
    )
