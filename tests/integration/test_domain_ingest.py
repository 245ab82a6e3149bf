"""Ingest of the shipped samples, re-ingest with --replace, relations (Python API)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain.autocut import autocut
from iu_core.errors import IuCoreError, NotFound, Refused


def _count(conn: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def _events(conn: psycopg.Connection[Any], event_type: str) -> int:
    return _count(conn, "SELECT count(*) FROM event_outbox WHERE event_type = %s", event_type)


@pytest.mark.parametrize("name", domain.SAMPLES)
def test_ingest_sample_writes_unit_pieces_operation_and_events(
    conn: psycopg.Connection[Any], name: str
) -> None:
    path = domain.sample_path(name)
    result = domain.ingest_document(conn, path, code="DOC")
    expected_pieces = len(autocut(path.read_text(encoding="utf-8")).walk())
    assert result.created and result.changed and result.operation is not None
    assert len(result.operation.created) == expected_pieces
    assert (
        _count(conn, "SELECT count(*) FROM iu_piece WHERE iu_id = %s", result.unit.iu_id) == expected_pieces
    )
    assert _events(conn, "iu_created") == 1
    assert _events(conn, "structure_op_applied") == 1
    assert _events(conn, "structure_piece_deprecated") == 0
    tree = domain.get_tree(conn, "DOC")
    assert tree.text() == path.read_text(encoding="utf-8")  # lossless, in the database too
    assert domain.tree_problems(conn, "DOC") == []
    assert domain.unit_event_problems(conn, result.unit.iu_id) == []
    assert domain.operation_problems(conn, result.operation.operation_id) == []


def test_sample_shapes_are_what_other_helpers_rely_on(conn: psycopg.Connection[Any]) -> None:
    en = domain.ingest_document(conn, domain.sample_path("regulation_en.md"), code="REG-EN")
    vi = domain.ingest_document(conn, domain.sample_path("quy_che_vi.md"), code="QC-VI")
    assert en.operation is not None and vi.operation is not None
    assert (len(en.operation.created), len(vi.operation.created)) == (24, 24)
    assert en.unit.title == "Regulation on Shared Laboratory Equipment"
    assert vi.unit.title == "QUY CHẾ SỬ DỤNG THƯ VIỆN ĐIỆN TỬ"
    labels = [p.label for _, p in domain.get_tree(conn, "QC-VI").walk() if p.kind == "article"]
    assert labels == [f"Điều {i}" for i in range(1, 8)]


def test_ingest_existing_code_is_refused_without_replace(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, "# A\n\nbody\n", code="X")
    before = _count(conn, "SELECT count(*) FROM event_outbox")
    with pytest.raises(Refused, match="already exists; use --replace"):
        domain.ingest_document(conn, "# B\n\nother\n", code="X")
    assert _count(conn, "SELECT count(*) FROM event_outbox") == before
    assert domain.get_unit(conn, "X").body == "# A\n\nbody\n"


def test_reingest_with_replace_applies_the_difference_as_events(conn: psycopg.Connection[Any]) -> None:
    first = domain.ingest_document(conn, domain.sample_path("regulation_en.md"), code="REG")
    old_tree = domain.get_tree(conn, "REG")
    result = domain.ingest_document(conn, domain.sample_path("regulation_en_v2.md"), code="REG", replace=True)
    op = result.operation
    assert op is not None and op.operation_type == "reingest" and not result.created
    tree = domain.get_tree(conn, "REG")
    # Article 3 clause 3 vanished; Article 4 point d) and Article 7 are new.
    gone = [old_tree.pieces[p] for p in op.deprecated]
    assert [(p.kind, p.label) for p in gone] == [("clause", "3.")]
    new = [tree.pieces[p] for p in op.created]
    assert sorted((p.kind, p.label) for p in new) == [("article", "Article 7"), ("point", "d)")]
    # Pieces that survived keep their ids; the active tree reads as the new document.
    assert tree.root.piece_id == old_tree.root.piece_id
    assert tree.text() == domain.sample_path("regulation_en_v2.md").read_text(encoding="utf-8")
    assert domain.tree_problems(conn, "REG") == []
    assert domain.unit_event_problems(conn, first.unit.iu_id) == []
    assert domain.operation_problems(conn, op.operation_id) == []
    assert _events(conn, "structure_piece_deprecated") == 1
    assert _events(conn, "structure_op_applied") == 2
    row = conn.execute(
        "SELECT parameters FROM iu_structure_operation WHERE operation_id = %s", (op.operation_id,)
    ).fetchone()
    assert row is not None
    changed = {c["piece_id"]: c["previous_text"] for c in row[0]["changed"]}
    assert any("one working day ahead" in text for text in changed.values())
    # Re-ingesting the same document again changes nothing and writes nothing.
    events = _count(conn, "SELECT count(*) FROM event_outbox")
    again = domain.ingest_document(conn, domain.sample_path("regulation_en_v2.md"), code="REG", replace=True)
    assert not again.changed and again.operation is None
    assert _count(conn, "SELECT count(*) FROM event_outbox") == events


def test_reingest_restores_a_piece_the_editor_deprecated_as_a_new_piece(
    conn: psycopg.Connection[Any],
) -> None:
    domain.ingest_document(conn, "# T\n\n1. one\n2. two\n", code="D")
    two = next(p for _, p in domain.get_tree(conn, "D").walk() if p.label == "2.")
    domain.deprecate_piece(conn, two.piece_id)
    result = domain.ingest_document(conn, "# T\n\n1. one\n2. two\n", code="D", replace=True)
    assert result.operation is not None and len(result.operation.created) == 1
    assert domain.get_tree(conn, "D").text() == "# T\n\n1. one\n2. two\n"
    assert domain.tree_problems(conn, "D") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n\t\n", "is empty"),
        (b"Article 1. Caf\xe9\n", "is not UTF-8"),
    ],
)
def test_bad_documents_are_refused_and_write_nothing(
    conn: psycopg.Connection[Any], tmp_path: Any, data: bytes, message: str
) -> None:
    path = tmp_path / "doc.md"
    path.write_bytes(data)
    with pytest.raises(IuCoreError, match=message):
        domain.ingest_document(conn, path, code="BAD")
    assert _count(conn, "SELECT count(*) FROM information_unit") == 0
    assert _count(conn, "SELECT count(*) FROM event_outbox") == 0


def test_relations_write_their_events(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, domain.sample_path("regulation_en.md"), code="A")
    domain.ingest_document(conn, domain.sample_path("quy_che_vi.md"), code="B")
    relation = domain.relate(conn, "A", "cites", "B", actor="alice")
    row = conn.execute(
        "SELECT payload FROM event_outbox WHERE event_id = %s", (relation.event_id,)
    ).fetchone()
    assert row is not None
    assert row[0]["event_type"] == "iu_relation_added"
    assert (row[0]["from_code"], row[0]["relation_type"], row[0]["to_code"]) == ("A", "cites", "B")
    assert [(r["from_code"], r["relation_type"], r["to_code"]) for r in domain.list_relations(conn, "B")] == [
        ("A", "cites", "B")
    ]
    with pytest.raises(Refused, match="already exists"):
        domain.relate(conn, "A", "cites", "B")
    with pytest.raises(Refused, match="itself"):
        domain.relate(conn, "A", "related", "A")
    with pytest.raises(NotFound, match="unknown information unit 'C'"):
        domain.relate(conn, "A", "amends", "C")
    domain.unrelate(conn, "A", "cites", "B")
    assert domain.list_relations(conn) == []
    assert _events(conn, "iu_relation_removed") == 1
    with pytest.raises(Refused, match="does not exist"):
        domain.unrelate(conn, "A", "cites", "B")
