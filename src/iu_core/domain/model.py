"""Frozen records of the knowledge domain, built from rows, and the piece tree in memory."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

OPERATION_TYPES = ("autocut", "reingest", "split", "merge", "move", "rename", "deprecate", "restore")
RELATION_TYPES = ("cites", "amends", "supersedes", "related")
STRUCTURE_OP_APPLIED = "structure_op_applied"
STRUCTURE_PIECE_DEPRECATED = "structure_piece_deprecated"
IU_CREATED = "iu_created"
IU_RELATION_ADDED = "iu_relation_added"
IU_RELATION_REMOVED = "iu_relation_removed"
# A citing piece whose cited provision an operation deprecated, moved, split,
# merged or renumbered, or whose citation became unresolved (domain.citation_store).
IU_CITATION_IMPACTED = "iu_citation_impacted"
STRUCTURE_EVENT_TYPES = (STRUCTURE_OP_APPLIED, STRUCTURE_PIECE_DEPRECATED)


@dataclass(frozen=True, slots=True)
class Unit:
    """An information unit (one document)."""

    iu_id: uuid.UUID
    code: str
    title: str
    body: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Unit:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Piece:
    """One row of ``iu_piece``."""

    piece_id: uuid.UUID
    iu_id: uuid.UUID
    parent_piece_id: uuid.UUID | None
    position: int
    kind: str
    label: str
    heading: str
    text: str
    status: str
    created_by: uuid.UUID | None
    deprecated_by: uuid.UUID | None
    # where autocut took it from in the file (see domain.sources; migration 016)
    source: Mapping[str, Any] | None = field(default=None, hash=False)
    eid: str | None = None  # the legal identifier as stored (None: not computed yet)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Piece:
        values: dict[str, Any] = {name: row.get(name) for name in cls.__slots__}
        return cls(**values)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def title(self) -> str:
        """``label heading`` as a reader sees it, e.g. ``Article 3 Booking``."""
        return " ".join(p for p in (self.label, self.heading) if p) or self.kind

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class OperationResult:
    """What one structure operation wrote: its row, the pieces it touched, its events."""

    operation_id: uuid.UUID
    iu_id: uuid.UUID
    operation_type: str
    pieces: tuple[uuid.UUID, ...]  # every piece the operation touched (the payload's "pieces")
    created: tuple[uuid.UUID, ...] = ()
    deprecated: tuple[uuid.UUID, ...] = ()
    event_ids: tuple[uuid.UUID, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Tree:
    """All pieces of one IU (active and deprecated), indexed for the operations."""

    pieces: dict[uuid.UUID, Piece]
    _children: dict[uuid.UUID | None, list[Piece]] = field(default_factory=dict)

    @classmethod
    def from_pieces(cls, pieces: list[Piece]) -> Tree:
        children: dict[uuid.UUID | None, list[Piece]] = {}
        for piece in pieces:
            children.setdefault(piece.parent_piece_id, []).append(piece)
        for siblings in children.values():
            siblings.sort(key=lambda p: (p.position, not p.active))
        return cls({p.piece_id: p for p in pieces}, children)

    @property
    def root(self) -> Piece:
        roots = self._children.get(None, [])
        if len(roots) != 1:
            raise ValueError(f"expected one root piece, found {len(roots)}")
        return roots[0]

    def children(self, piece_id: uuid.UUID | None, *, active_only: bool = True) -> list[Piece]:
        kids = self._children.get(piece_id, [])
        return [p for p in kids if p.active] if active_only else list(kids)

    def subtree(self, piece_id: uuid.UUID, *, active_only: bool = True) -> list[Piece]:
        """The piece and its descendants, in pre-order."""
        out: list[Piece] = []
        stack = [self.pieces[piece_id]]
        while stack:
            piece = stack.pop()
            out.append(piece)
            stack.extend(reversed(self.children(piece.piece_id, active_only=active_only)))
        return out

    def walk(self, *, active_only: bool = True) -> Iterator[tuple[int, Piece]]:
        """(depth, piece) in pre-order from the root."""
        stack = [(0, self.root)]
        while stack:
            depth, piece = stack.pop()
            yield depth, piece
            kids = self.children(piece.piece_id, active_only=active_only)
            stack.extend((depth + 1, kid) for kid in reversed(kids))

    def ancestors(self, piece_id: uuid.UUID) -> list[uuid.UUID]:
        """Ids from the piece's parent up to the root (bounded: a cycle cannot loop forever)."""
        out: list[uuid.UUID] = []
        parent = self.pieces[piece_id].parent_piece_id
        while parent is not None and len(out) <= len(self.pieces):
            out.append(parent)
            parent = self.pieces[parent].parent_piece_id
        return out

    def text(self) -> str:
        """The active tree's text in document order."""
        return "".join(piece.text for _, piece in self.walk())


def problems(tree: Tree) -> list[str]:
    """Violations of the tree invariants (empty when the tree is sound).

    One root, active; every active piece reachable from it through active
    parents; no cycle; active siblings numbered 0..n-1 without duplicates.
    """
    found: list[str] = []
    roots = [p for p in tree.pieces.values() if p.parent_piece_id is None]
    if len(roots) != 1:
        return [f"{len(roots)} root pieces"]
    if not roots[0].active:
        found.append("the root is deprecated")
    for piece in tree.pieces.values():
        chain = tree.ancestors(piece.piece_id)
        if len(chain) > len(tree.pieces) or piece.piece_id in chain:
            found.append(f"cycle through {piece.piece_id}")
        elif piece.active and any(not tree.pieces[a].active for a in chain):
            found.append(f"active piece {piece.piece_id} under a deprecated ancestor")
    for parent_id in tree.pieces:
        positions = sorted(p.position for p in tree.children(parent_id))
        if positions != list(range(len(positions))):
            found.append(f"active children of {parent_id} have positions {positions}")
    return found
