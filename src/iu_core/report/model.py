"""What a report says, built from ``ReportData``: counts, the outline, the history, relations.

The history gives, for every structure operation in the order it was
applied, the pieces it touched with their name before and after it. The
journal records a rename's previous label and heading, which pieces an
operation created, deprecated and restored; so the names at every point are
found by walking the journal backwards from the current tree, undoing one
operation at a time. (A reingest may also change a heading without
recording the previous one: there the name before is the one after.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from iu_core.report.collect import CitationFacts, OperationFacts, PieceFacts, RelationFacts, ReportData


@dataclass(frozen=True, slots=True)
class Name:
    """A piece as a reader names it at one moment."""

    label: str
    heading: str
    kind: str
    status: str

    @property
    def title(self) -> str:
        return " ".join(p for p in (self.label, self.heading) if p) or self.kind

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "heading": self.heading, "kind": self.kind, "status": self.status}


@dataclass(frozen=True, slots=True)
class OutlineEntry:
    depth: int
    piece: PieceFacts

    @property
    def title(self) -> str:
        return " ".join(p for p in (self.piece.label, self.piece.heading) if p) or self.piece.kind


@dataclass(frozen=True, slots=True)
class Touched:
    piece_id: uuid.UUID
    before: Name | None  # None: the operation created it
    after: Name | None  # None: unknown piece (not in the tree any more)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    operation: OperationFacts
    summary: str
    touched: tuple[Touched, ...]


@dataclass(frozen=True, slots=True)
class Counts:
    active_pieces: int
    deprecated_pieces: int
    operations: int
    relations_out: int
    relations_in: int

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class Report:
    data: ReportData
    generated_at: dt.datetime
    counts: Counts
    outline: tuple[OutlineEntry, ...]
    history: tuple[HistoryEntry, ...]

    @property
    def relations_out(self) -> tuple[RelationFacts, ...]:
        return self.data.relations_out

    @property
    def relations_in(self) -> tuple[RelationFacts, ...]:
        return self.data.relations_in

    @property
    def citations_out(self) -> tuple[CitationFacts, ...]:
        return self.data.citations_out

    @property
    def citations_in(self) -> tuple[CitationFacts, ...]:
        return self.data.citations_in


def outline(pieces: tuple[PieceFacts, ...]) -> tuple[OutlineEntry, ...]:
    """Every piece in document order (deprecated ones at their last place), with its depth."""
    children: dict[uuid.UUID | None, list[PieceFacts]] = {}
    for piece in pieces:
        children.setdefault(piece.parent_piece_id, []).append(piece)
    for kids in children.values():
        kids.sort(key=lambda p: (p.position, not p.active))
    known = {p.piece_id for p in pieces}
    roots = [p for p in pieces if p.parent_piece_id is None or p.parent_piece_id not in known]
    out: list[OutlineEntry] = []
    seen: set[uuid.UUID] = set()
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, piece = stack.pop()
        if piece.piece_id in seen:  # a cycle cannot loop forever
            continue
        seen.add(piece.piece_id)
        out.append(OutlineEntry(depth, piece))
        stack.extend((depth + 1, kid) for kid in reversed(children.get(piece.piece_id, [])))
    return tuple(out)


_Ids = dict[str, list[uuid.UUID]]  # "pieces", "created", "deprecated" of one operation, parsed once


def _summary(
    op: OperationFacts, ids: _Ids, names: dict[uuid.UUID, Name], before: dict[uuid.UUID, Name]
) -> str:
    """One line saying what the operation did, with names as they were right after it."""
    p = op.parameters

    def name(key: str) -> str:
        try:
            found = names.get(uuid.UUID(str(p.get(key))))
        except ValueError:
            found = None
        return found.title if found else "?"

    created, deprecated = len(ids["created"]), len(ids["deprecated"])
    kind = op.operation_type
    if kind == "autocut":
        return f"cut into {created} pieces"
    if kind == "reingest":
        counts = p.get("counts") or {}
        if counts:  # the figures the journal entry records (and the command line printed)
            return (
                f"re-ingested: {counts.get('created', 0)} created, {counts.get('changed', 0)} changed, "
                f"{counts.get('moved', 0)} moved, {counts.get('deprecated', 0)} deprecated"
            )
        changed = len(p.get("changed") or [])
        return f"re-ingested: {created} created, {changed} changed, {deprecated} deprecated"
    if kind == "split":
        return f"split {name('piece_id')} at offset {p.get('offset')}; new piece {name('new_piece_id')}"
    if kind == "merge":
        return f"merged {name('merged')} into {name('into')}"
    if kind == "move":
        return f"moved {name('piece_id')} under {name('parent')} at position {p.get('position')}"
    if kind == "rename":
        old = before.get(ids["pieces"][0]) if ids["pieces"] else None
        return f"renamed {old.title if old else '?'} to {name('piece_id')}"
    if kind == "deprecate":
        return f"deprecated {name('piece_id')} ({deprecated} piece{'s' if deprecated != 1 else ''})"
    if kind == "restore":
        restored = len(p.get("restored") or [])
        return f"restored {name('piece_id')} ({restored} piece{'s' if restored != 1 else ''})"
    return kind


def _undo(op: OperationFacts, ids: _Ids, state: dict[uuid.UUID, Name]) -> None:
    """Turn ``state`` (names right after ``op``) into the names right before it."""
    p = op.parameters
    if op.operation_type == "rename":
        for piece_id in ids["pieces"]:
            if piece_id in state:
                state[piece_id] = replace(
                    state[piece_id],
                    label=str(p.get("previous_label", state[piece_id].label)),
                    heading=str(p.get("previous_heading", state[piece_id].heading)),
                )
    for piece_id in ids["deprecated"]:
        if piece_id in state:
            state[piece_id] = replace(state[piece_id], status="active")
    if op.operation_type == "restore":
        for raw in p.get("restored") or []:
            piece_id = uuid.UUID(str(raw))
            if piece_id in state:
                state[piece_id] = replace(state[piece_id], status="deprecated")
    for piece_id in ids["created"]:
        state.pop(piece_id, None)


def history(data: ReportData) -> tuple[HistoryEntry, ...]:
    """Every operation, oldest first, with its touched pieces named before and after it."""
    state = {p.piece_id: Name(p.label, p.heading, p.kind, p.status) for p in data.pieces}
    entries: list[HistoryEntry] = []
    for op in reversed(data.operations):
        ids = {key: op.ids(key) for key in ("pieces", "created", "deprecated")}
        after = dict(state)
        _undo(op, ids, state)
        touched = tuple(Touched(pid, state.get(pid), after.get(pid)) for pid in ids["pieces"])
        entries.append(HistoryEntry(op, _summary(op, ids, after, state), touched))
    entries.reverse()
    return tuple(entries)


def build(data: ReportData, generated_at: dt.datetime) -> Report:
    """The report of ``data``, stamped with ``generated_at``."""
    active = sum(1 for p in data.pieces if p.active)
    counts = Counts(
        active_pieces=active,
        deprecated_pieces=len(data.pieces) - active,
        operations=len(data.operations),
        relations_out=len(data.relations_out),
        relations_in=len(data.relations_in),
    )
    return Report(data, generated_at.astimezone(dt.UTC), counts, outline(data.pieces), history(data))
