"""Provisions addressed by their legal identifier, and trees as they stood at a past instant.

API::

    tree_at(conn, code, as_of=None) -> Tree        # the current tree, or the tree at ``as_of``
    find_provision(tree, eid) -> Piece              # the active piece of that eid (else a deprecated one)
    provision_as_dict(tree, piece) -> dict          # text, heading, kind, status, children (for --json)

``as_of`` rebuilds the tree from ``iu_piece_history``, which every structure
operation writes (the state of each piece it changed, at the operation's
time): each piece as its newest history row at or before the instant says.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from iu_core.domain import store
from iu_core.domain.eid import piece_eids
from iu_core.domain.model import Piece, Tree
from iu_core.errors import NotFound

Conn = store.Conn


def tree_at(conn: Conn, code: str, as_of: dt.datetime | None = None) -> Tree:
    """The IU's tree now, or as it stood at ``as_of`` (a user error when it had none yet)."""
    unit = store.unit_by_code(conn, code)
    if as_of is None:
        return store.load_tree(conn, unit.iu_id)
    tree = store.load_tree_as_of(conn, unit.iu_id, as_of)
    if tree is None:
        raise NotFound(f"information unit {code!r} had no recorded tree at {as_of.isoformat()}")
    return tree


def find_provision(tree: Tree, eid: str) -> Piece:
    """The piece whose eid is ``eid``: the active one, else the latest deprecated one."""
    eids = piece_eids(tree)
    matches = [tree.pieces[pid] for pid, value in eids.items() if value == eid]
    if not matches:
        raise NotFound(f"no provision {eid!r} in this information unit")
    matches.sort(key=lambda p: (not p.active,))
    return matches[0]


def provision_as_dict(tree: Tree, piece: Piece) -> dict[str, Any]:
    eids = piece_eids(tree)
    return {
        "piece_id": str(piece.piece_id),
        "eid": eids.get(piece.piece_id),
        "kind": piece.kind,
        "label": piece.label,
        "heading": piece.heading,
        "status": piece.status,
        "parent_eid": eids.get(piece.parent_piece_id) if piece.parent_piece_id else None,
        "text": piece.text,
        "children": [
            {
                "piece_id": str(kid.piece_id),
                "eid": eids.get(kid.piece_id),
                "kind": kid.kind,
                "label": kid.label,
                "heading": kid.heading,
                "status": kid.status,
            }
            for kid in tree.children(piece.piece_id, active_only=piece.active)
        ],
    }
