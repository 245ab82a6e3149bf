"""Structure operations on a piece tree: split, merge, move, rename, deprecate, restore.

Each call is ONE transaction (a savepoint when the caller already has one
open) that locks the IU row (``SELECT … FOR UPDATE`` on information_unit),
re-reads the tree, checks the request, writes one ``iu_structure_operation``
row, the piece changes, one ``structure_op_applied`` event and one
``structure_piece_deprecated`` event per piece it deprecates. A refused
request raises ``Refused``/``NotFound`` (``IuCoreError``) and writes nothing.

Pieces are named by id (``uuid.UUID`` or its text) or a unique prefix of at
least 4 characters. ``actor`` defaults to ``iu_core.actor.default_actor()``.

API::

    split_piece(conn, piece, *, offset=None, paragraph=None, actor=None) -> OperationResult
    merge_pieces(conn, first, second, *, actor=None) -> OperationResult
    move_piece(conn, piece, *, parent, position=None, actor=None) -> OperationResult
    rename_piece(conn, piece, *, label=None, heading=None, actor=None) -> OperationResult
    deprecate_piece(conn, piece, *, actor=None) -> OperationResult
    restore_piece(conn, piece, *, actor=None) -> OperationResult
    apply_operation(conn, operation_type, *, actor=None, **parameters) -> OperationResult

Semantics (all keep active siblings numbered 0..n-1):

- split: the piece keeps ``text[:offset]``; a new piece with ``text[offset:]``
  follows it as its next sibling and takes over its sub-pieces, so the
  document reads the same. ``paragraph=N`` splits before the N-th paragraph
  (N ≥ 2; paragraphs are separated by blank lines). The new piece's kind, label and
  heading come from its first line (``autocut.classify_line``), else
  ``paragraph``. The root (the document itself) is never split: it has no
  siblings for the tail to join.
- merge: two adjacent active siblings become the earlier one; they may be
  given in either order, with the same result and the same journal entry
  (``piece_id`` the earlier, ``second`` the later):
  its text is followed by the second's, the second's sub-pieces move under
  it, the second is deprecated (with its event). The first must have no
  active sub-pieces, otherwise the second's text would jump ahead of them.
- move: a piece and its subtree under a new parent at ``position`` (default:
  last); never into its own subtree, never the root.
- rename: new ``label`` and/or ``heading``; the text is not changed.
- deprecate: the piece and its active subtree; never the root.
- restore: a deprecated piece and the descendants deprecated by the same
  operation, back at their old position (or last); its parent must be
  active; a piece deprecated by a merge is not restorable (its text lives on
  in the merged piece).
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from iu_core.domain import store
from iu_core.domain.autocut import classify_line
from iu_core.domain.model import OperationResult, Tree
from iu_core.domain.operation_core import Change, Conn, PieceRef, operate, require_active, short
from iu_core.errors import NotFound, Refused

# Where a new paragraph starts: just after one or more blank lines.
_PARAGRAPH_START = re.compile(r"\n[ \t]*\r?\n(?:[ \t]*\r?\n)*(?=[ \t]*\S)")


# ---------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------
def paragraph_offsets(text: str) -> list[int]:
    """Offsets where the 2nd, 3rd, … paragraph of ``text`` starts."""
    return [m.end() for m in _PARAGRAPH_START.finditer(text)]


def split_piece(
    conn: Conn,
    piece: PieceRef,
    *,
    offset: int | None = None,
    paragraph: int | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Split a piece in two at a text offset or before its N-th paragraph."""
    if (offset is None) == (paragraph is None):
        raise Refused("split needs exactly one of an offset or a paragraph number")

    def apply(conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change) -> None:
        p = require_active(tree, piece_id)
        if p.parent_piece_id is None:
            raise Refused(
                f"piece {short(piece_id)} is the root (the document itself) and cannot be split; "
                "split one of the pieces under it"
            )
        at = offset
        if paragraph is not None:
            starts = paragraph_offsets(p.text)
            if not starts:
                raise Refused(
                    f"piece {short(piece_id)} has a single paragraph; split it at an offset instead"
                )
            if not 2 <= paragraph <= len(starts) + 1:
                raise Refused(
                    f"piece {short(piece_id)} has {len(starts) + 1} paragraph(s); "
                    f"split before paragraph 2..{len(starts) + 1}, not {paragraph}"
                )
            at = starts[paragraph - 2]
        assert at is not None
        if not 0 < at < len(p.text):
            raise Refused(
                f"offset {at} is not inside piece {short(piece_id)}'s text (valid: 1..{len(p.text) - 1})"
                if len(p.text) > 1
                else f"piece {short(piece_id)}'s text is too short to split"
            )
        head, tail = p.text[:at], p.text[at:]
        first_line = (tail.splitlines() or [""])[0]
        match = classify_line(first_line)
        kind, label, heading = (match.kind, match.label, match.heading) if match else ("paragraph", "", "")
        store.update_piece(conn, replace(p, text=head))
        parent = p.parent_piece_id
        kids = tree.children(p.piece_id)  # follow the tail, so the document reads the same
        order = tree.children(parent)
        new_position = order.index(p) + 1
        new_id = store.insert_piece(
            conn,
            iu_id=p.iu_id,
            parent_piece_id=parent,
            position=len(tree.pieces) + 1,  # placed by set_order below
            kind=kind,
            label=label,
            heading=heading,
            text=tail,
            created_by=operation_id,
        )
        ids = [s.piece_id for s in order]
        ids.insert(new_position, new_id)
        for kid in kids:
            store.update_piece(conn, replace(kid, parent_piece_id=new_id))
        store.set_order(conn, ids)
        change.pieces += [p.piece_id, new_id, *(k.piece_id for k in kids)]
        change.created.append(new_id)
        change.outcome.update(offset=at, new_piece_id=str(new_id))

    return operate(conn, piece, "split", {"offset": offset, "paragraph": paragraph}, actor, apply)


