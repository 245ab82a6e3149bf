"""Database I/O of the domain: one function per named query of ``sql/queries/domain.sql``.

Every function takes an open psycopg connection and runs inside the caller's
transaction; none commits. Rows come back as frozen records (``model``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iu_core import tracing
from iu_core.actor import default_actor
from iu_core.domain.eid import tree_eids
from iu_core.domain.model import STRUCTURE_OP_APPLIED, STRUCTURE_PIECE_DEPRECATED, Piece, Tree, Unit
from iu_core.errors import NotFound, Refused
from iu_core.events import with_schema_version
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def _q(name: str) -> str:
    return queries("domain")[name]


def fetch_all(conn: Conn, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_q(name), params or {})
        return cur.fetchall()


def fetch_one(conn: Conn, name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_q(name), params or {})
        return cur.fetchone()


def execute(conn: Conn, name: str, params: Mapping[str, Any] | None = None) -> int:
    with conn.cursor() as cur:
        cur.execute(_q(name), params or {})
        return cur.rowcount


def unit_by_code(conn: Conn, code: str, *, lock: bool = False) -> Unit:
    row = fetch_one(conn, "lock_unit_by_code" if lock else "unit_by_code", {"code": code})
    if row is None:
        raise NotFound(f"unknown information unit {code!r}")
    return Unit.from_row(row)


def lock_unit(conn: Conn, iu_id: uuid.UUID) -> Unit:
    """Lock the IU row until the transaction ends (serialises structure operations)."""
    row = fetch_one(conn, "lock_unit", {"iu_id": iu_id})
    if row is None:
        raise NotFound(f"unknown information unit {iu_id}")
    return Unit.from_row(row)


def load_tree(conn: Conn, iu_id: uuid.UUID) -> Tree:
    return Tree.from_pieces([Piece.from_row(r) for r in fetch_all(conn, "pieces_of_unit", {"iu_id": iu_id})])


def load_tree_as_of(conn: Conn, iu_id: uuid.UUID, as_of: dt.datetime) -> Tree | None:
    """The IU's pieces as they stood at ``as_of`` (None: the IU had no pieces yet)."""
    rows = fetch_all(conn, "pieces_as_of", {"iu_id": iu_id, "as_of": as_of})
    if not any(r["parent_piece_id"] is None for r in rows):
        return None
    return Tree.from_pieces([Piece.from_row(r) for r in rows])


def refresh_eids(conn: Conn, iu_id: uuid.UUID) -> tuple[dict[uuid.UUID, str | None], dict[uuid.UUID, str]]:
    """Recompute the eids of the IU's active pieces and store those that changed.

    Returns the eid of every piece (a deprecated one keeps its last) and the
    previous eid of every piece whose stored eid changed.
    """
    tree = load_tree(conn, iu_id)
    computed = tree_eids(tree)
    previous: dict[uuid.UUID, str] = {}
    ids: list[uuid.UUID] = []
    values: list[str] = []
    for piece_id, eid in computed.items():
        stored = tree.pieces[piece_id].eid
        if stored != eid:
            ids.append(piece_id)
            values.append(eid)
            if stored is not None:
                previous[piece_id] = stored
    if ids:
        execute(conn, "set_eids", {"ids": ids, "eids": values})
    current: dict[uuid.UUID, str | None] = {pid: p.eid for pid, p in tree.pieces.items()}
    current.update(computed)
    return current, previous


def record_history(conn: Conn, iu_id: uuid.UUID, operation_id: uuid.UUID) -> None:
    """Record the state of every piece the operation changed (the tree at any instant)."""
    execute(conn, "record_piece_history", {"iu_id": iu_id, "operation_id": operation_id})


def resolve_piece(conn: Conn, ref: uuid.UUID | str) -> tuple[uuid.UUID, uuid.UUID]:
    """(piece_id, iu_id) of a piece named by its id or a unique prefix of it (≥ 4 characters)."""
    text = str(ref).strip().lower()
    if len(text) < 4 or any(c not in "0123456789abcdef-" for c in text):
        raise NotFound(f"unknown piece {str(ref)!r} (give its id or the first characters of it)")
    rows = fetch_all(conn, "pieces_by_prefix", {"prefix": text})
    if not rows:
        raise NotFound(f"unknown piece {str(ref)!r}")
    if len(rows) > 1:
        raise NotFound(f"piece {str(ref)!r} is ambiguous: give more characters of its id")
    return rows[0]["piece_id"], rows[0]["iu_id"]


def insert_operation(
    conn: Conn, iu_id: uuid.UUID, operation_type: str, parameters: Mapping[str, Any], actor: str | None
) -> uuid.UUID:
    row = fetch_one(
        conn,
        "insert_operation",
        {
            "iu_id": iu_id,
            "operation_type": operation_type,
            "parameters": Jsonb(_jsonable(parameters)),
            "actor": actor or default_actor(),
        },
    )
    assert row is not None
    op_id: uuid.UUID = row["operation_id"]
    return op_id


def finish_operation(conn: Conn, operation_id: uuid.UUID, outcome: Mapping[str, Any]) -> None:
    execute(conn, "finish_operation", {"operation_id": operation_id, "outcome": Jsonb(_jsonable(outcome))})


