"""Ingest: a document becomes an information unit and its autocut piece tree.

API::

    ingest_document(conn, source, *, code, title=None, replace=False, actor=None) -> IngestResult
    read_document(path) -> str            # strict UTF-8, refuses empty documents
    sample_path(name) -> Path             # a document shipped in iu_core/samples
    SAMPLES                               # their file names

``source`` is a ``pathlib.Path`` or the document text itself (a ``str``; a
one-line ``str`` naming an existing file is read as a path). A file is read
by ``domain.sources``: its format (text, Word, HTML, PDF) found from its
content, its text extracted, every line's place in the file kept; autocut
cuts the text, and each piece's ``source`` (page and line, paragraph, element
path, text line) is written with it. A file that cannot be read is refused
before anything is written. Everything happens in ONE transaction (a
savepoint when the caller already has one open):

- a new code: the ``information_unit`` row, an ``iu_created`` event, then the
  ``autocut`` operation (its ``iu_structure_operation`` row, every piece, one
  ``structure_op_applied`` event);
- an existing code without ``replace``: refused, nothing written;
- an existing code with ``replace``: the IU row is locked, the new text is cut
  and compared with the active tree, and the difference is applied as one
  ``reingest`` operation: pieces that vanished are deprecated (one
  ``structure_piece_deprecated`` each), new ones are created, matched ones
  get their new text, names, parent and position; the operation's parameters
  record the created, changed (with the previous text), moved (with the
  previous parent) and deprecated pieces, and their ``counts`` — the figures
  the command line and the report print.
  An identical document writes nothing (``IngestResult.changed`` is False).

Pieces of the old and the new cut are matched by their path from the root:
(kind, label) per level, or (kind, heading) for unlabelled pieces, with a
counter for repeats among siblings — and by content where a label's text
changed beyond recognition while another piece's text matches it: that
piece follows its text (it is moved, not rewritten). The rule is in
``matching``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from iu_core.codes import validate_code
from iu_core.domain import sources, store
from iu_core.domain.akn import akn_text, is_akn
from iu_core.domain.autocut import CutNode, autocut, default_title
from iu_core.domain.eid import assign
from iu_core.domain.matching import comparable, match
from iu_core.domain.model import IU_CREATED, OperationResult, Piece, Tree, Unit
from iu_core.domain.operation_core import Change, finish
from iu_core.errors import IuCoreError, Refused

Conn = store.Conn

SAMPLES = ("regulation_en.md", "regulation_en_v2.md", "quy_che_vi.md")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest wrote."""

    unit: Unit
    created: bool  # a new IU (False: an existing one was replaced)
    changed: bool  # False: an identical re-ingest, nothing written
    operation: OperationResult | None
    event_ids: tuple[uuid.UUID, ...]  # every event written, iu_created included
    # A re-ingest's figures, as its journal entry records them: created, changed (text),
    # moved (followed its text to another place), deprecated.
    counts: dict[str, int] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # the file read: format, units, chars

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "iu_id": self.unit.iu_id,
            "code": self.unit.code,
            "title": self.unit.title,
            "created": self.created,
            "changed": self.changed,
            "operation": self.operation.as_dict() if self.operation else None,
            "event_ids": list(self.event_ids),
            "counts": dict(self.counts),
        }


def sample_path(name: str) -> Path:
    """The path of a sample document shipped with the package."""
    if name not in SAMPLES:
        raise IuCoreError(f"unknown sample {name!r}; samples: {', '.join(SAMPLES)}")
    return Path(str(resources.files("iu_core").joinpath("samples", name)))