# ---------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------
def merge_pieces(
    conn: Conn, first: PieceRef, second: PieceRef, *, actor: str | None = None
) -> OperationResult:
    """Merge two adjacent sibling pieces into the earlier one."""
    with conn.transaction():
        other_id, other_iu = store.resolve_piece(conn, second)

        def apply(
            conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change
        ) -> None:
            if other_id not in tree.pieces:
                raise Refused("cannot merge pieces of two different information units")
            if other_id == piece_id:
                raise Refused("cannot merge a piece with itself")
            a, b = require_active(tree, piece_id), require_active(tree, other_id)
            if a.parent_piece_id != b.parent_piece_id or a.parent_piece_id is None:
                raise Refused(f"pieces {short(a.piece_id)} and {short(b.piece_id)} are not siblings")
            siblings = tree.children(a.parent_piece_id)
            if siblings.index(b) < siblings.index(a):
                a, b = b, a  # either order means the same merge: b joins the earlier a
            if siblings.index(b) - siblings.index(a) != 1:
                raise Refused(f"pieces {short(a.piece_id)} and {short(b.piece_id)} are not adjacent")
            if tree.children(a.piece_id):
                raise Refused(
                    f"piece {short(a.piece_id)} ({a.title}) has sub-pieces; "
                    "merging would move the next piece's text ahead of them"
                )
            kids = tree.children(b.piece_id)
            store.update_piece(conn, replace(a, text=a.text + b.text))
            for i, kid in enumerate(kids):
                store.update_piece(conn, replace(kid, parent_piece_id=a.piece_id, position=i))
            store.deprecate(conn, [b.piece_id], operation_id)
            store.set_order(conn, [s.piece_id for s in siblings if s.piece_id != b.piece_id])
            change.pieces += [a.piece_id, b.piece_id, *(k.piece_id for k in kids)]
            change.deprecated.append(b.piece_id)
            # The journal names the pieces in document order, whatever order they were given in.
            change.outcome.update(
                piece_id=str(a.piece_id), second=str(b.piece_id), into=str(a.piece_id), merged=str(b.piece_id)
            )

        del other_iu
        return operate(conn, first, "merge", {"second": str(other_id)}, actor, apply)


# ---------------------------------------------------------------------------
# move
# ---------------------------------------------------------------------------
def move_piece(
    conn: Conn,
    piece: PieceRef,
    *,
    parent: PieceRef,
    position: int | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Move a piece (with its subtree) under ``parent`` at ``position`` (default: last)."""
    with conn.transaction():
        parent_id, _ = store.resolve_piece(conn, parent)

        def apply(
            conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change
        ) -> None:
            if parent_id not in tree.pieces:
                raise Refused("cannot move a piece into another information unit")
            p = require_active(tree, piece_id)
            if p.parent_piece_id is None:
                raise Refused("the root piece cannot be moved")
            new_parent = require_active(tree, parent_id)
            if parent_id == piece_id or piece_id in tree.ancestors(parent_id):
                raise Refused(
                    f"cannot move piece {short(piece_id)} into its own subtree "
                    f"({short(parent_id)} is {'itself' if parent_id == piece_id else 'inside it'})"
                )
            siblings = [s.piece_id for s in tree.children(new_parent.piece_id) if s.piece_id != piece_id]
            at = len(siblings) if position is None else position
            if not 0 <= at <= len(siblings):
                raise Refused(f"position {at} is out of range: {short(parent_id)} allows 0..{len(siblings)}")
            old_parent = p.parent_piece_id
            store.update_piece(conn, replace(p, parent_piece_id=parent_id))
            siblings.insert(at, piece_id)
            store.set_order(conn, siblings)
            if old_parent != parent_id:
                store.set_order(
                    conn, [s.piece_id for s in tree.children(old_parent) if s.piece_id != piece_id]
                )
            change.pieces.append(piece_id)
            change.outcome.update(from_parent=str(old_parent), position=at)

        return operate(conn, piece, "move", {"parent": str(parent_id), "position": position}, actor, apply)


# ---------------------------------------------------------------------------
# rename
# ---------------------------------------------------------------------------
def _is_utf8(text: str) -> bool:
    """False for a lone surrogate: a byte that was not UTF-8 on the command line, never storable."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def rename_piece(
    conn: Conn,
    piece: PieceRef,
    *,
    label: str | None = None,
    heading: str | None = None,
    actor: str | None = None,
) -> OperationResult:
    """Give a piece a new label and/or heading (its text is unchanged)."""
    if label is None and heading is None:
        raise Refused("rename needs a new label or a new heading (or both)")
    for name, value in (("label", label), ("heading", heading)):
        if value is not None and any(c in value for c in "\x00\r\n"):
            raise Refused(f"a {name} is one line of text (no line breaks or NUL characters)")
        if value is not None and not _is_utf8(value):
            raise Refused(f"a {name} must be valid UTF-8 text")

    def apply(conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change) -> None:
        p = require_active(tree, piece_id)
        store.update_piece(
            conn,
            replace(
                p,
                label=p.label if label is None else label,
                heading=p.heading if heading is None else heading,
            ),
        )
        change.pieces.append(piece_id)
        change.outcome.update(previous_label=p.label, previous_heading=p.heading)

    return operate(conn, piece, "rename", {"label": label, "heading": heading}, actor, apply)