def insert_piece(
    conn: Conn,
    *,
    iu_id: uuid.UUID,
    parent_piece_id: uuid.UUID | None,
    position: int,
    kind: str,
    label: str,
    heading: str,
    text: str,
    created_by: uuid.UUID,
    piece_id: uuid.UUID | None = None,
    source: Mapping[str, Any] | None = None,
    eid: str | None = None,
) -> uuid.UUID:
    new_id = piece_id or uuid.uuid4()
    execute(
        conn,
        "insert_piece",
        {
            "piece_id": new_id,
            "iu_id": iu_id,
            "parent_piece_id": parent_piece_id,
            "position": position,
            "kind": kind,
            "label": label,
            "heading": heading,
            "text": text,
            "created_by": created_by,
            "source": None if source is None else Jsonb(dict(source)),
            "eid": eid,
        },
    )
    return new_id


def update_piece(conn: Conn, piece: Piece) -> None:
    execute(
        conn,
        "update_piece",
        {
            "piece_id": piece.piece_id,
            "parent_piece_id": piece.parent_piece_id,
            "position": piece.position,
            "kind": piece.kind,
            "label": piece.label,
            "heading": piece.heading,
            "text": piece.text,
            "source": None if piece.source is None else Jsonb(dict(piece.source)),
        },
    )


def set_order(conn: Conn, ordered_ids: Sequence[uuid.UUID]) -> None:
    """Give the listed siblings positions 0..n-1 in this order."""
    if ordered_ids:
        execute(conn, "set_positions", {"ids": list(ordered_ids), "positions": list(range(len(ordered_ids)))})


def deprecate(conn: Conn, ids: Iterable[uuid.UUID], operation_id: uuid.UUID) -> None:
    execute(conn, "deprecate_pieces", {"ids": list(ids), "operation_id": operation_id})


def restore(conn: Conn, ids: Iterable[uuid.UUID]) -> None:
    execute(conn, "restore_pieces", {"ids": list(ids)})


def defer_positions(conn: Conn) -> None:
    """Let the operation renumber siblings in any order (checked by ``check_positions``)."""
    execute(conn, "defer_sibling_positions")


def check_positions(conn: Conn) -> None:
    """Run the deferred sibling-position check now, then defer again for the next operation.

    A clash here is a bug, not a user error: it aborts the operation.
    """
    execute(conn, "check_sibling_positions")
    execute(conn, "defer_sibling_positions")


def emit(conn: Conn, event_type: str, iu_id: uuid.UUID, payload: Mapping[str, Any]) -> uuid.UUID:
    """Write one event to the outbox, in the caller's transaction.

    The payload gets ``schema_version``: the current version of its type's
    schema (``iu_core.events``). Its statement trigger fans the event out to
    its routes within this INSERT, so the ``iu_core.fan_out`` span around it
    times both; with tracing on, the row stores that span's ``traceparent``
    for the worker to continue.
    """
    with tracing.span("iu_core.fan_out", {"iu_core.event_type": event_type}) as fan_out:
        row = fetch_one(
            conn,
            "insert_event",
            {
                "event_type": event_type,
                "iu_id": iu_id,
                "payload": Jsonb(_jsonable(with_schema_version(event_type, payload))),
                "traceparent": tracing.traceparent(fan_out),
            },
        )
        assert row is not None
        event_id: uuid.UUID = row["event_id"]
        if fan_out is not None:
            fan_out.set_attribute("iu_core.event_id", str(event_id))
    return event_id


def emit_structure_events(
    conn: Conn,
    *,
    iu_id: uuid.UUID,
    operation_id: uuid.UUID,
    operation_type: str,
    pieces: Sequence[uuid.UUID],
    deprecated: Sequence[uuid.UUID],
    eids: Mapping[uuid.UUID, str | None],
    previous_eids: Mapping[uuid.UUID, str],
) -> tuple[uuid.UUID, ...]:
    """One ``structure_op_applied`` for the operation, one ``structure_piece_deprecated`` per piece.

    Payload keys are the structure-event contract (``events/schemas``, docs/events.md):
    ``schema_version`` (added by ``emit``), ``iu_id``, ``operation_id``,
    ``operation_type``, ``event_type``, ``pieces``,
    ``eids`` (the legal identifier of each of ``pieces``, same order) and
    ``previous_eids`` (piece id -> its eid before the operation, for every
    piece whose eid changed); on the deprecated events also ``piece_id`` and
    ``eid``.
    """
    base = {"iu_id": str(iu_id), "operation_id": str(operation_id), "operation_type": operation_type}
    ids = [
        emit(
            conn,
            STRUCTURE_OP_APPLIED,
            iu_id,
            {
                **base,
                "event_type": STRUCTURE_OP_APPLIED,
                "pieces": [str(p) for p in pieces],
                "eids": [eids.get(p) for p in pieces],
                "previous_eids": {str(p): e for p, e in previous_eids.items()},
            },
        )
    ]
    for piece_id in deprecated:
        payload = {
            **base,
            "event_type": STRUCTURE_PIECE_DEPRECATED,
            "pieces": [str(piece_id)],
            "eids": [eids.get(piece_id)],
            "piece_id": str(piece_id),
            "eid": eids.get(piece_id),
        }
        ids.append(emit(conn, STRUCTURE_PIECE_DEPRECATED, iu_id, payload))
    return tuple(ids)


def refuse_if_archived(unit: Unit) -> None:
    if unit.status != "active":
        raise Refused(f"information unit {unit.code!r} is {unit.status}; it is not edited")


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value