def read_document(path: Path) -> str:
    """The text of a UTF-8 document; a missing, non-UTF-8 or empty file is a user error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IuCoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IuCoreError(f"{path} is not UTF-8 text (invalid byte at offset {exc.start})") from exc
    return text.removeprefix("\ufeff")


def _check_text(text: str, where: str) -> None:
    if not text.strip():
        raise IuCoreError(f"{where} is empty: nothing to ingest")
    if "\x00" in text:
        raise IuCoreError(f"{where} contains NUL characters; it is not a text document")


def ingest_document(
    conn: Conn,
    source: Path | str,
    *,
    code: str,
    title: str | None = None,
    replace: bool = False,
    actor: str | None = None,
) -> IngestResult:
    """Create (or, with ``replace``, re-cut) the IU ``code`` from a document."""
    if isinstance(source, str) and "\n" not in source and len(source) < 4096 and Path(source).is_file():
        source = Path(source)  # a path given as text
    if isinstance(source, Path):
        extracted, where, origin = sources.read_source(source), str(source), source.name
    else:
        extracted, where, origin = sources.plain_text(source), "the document", "text"
    if is_akn(extracted.text):  # an Akoma Ntoso act (iu-core export --format akn): its text
        try:
            extracted = sources.plain_text(akn_text(extracted.text))
        except ValueError as exc:
            raise IuCoreError(f"{where}: {exc}") from None
    text = extracted.text
    _check_text(text, where)
    code = validate_code("IU code", code)
    root = autocut(text)
    cut = _Cut(root, extracted, origin)
    with conn.transaction():
        store.defer_positions(conn)
        existing = store.fetch_one(conn, "lock_unit_by_code", {"code": code})
        if existing is None:
            return _create(conn, code, title or default_title(root, code), cut, actor)
        if not replace:
            raise Refused(f"information unit {code!r} already exists; use --replace to re-ingest it")
        unit = Unit.from_row(existing)
        store.refuse_if_archived(unit)
        return _replace(conn, unit, title or unit.title, cut, actor)


class _Cut:
    """A document's cut: its tree, the extracted text, and the source of every node."""

    def __init__(self, root: CutNode, extracted: sources.Extracted, origin: str) -> None:
        self.root, self.extracted, self.text = root, extracted, extracted.text
        nodes = root.walk()
        found = extracted.sources([node.text for node in nodes])
        self.source = {id(node): where for node, where in zip(nodes, found, strict=True)}
        self.params = {
            "source": origin,
            "format": extracted.format,
            "sha256": hashlib.sha256(self.text.encode()).hexdigest(),
            "chars": len(self.text),
        }


def _create(conn: Conn, code: str, title: str, cut: _Cut, actor: str | None) -> IngestResult:
    text, root = cut.text, cut.root
    row = store.fetch_one(conn, "insert_unit", {"code": code, "title": title, "body": text})
    if row is None:  # another ingest of the same code committed first
        raise Refused(f"information unit {code!r} already exists; use --replace to re-ingest it")
    unit = Unit.from_row(row)
    created_event = store.emit(
        conn,
        IU_CREATED,
        unit.iu_id,
        {"event_type": IU_CREATED, "iu_id": str(unit.iu_id), "code": code, "title": title},
    )
    store.lock_unit(conn, unit.iu_id)
    operation_id = store.insert_operation(conn, unit.iu_id, "autocut", cut.params, actor)
    root.heading = root.heading or title
    ids: list[uuid.UUID] = []
    nodes = {id(n): n for n in root.walk()}
    eids = assign(  # written with each piece: the refresh after the cut finds nothing to change
        id(root),
        lambda k: [id(c) for c in nodes[k].children],
        lambda k: nodes[k].kind,
        lambda k: nodes[k].label,
    )

    def insert(node: CutNode, parent: uuid.UUID | None, position: int) -> None:
        piece_id = store.insert_piece(
            conn,
            iu_id=unit.iu_id,
            parent_piece_id=parent,
            position=position,
            kind=node.kind,
            label=node.label,
            heading=node.heading,
            text=node.text,
            created_by=operation_id,
            eid=eids[id(node)],
            source=cut.source[id(node)],
        )
        ids.append(piece_id)
        for i, child in enumerate(node.children):
            insert(child, piece_id, i)

    insert(root, None, 0)
    operation = _close(conn, unit.iu_id, operation_id, "autocut", ids, ids, [], {}, title_changed=True)
    return IngestResult(
        unit, True, True, operation, (created_event, *operation.event_ids), source=cut.extracted.summary()
    )


def _close(
    conn: Conn,
    iu_id: uuid.UUID,
    operation_id: uuid.UUID,
    operation_type: str,
    pieces: list[uuid.UUID],
    created: list[uuid.UUID],
    deprecated: list[uuid.UUID],
    outcome: dict[str, Any],
    *,
    title_changed: bool = False,
) -> OperationResult:
    change = Change(list(pieces), list(created), list(deprecated), dict(outcome), title_changed)
    return finish(conn, iu_id, operation_id, operation_type, change)


# ---------------------------------------------------------------------------
# Re-ingest: the difference between the active tree and the new cut
# ---------------------------------------------------------------------------
Path_ = tuple[tuple[str, str], ...]


def _key(kind: str, label: str, heading: str) -> tuple[str, str]:
    return (kind, label or heading)


