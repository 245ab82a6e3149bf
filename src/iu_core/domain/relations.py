"""Typed relations between information units: cites, amends, supersedes, related.

API::

    relate(conn, from_code, relation_type, to_code, *, actor=None) -> Relation
    unrelate(conn, from_code, relation_type, to_code, *, actor=None) -> Relation
    list_relations(conn, code=None) -> list[dict]

Each change is one transaction with its event in the outbox, aggregate = the
"from" IU: ``iu_relation_added`` / ``iu_relation_removed``, payload
``event_type``, ``iu_id`` (the from IU), ``relation_id``, ``relation_type``,
``from_iu_id``, ``from_code``, ``to_iu_id``, ``to_code``. Adding an existing
relation, removing a missing one, or relating an IU to itself is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from iu_core.actor import default_actor
from iu_core.domain import store
from iu_core.domain.model import IU_RELATION_ADDED, IU_RELATION_REMOVED, RELATION_TYPES
from iu_core.errors import Refused

Conn = store.Conn


@dataclass(frozen=True, slots=True)
class Relation:
    relation_id: uuid.UUID
    from_code: str
    relation_type: str
    to_code: str
    event_id: uuid.UUID

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _change(
    conn: Conn, from_code: str, relation_type: str, to_code: str, actor: str | None, *, add: bool
) -> Relation:
    if relation_type not in RELATION_TYPES:
        raise Refused(f"unknown relation type {relation_type!r}; use one of {', '.join(RELATION_TYPES)}")
    with conn.transaction():
        source = store.unit_by_code(conn, from_code, lock=True)  # serialises with its operations
        target = store.unit_by_code(conn, to_code)
        if source.iu_id == target.iu_id:
            raise Refused(f"an information unit cannot be related to itself ({from_code!r})")
        params = {
            "from_iu_id": source.iu_id,
            "to_iu_id": target.iu_id,
            "relation_type": relation_type,
            "actor": actor or default_actor(),
        }
        row = store.fetch_one(conn, "insert_relation" if add else "delete_relation", params)
        if row is None:
            state = "already exists" if add else "does not exist"
            raise Refused(f"relation {from_code} {relation_type} {to_code} {state}")
        event_type = IU_RELATION_ADDED if add else IU_RELATION_REMOVED
        payload = {
            "event_type": event_type,
            "iu_id": str(source.iu_id),
            "relation_id": str(row["relation_id"]),
            "relation_type": relation_type,
            "from_iu_id": str(source.iu_id),
            "from_code": source.code,
            "to_iu_id": str(target.iu_id),
            "to_code": target.code,
        }
        event_id = store.emit(conn, event_type, source.iu_id, payload)
        return Relation(row["relation_id"], source.code, relation_type, target.code, event_id)


def relate(
    conn: Conn, from_code: str, relation_type: str, to_code: str, *, actor: str | None = None
) -> Relation:
    """Add ``from_code --relation_type--> to_code`` and its ``iu_relation_added`` event."""
    return _change(conn, from_code, relation_type, to_code, actor, add=True)


def unrelate(
    conn: Conn, from_code: str, relation_type: str, to_code: str, *, actor: str | None = None
) -> Relation:
    """Remove a relation and write its ``iu_relation_removed`` event."""
    return _change(conn, from_code, relation_type, to_code, actor, add=False)


def list_relations(conn: Conn, code: str | None = None) -> list[dict[str, Any]]:
    """Relations from or to ``code`` (all when None)."""
    if code is not None:
        store.unit_by_code(conn, code)
    return store.fetch_all(conn, "list_relations", {"code": code})
