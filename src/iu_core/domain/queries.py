"""Read-only views of the domain: units, trees, operations, events, invariants.

API::

    list_units(conn) -> list[dict]
    get_unit(conn, code) -> Unit
    get_tree(conn, code) -> Tree                      # all pieces, active and deprecated
    tree_as_dict(tree, *, include_deprecated=True) -> dict   # nested, for --json
    list_operations(conn, code=None) -> list[dict]
    list_events(conn, *, code=None, event_type=None, limit=50) -> list[dict]
    tree_problems(conn, code) -> list[str]            # invariant violations, [] when sound
"""

from __future__ import annotations

from typing import Any

from iu_core.domain import store
from iu_core.domain.eid import piece_eids
from iu_core.domain.model import Piece, Tree, Unit, problems

Conn = store.Conn


def list_units(conn: Conn) -> list[dict[str, Any]]:
    return store.fetch_all(conn, "list_units")


def get_unit(conn: Conn, code: str) -> Unit:
    return store.unit_by_code(conn, code)


def get_tree(conn: Conn, code: str) -> Tree:
    return store.load_tree(conn, store.unit_by_code(conn, code).iu_id)


def tree_as_dict(tree: Tree, *, include_deprecated: bool = True) -> dict[str, Any]:
    eids = piece_eids(tree)

    def node(piece: Piece) -> dict[str, Any]:
        kids = tree.children(piece.piece_id, active_only=not include_deprecated)
        return {
            "piece_id": str(piece.piece_id),
            "eid": eids.get(piece.piece_id),
            "kind": piece.kind,
            "label": piece.label,
            "heading": piece.heading,
            "status": piece.status,
            "position": piece.position,
            "text": piece.text,
            "source": piece.source,
            "children": [node(k) for k in kids],
        }

    return node(tree.root)


def list_operations(conn: Conn, code: str | None = None) -> list[dict[str, Any]]:
    if code is not None:
        store.unit_by_code(conn, code)
    return store.fetch_all(conn, "list_operations", {"code": code})


def list_events(
    conn: Conn, *, code: str | None = None, event_type: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` events (oldest first), optionally of one IU and one type."""
    if code is not None:
        store.unit_by_code(conn, code)
    return store.fetch_all(conn, "list_events", {"code": code, "event_type": event_type, "limit": limit})


def tree_problems(conn: Conn, code: str) -> list[str]:
    return problems(get_tree(conn, code))