def _cut_paths(root: CutNode) -> list[tuple[Path_, CutNode, Path_ | None, int]]:
    """(path, node, parent path, position) for every node of the new cut, in pre-order."""
    out: list[tuple[Path_, CutNode, Path_ | None, int]] = [((), root, None, 0)]

    def visit(node: CutNode, path: Path_) -> None:
        seen: dict[tuple[str, str], int] = {}
        for i, child in enumerate(node.children):
            base = _key(child.kind, child.label, child.heading)
            seen[base] = seen.get(base, 0) + 1
            child_path = (*path, (base[0], f"{base[1]}#{seen[base]}"))
            out.append((child_path, child, path, i))
            visit(child, child_path)

    visit(root, ())
    return out


def _tree_paths(tree: Tree) -> dict[Path_, Piece]:
    """Path → active piece of the current tree."""
    out: dict[Path_, Piece] = {(): tree.root}

    def visit(piece: Piece, path: Path_) -> None:
        seen: dict[tuple[str, str], int] = {}
        for child in tree.children(piece.piece_id):
            base = _key(child.kind, child.label, child.heading)
            seen[base] = seen.get(base, 0) + 1
            child_path = (*path, (base[0], f"{base[1]}#{seen[base]}"))
            out[child_path] = child
            visit(child, child_path)

    visit(tree.root, ())
    return out


def _replace(conn: Conn, unit: Unit, title: str, cut: _Cut, actor: str | None) -> IngestResult:
    text, root = cut.text, cut.root
    tree = store.load_tree(conn, unit.iu_id)
    old = _tree_paths(tree)
    new = _cut_paths(root)
    root.heading = tree.root.heading  # the root keeps its name
    pairs, _ = match(old, [(path, comparable(node.text, node.label)) for path, node, _, _ in new])
    ids_by_path: dict[Path_, uuid.UUID] = {path: piece.piece_id for path, piece in pairs.items()}
    created_nodes = [entry for entry in new if entry[0] not in pairs]
    kept = set(ids_by_path.values())
    vanished = [p for p in old.values() if p.piece_id not in kept]

    def updates() -> list[tuple[Piece, Piece]]:
        """(before, after) of every matched piece that changes (parents are all known by now)."""
        out = []
        for path, node, parent_path, position in new:
            before = pairs.get(path)
            if before is None:
                continue
            after = Piece(
                before.piece_id,
                before.iu_id,
                None if parent_path is None else ids_by_path[parent_path],
                position,
                node.kind,
                node.label if path else before.label,
                node.heading if path else before.heading,
                node.text,
                before.status,
                before.created_by,
                before.deprecated_by,
                source=cut.source[id(node)],
                eid=before.eid,
            )
            if after != before:
                out.append((before, after))
        return out

    if not created_nodes and not vanished and not updates() and title == unit.title and text == unit.body:
        return IngestResult(unit, False, False, None, (), source=cut.extracted.summary())

    store.execute(conn, "update_unit_document", {"iu_id": unit.iu_id, "title": title, "body": text})
    operation_id = store.insert_operation(conn, unit.iu_id, "reingest", cut.params, actor)
    created: list[uuid.UUID] = []
    for path, node, parent_path, position in created_nodes:
        assert parent_path is not None  # the root always matches
        piece_id = store.insert_piece(
            conn,
            iu_id=unit.iu_id,
            parent_piece_id=ids_by_path[parent_path],  # created before: pre-order
            position=position,
            kind=node.kind,
            label=node.label,
            heading=node.heading,
            text=node.text,
            created_by=operation_id,
            source=cut.source[id(node)],
        )
        ids_by_path[path] = piece_id
        created.append(piece_id)
    changed: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    rewritten = updates()
    for before, after in rewritten:
        store.update_piece(conn, after)
        if after.text != before.text:
            changed.append({"piece_id": str(before.piece_id), "previous_text": before.text})
        if after.parent_piece_id != before.parent_piece_id:
            moved.append({"piece_id": str(before.piece_id), "from_parent": str(before.parent_piece_id)})
    deprecated = [p.piece_id for p in vanished]
    store.deprecate(conn, deprecated, operation_id)
    touched = [*created, *(b.piece_id for b, _ in rewritten), *deprecated]
    counts = {
        "created": len(created),
        "changed": len(changed),
        "moved": len(moved),
        "deprecated": len(deprecated),
    }
    outcome = {"changed": changed, "moved": moved, "counts": counts, "title": title}
    operation = _close(
        conn,
        unit.iu_id,
        operation_id,
        "reingest",
        touched,
        created,
        deprecated,
        outcome,
        title_changed=title != unit.title,
    )
    store.execute(conn, "touch_unit", {"iu_id": unit.iu_id})
    refreshed = store.unit_by_code(conn, unit.code)
    return IngestResult(
        refreshed, False, True, operation, operation.event_ids, counts, source=cut.extracted.summary()
    )
