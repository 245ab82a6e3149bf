"""The demo corpus: the shipped samples plus a fixed story of structure operations.

API::

    build_demo_corpus(conn, *, actor="demo") -> CorpusResult
    DEMO_CODES                       # ("REG-EN", "QC-VI")
    DEMO_STRUCTURE_EVENTS            # 56: structure events the story writes

The story (each step one transaction, pieces found by their labels):

1. ingest ``regulation_en.md`` as REG-EN and ``quy_che_vi.md`` as QC-VI;
   QC-VI ``cites`` REG-EN;
2. re-ingest REG-EN from ``regulation_en_v2.md`` with replace (one clause
   vanishes, a point and an article appear, texts change);
3. REG-EN: split Article 5, rename the new piece, merge it back; move
   Article 7 to the top of Chapter III; deprecate Chapter I and restore it;
   deprecate Article 3 and restore it;
4. QC-VI: rename Điều 4, move it to the top of Mục 2; deprecate Chương II and
   restore it; deprecate Điều 5 and restore it; split Điều 1 and merge it back;
5. REG-EN: rename Article 7.

It writes exactly ``DEMO_STRUCTURE_EVENTS`` = 56 structure events (the
demo's figures: runtime/220 delivers one, runtime/300 the other 55): 20 operations,
so 20 ``structure_op_applied``, and 36 ``structure_piece_deprecated``; 24 on
REG-EN and 32 on QC-VI; plus 2 ``iu_created`` and 1 ``iu_relation_added``. On a database where either code
exists already it writes nothing and reports ``seeded=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from iu_core.domain import operations as ops
from iu_core.domain import store
from iu_core.domain.ingest import ingest_document, sample_path
from iu_core.domain.model import OperationResult
from iu_core.domain.relations import relate

Conn = store.Conn

DEMO_CODES = ("REG-EN", "QC-VI")
DEMO_STRUCTURE_EVENTS = 56


@dataclass(frozen=True, slots=True)
class CorpusResult:
    seeded: bool  # False: the corpus was there already, nothing written
    operations: int  # structure operations applied (autocut and reingest included)
    structure_events: int  # structure_op_applied + structure_piece_deprecated written


def _piece(conn: Conn, code: str, *labels: str) -> str:
    """The active piece reached by following labels (or headings) down, each the first match below."""
    tree = store.load_tree(conn, store.unit_by_code(conn, code).iu_id)
    current = tree.root
    for label in labels:
        below = tree.subtree(current.piece_id)[1:]
        current = next(p for p in below if label in (p.label, p.heading))
    return str(current.piece_id)


def build_demo_corpus(conn: Conn, *, actor: str | None = "demo") -> CorpusResult:
    """Ingest the samples and apply the demo story (see the module docstring)."""
    for code in DEMO_CODES:
        if store.fetch_one(conn, "unit_by_code", {"code": code}) is not None:
            return CorpusResult(False, 0, 0)
    results: list[OperationResult] = []

    def run(result: OperationResult) -> OperationResult:
        results.append(result)
        return result

    for code, name in zip(DEMO_CODES, ("regulation_en.md", "quy_che_vi.md"), strict=True):
        ingested = ingest_document(conn, sample_path(name), code=code, actor=actor)
        assert ingested.operation is not None
        run(ingested.operation)
    relate(conn, "QC-VI", "cites", "REG-EN", actor=actor)
    replaced = ingest_document(
        conn, sample_path("regulation_en_v2.md"), code="REG-EN", replace=True, actor=actor
    )
    assert replaced.operation is not None
    run(replaced.operation)

    # REG-EN
    art5 = _piece(conn, "REG-EN", "Chapter II", "Article 5")
    tail = run(ops.split_piece(conn, art5, paragraph=2, actor=actor)).created[0]
    run(ops.rename_piece(conn, tail, heading="Reporting a fault", actor=actor))
    run(ops.merge_pieces(conn, art5, tail, actor=actor))
    chapter3 = _piece(conn, "REG-EN", "Chapter III")
    art7 = _piece(conn, "REG-EN", "Chapter III", "Article 7")
    run(ops.move_piece(conn, art7, parent=chapter3, position=0, actor=actor))
    chapter1 = _piece(conn, "REG-EN", "Chapter I")
    run(ops.deprecate_piece(conn, chapter1, actor=actor))
    run(ops.restore_piece(conn, chapter1, actor=actor))
    art3 = _piece(conn, "REG-EN", "Chapter II", "Article 3")
    run(ops.deprecate_piece(conn, art3, actor=actor))
    run(ops.restore_piece(conn, art3, actor=actor))

    # QC-VI
    dieu4 = _piece(conn, "QC-VI", "Chương II", "Mục 1", "Điều 4")
    run(ops.rename_piece(conn, dieu4, heading="Thời gian truy cập thư viện", actor=actor))
    muc2 = _piece(conn, "QC-VI", "Chương II", "Mục 2")
    run(ops.move_piece(conn, dieu4, parent=muc2, position=0, actor=actor))
    chuong2 = _piece(conn, "QC-VI", "Chương II")
    run(ops.deprecate_piece(conn, chuong2, actor=actor))
    run(ops.restore_piece(conn, chuong2, actor=actor))
    dieu5 = _piece(conn, "QC-VI", "Chương II", "Mục 2", "Điều 5")
    run(ops.deprecate_piece(conn, dieu5, actor=actor))
    run(ops.restore_piece(conn, dieu5, actor=actor))
    dieu1 = _piece(conn, "QC-VI", "Chương I", "Điều 1")
    rest = run(ops.split_piece(conn, dieu1, paragraph=2, actor=actor)).created[0]
    run(ops.merge_pieces(conn, dieu1, rest, actor=actor))

    # REG-EN, last: the amendment's new article gets its final heading.
    run(ops.rename_piece(conn, art7, heading="Transitional provisions", actor=actor))

    events = sum(len(r.event_ids) for r in results)
    return CorpusResult(True, len(results), events)
