"""Audit: do the structure events of an IU describe the rows that were written?

API::

    unit_event_problems(conn, iu_id) -> list[str]          # every operation of the IU
    operation_problems(conn, operation_id) -> list[str]    # the newest operation, row by row

Both return an empty list when everything agrees. ``unit_event_problems``
checks, for every operation of the IU: exactly one ``structure_op_applied``
whose payload has exactly the contract keys (and ``schema_version``) and
the operation's id, type and pieces; exactly one ``structure_piece_deprecated`` per piece the operation
deprecated (and none for others); and no structure event without an
operation. ``operation_problems`` also checks the piece rows against the
newest operation: created pieces carry ``created_by`` = the operation, the
deprecated ones ``deprecated_by`` = the operation, every touched piece
belongs to the IU. (Rows of older operations may have changed since.)
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from iu_core.domain import store
from iu_core.domain.model import STRUCTURE_OP_APPLIED, STRUCTURE_PIECE_DEPRECATED

Conn = store.Conn

APPLIED_KEYS = frozenset({"iu_id", "operation_id", "operation_type", "event_type", "pieces"})
DEPRECATED_KEYS = APPLIED_KEYS | {"piece_id"}
# Keys carried since pieces have legal identifiers (events written before lack them).
# Every payload written since the event catalogue also carries schema_version.
SCHEMA_VERSION_KEY = "schema_version"
EID_KEYS = {
    STRUCTURE_OP_APPLIED: frozenset({"eids", "previous_eids"}),
    STRUCTURE_PIECE_DEPRECATED: frozenset({"eids", "eid"}),
}


def unit_event_problems(conn: Conn, iu_id: uuid.UUID) -> list[str]:
    operations = {r["operation_id"]: r for r in store.fetch_all(conn, "operations_of_unit", {"iu_id": iu_id})}
    events = store.fetch_all(conn, "structure_events_of_unit", {"iu_id": iu_id})
    found: list[str] = []
    by_op: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        payload = event["payload"]
        found += _payload_problems(event)
        by_op.setdefault(str(payload.get("operation_id")), []).append(event)
    for op_id, op in operations.items():
        mine = by_op.pop(str(op_id), [])
        applied = [e for e in mine if e["event_type"] == STRUCTURE_OP_APPLIED]
        if len(applied) != 1:
            found.append(
                f"operation {op_id} ({op['operation_type']}) has {len(applied)} structure_op_applied"
            )
            continue
        payload = applied[0]["payload"]
        if payload["operation_type"] != op["operation_type"] or payload["iu_id"] != str(iu_id):
            found.append(f"operation {op_id}: structure_op_applied names another operation type or IU")
        if list(payload["pieces"]) != [str(p) for p in op["parameters"].get("pieces", [])]:
            found.append(f"operation {op_id}: payload pieces differ from the operation's pieces")
        deprecated = Counter(
            e["payload"]["piece_id"] for e in mine if e["event_type"] == STRUCTURE_PIECE_DEPRECATED
        )
        expected = Counter(str(p) for p in op["parameters"].get("deprecated", []))
        if deprecated != expected:
            found.append(
                f"operation {op_id}: deprecated events {dict(deprecated)} != pieces {dict(expected)}"
            )
    for op_id in by_op:
        found.append(f"structure event(s) of unknown operation {op_id}")
    return found


def _payload_problems(event: dict[str, Any]) -> list[str]:
    payload = event["payload"]
    keys = DEPRECATED_KEYS if event["event_type"] == STRUCTURE_PIECE_DEPRECATED else APPLIED_KEYS
    found = []
    keys_with_eids = keys | EID_KEYS[event["event_type"]]
    if set(payload) - {SCHEMA_VERSION_KEY} not in (keys, keys_with_eids):
        found.append(f"event {event['event_id']}: payload keys {sorted(payload)} != {sorted(keys_with_eids)}")
    if payload.get("event_type") != event["event_type"]:
        found.append(f"event {event['event_id']}: payload event_type differs from the outbox column")
    if event["aggregate_type"] != "information_unit" or str(event["aggregate_id"]) != payload.get("iu_id"):
        found.append(f"event {event['event_id']}: aggregate is not its information unit")
    if event["event_type"] == STRUCTURE_PIECE_DEPRECATED and payload.get("pieces") != [
        payload.get("piece_id")
    ]:
        found.append(f"event {event['event_id']}: pieces is not [piece_id]")
    return found


def operation_problems(conn: Conn, operation_id: uuid.UUID) -> list[str]:
    op = store.fetch_one(conn, "operation_by_id", {"operation_id": operation_id})
    if op is None:
        return [f"no operation {operation_id}"]
    tree = store.load_tree(conn, op["iu_id"])
    params = op["parameters"]
    found: list[str] = []
    for raw in params.get("pieces", []):
        if uuid.UUID(raw) not in tree.pieces:
            found.append(f"operation {operation_id}: touched piece {raw} is not a piece of its IU")
    for raw in params.get("created", []):
        piece = tree.pieces.get(uuid.UUID(raw))
        if piece is None or piece.created_by != operation_id:
            found.append(f"operation {operation_id}: created piece {raw} does not name it as creator")
    for raw in params.get("deprecated", []):
        piece = tree.pieces.get(uuid.UUID(raw))
        if piece is None or piece.active or piece.deprecated_by != operation_id:
            found.append(f"operation {operation_id}: piece {raw} is not deprecated by it")
    return found