# ---------------------------------------------------------------------------
# deprecate / restore
# ---------------------------------------------------------------------------
def deprecate_piece(conn: Conn, piece: PieceRef, *, actor: str | None = None) -> OperationResult:
    """Withdraw a piece and its active subtree from the tree (restorable)."""

    def apply(conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change) -> None:
        p = require_active(tree, piece_id)
        if p.parent_piece_id is None:
            raise Refused("the root piece cannot be deprecated (deprecate the pieces under it)")
        ids = [s.piece_id for s in tree.subtree(piece_id)]
        store.deprecate(conn, ids, operation_id)
        store.set_order(
            conn, [s.piece_id for s in tree.children(p.parent_piece_id) if s.piece_id != piece_id]
        )
        change.pieces += ids
        change.deprecated += ids

    return operate(conn, piece, "deprecate", {}, actor, apply)


def restore_piece(conn: Conn, piece: PieceRef, *, actor: str | None = None) -> OperationResult:
    """Bring back a deprecated piece and what was deprecated with it."""

    def apply(conn: Conn, tree: Tree, piece_id: uuid.UUID, operation_id: uuid.UUID, change: Change) -> None:
        p = tree.pieces[piece_id]
        if p.active:
            raise Refused(f"piece {short(piece_id)} ({p.title}) is not deprecated")
        assert p.parent_piece_id is not None and p.deprecated_by is not None
        parent = tree.pieces[p.parent_piece_id]
        if not parent.active:
            raise Refused(
                f"the parent {short(parent.piece_id)} ({parent.title}) is deprecated; restore it first"
            )
        by = store.fetch_one(conn, "operation_type_of", {"operation_id": p.deprecated_by})
        if by is not None and by["operation_type"] == "merge":
            raise Refused(f"piece {short(piece_id)} was merged into its sibling; split that piece instead")
        # The piece and the descendants withdrawn by the same operation, top-down.
        ids: list[uuid.UUID] = []
        stack = [p]
        while stack:
            current = stack.pop()
            ids.append(current.piece_id)
            stack.extend(
                kid
                for kid in tree.children(current.piece_id, active_only=False)
                if kid.deprecated_by == p.deprecated_by
            )
        store.restore(conn, ids)
        siblings = [s.piece_id for s in tree.children(parent.piece_id)]
        at = min(p.position, len(siblings))
        siblings.insert(at, piece_id)
        store.set_order(conn, siblings)
        change.pieces += ids
        change.outcome.update(position=at, restored=[str(i) for i in ids])

    return operate(conn, piece, "restore", {}, actor, apply)


# ---------------------------------------------------------------------------
# dispatch by name
# ---------------------------------------------------------------------------
def apply_operation(
    conn: Conn, operation_type: str, *, actor: str | None = None, **parameters: Any
) -> OperationResult:
    """Apply one operation by name, e.g. ``apply_operation(conn, "move", piece=p, parent=q, position=0)``."""
    operations: dict[str, Callable[..., OperationResult]] = {
        "split": split_piece,
        "merge": merge_pieces,
        "move": move_piece,
        "rename": rename_piece,
        "deprecate": deprecate_piece,
        "restore": restore_piece,
    }
    try:
        function = operations[operation_type]
    except KeyError:
        raise NotFound(f"unknown structure operation {operation_type!r}") from None
    try:
        inspect.signature(function).bind(conn, actor=actor, **parameters)
    except TypeError as exc:
        raise Refused(f"{operation_type}: {exc}") from None
    return function(conn, actor=actor, **parameters)
