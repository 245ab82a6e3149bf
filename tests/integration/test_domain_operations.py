"""Structure operations through the Python API: what each writes, and what each refuses."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain.model import Piece, Tree
from iu_core.errors import NotFound, Refused

DOC = """# Rules

Preamble.

## Article 1. Scope

First paragraph.

Second paragraph.

1. one
2. two
a) alpha
b) beta

## Article 2. Terms

Text of two.

## Article 3. End

Bye.
"""


@pytest.fixture
def unit(conn: psycopg.Connection[Any]) -> domain.IngestResult:
    return domain.ingest_document(conn, DOC, code="R")


def _find(tree: Tree, label: str) -> Piece:
    return next(p for p in tree.pieces.values() if p.label == label and p.active)


def _tree(conn: psycopg.Connection[Any]) -> Tree:
    return domain.get_tree(conn, "R")


def _sound(conn: psycopg.Connection[Any], result: domain.OperationResult) -> None:
    assert domain.tree_problems(conn, "R") == []
    assert domain.unit_event_problems(conn, result.iu_id) == []
    assert domain.operation_problems(conn, result.operation_id) == []


def _counts(conn: psycopg.Connection[Any]) -> tuple[int, ...]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM event_outbox), (SELECT count(*) FROM iu_structure_operation),
                  (SELECT count(*) FROM iu_piece), (SELECT count(*) FROM iu_piece WHERE status = 'active'),
                  (SELECT coalesce(sum(length(text)), 0) FROM iu_piece)"""
    ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


def test_split_at_paragraph_keeps_the_document_and_hands_over_sub_pieces(
    conn: psycopg.Connection[Any], unit: domain.IngestResult
) -> None:
    art1 = _find(_tree(conn), "Article 1")
    result = domain.split_piece(conn, art1.piece_id, paragraph=3, actor="ed")
    tree = _tree(conn)
    new = tree.pieces[result.created[0]]
    assert tree.pieces[art1.piece_id].text == "## Article 1. Scope\n\nFirst paragraph.\n\n"
    assert new.text == "Second paragraph.\n\n" and new.kind == "paragraph"
    assert new.parent_piece_id == art1.parent_piece_id and new.position == art1.position + 1
    assert [p.label for p in tree.children(new.piece_id)] == ["1.", "2."]
    assert tree.text() == DOC
    _sound(conn, result)
    row = conn.execute(
        "SELECT operation_type, actor, parameters->>'paragraph'"
        " FROM iu_structure_operation WHERE operation_id = %s",
        (result.operation_id,),
    ).fetchone()
    assert row == ("split", "ed", "3")


def test_split_the_root_puts_the_tail_first_under_it(
    conn: psycopg.Connection[Any], unit: domain.IngestResult
) -> None:
    heading = _tree(conn).children(_tree(conn).root.piece_id)[0]  # "# Rules" holds the preamble
    result = domain.split_piece(conn, heading.piece_id, offset=len("# Rules\n\n"))
    assert _tree(conn).text() == DOC
    _sound(conn, result)


def test_split_at_offset_names_the_new_piece_from_its_first_line(
    conn: psycopg.Connection[Any], unit: domain.IngestResult
) -> None:
    art2 = _find(_tree(conn), "Article 2")
    domain.merge_pieces(conn, art2.piece_id, _find(_tree(conn), "Article 3").piece_id)
    merged = _tree(conn).pieces[art2.piece_id]
    result = domain.split_piece(conn, art2.piece_id, offset=merged.text.index("## Article 3"))
    new = _tree(conn).pieces[result.created[0]]
    assert (new.kind, new.label, new.heading) == ("article", "Article 3", "End")
    assert _tree(conn).text() == DOC
    _sound(conn, result)


def test_merge_then_split_gives_back_the_text(
    conn: psycopg.Connection[Any], unit: domain.IngestResult
) -> None:
    tree = _tree(conn)
    one, two = _find(tree, "1."), _find(tree, "2.")
    result = domain.merge_pieces(conn, two.piece_id, one.piece_id)  # either order
    tree = _tree(conn)
    assert result.deprecated == (two.piece_id,)
    assert tree.pieces[one.piece_id].text == "1. one\n2. two\n"
    assert [p.label for p in tree.children(one.piece_id)] == ["a)", "b)"]  # two's sub-pieces followed
    assert tree.text() == DOC
    _sound(conn, result)
    with pytest.raises(Refused, match="merged into its sibling"):
        domain.restore_piece(conn, two.piece_id)


def test_move_rename_deprecate_restore(conn: psycopg.Connection[Any], unit: domain.IngestResult) -> None:
    tree = _tree(conn)
    art1, art3, alpha = _find(tree, "Article 1"), _find(tree, "Article 3"), _find(tree, "a)")
    moved = domain.move_piece(conn, art3.piece_id, parent=art1.parent_piece_id or art1.piece_id, position=0)
    assert _tree(conn).pieces[art3.piece_id].position == 0
    _sound(conn, moved)
    renamed = domain.rename_piece(conn, art3.piece_id, label="Article 0", heading="Moved")
    assert (_tree(conn).pieces[art3.piece_id].label, _tree(conn).pieces[art3.piece_id].heading) == (
        "Article 0",
        "Moved",
    )
    _sound(conn, renamed)
    deprecated = domain.deprecate_piece(conn, art1.piece_id)
    subtree = {p.piece_id for p in tree.subtree(art1.piece_id)}
    assert set(deprecated.deprecated) == subtree and len(subtree) == 5
    _sound(conn, deprecated)
    with pytest.raises(Refused, match="deprecated"):
        domain.rename_piece(conn, alpha.piece_id, heading="x")
    with pytest.raises(Refused, match=r"parent .* is deprecated"):
        domain.restore_piece(conn, alpha.piece_id)
    restored = domain.restore_piece(conn, art1.piece_id)
    assert set(restored.pieces) == subtree
    assert _tree(conn).pieces[art1.piece_id].position == 1  # back where it was (after Article 0)
    _sound(conn, restored)
    row = conn.execute(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'structure_piece_deprecated'"
    ).fetchone()
    assert row == (5,)


def test_restore_brings_back_only_what_was_deprecated_together(
    conn: psycopg.Connection[Any], unit: domain.IngestResult
) -> None:
    tree = _tree(conn)
    art1, one = _find(tree, "Article 1"), _find(tree, "1.")
    domain.deprecate_piece(conn, one.piece_id)
    domain.deprecate_piece(conn, art1.piece_id)
    domain.restore_piece(conn, art1.piece_id)
    tree = _tree(conn)
    assert not tree.pieces[one.piece_id].active
    assert [p.label for p in tree.children(art1.piece_id)] == ["2."]
    result = domain.restore_piece(conn, one.piece_id)
    assert [p.label for p in _tree(conn).children(art1.piece_id)] == ["1.", "2."]
    assert _tree(conn).text() == DOC
    _sound(conn, result)


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (
            lambda c, t: domain.move_piece(c, _find(t, "Article 1").piece_id, parent=_find(t, "a)").piece_id),
            "own subtree",
        ),
        (
            lambda c, t: domain.move_piece(
                c, _find(t, "Article 1").piece_id, parent=_find(t, "Article 1").piece_id
            ),
            "own subtree",
        ),
        (
            lambda c, t: domain.move_piece(c, t.root.piece_id, parent=_find(t, "a)").piece_id),
            "root piece cannot be moved",
        ),
        (
            lambda c, t: domain.move_piece(c, _find(t, "a)").piece_id, parent=t.root.piece_id, position=9),
            "out of range",
        ),
        (
            lambda c, t: domain.merge_pieces(c, _find(t, "1.").piece_id, _find(t, "a)").piece_id),
            "not siblings",
        ),
        (
            lambda c, t: domain.merge_pieces(
                c, _find(t, "Article 1").piece_id, _find(t, "Article 3").piece_id
            ),
            "not adjacent",
        ),
        (
            lambda c, t: domain.merge_pieces(
                c, _find(t, "Article 1").piece_id, _find(t, "Article 2").piece_id
            ),
            "has sub-pieces",
        ),
        (lambda c, t: domain.merge_pieces(c, _find(t, "1.").piece_id, _find(t, "1.").piece_id), "itself"),
        (lambda c, t: domain.split_piece(c, _find(t, "a)").piece_id, offset=0), "not inside"),
        (lambda c, t: domain.split_piece(c, _find(t, "a)").piece_id, offset=999), "not inside"),
        (lambda c, t: domain.split_piece(c, _find(t, "a)").piece_id, paragraph=2), "single paragraph"),
        (lambda c, t: domain.split_piece(c, _find(t, "a)").piece_id), "exactly one"),
        (
            lambda c, t: domain.split_piece(c, _find(t, "Article 1").piece_id, paragraph=9),
            "paragraph 2..3, not 9",
        ),
        (lambda c, t: domain.deprecate_piece(c, t.root.piece_id), "root piece cannot be deprecated"),
        (lambda c, t: domain.restore_piece(c, _find(t, "a)").piece_id), "not deprecated"),
        (lambda c, t: domain.rename_piece(c, _find(t, "a)").piece_id), "needs a new label"),
        (lambda c, t: domain.rename_piece(c, _find(t, "a)").piece_id, heading="two\nlines"), "one line"),
        (lambda c, t: domain.rename_piece(c, _find(t, "a)").piece_id, label="nul\x00"), "one line"),
        (lambda c, t: domain.rename_piece(c, _find(t, "a)").piece_id, heading="\udcff"), "valid UTF-8"),
        (lambda c, t: domain.deprecate_piece(c, uuid.uuid4()), "unknown piece"),
        (
            lambda c, t: domain.apply_operation(c, "explode", piece=t.root.piece_id),
            "unknown structure operation",
        ),
        (
            lambda c, t: domain.apply_operation(c, "move", piece=t.root.piece_id),
            "missing a required argument",
        ),
    ],
)
def test_refused_operations_write_nothing(
    conn: psycopg.Connection[Any], unit: domain.IngestResult, operation: Any, message: str
) -> None:
    tree = _tree(conn)
    before = _counts(conn)
    with pytest.raises((Refused, NotFound), match=message):
        operation(conn, tree)
    assert _counts(conn) == before
    assert _tree(conn) == tree


def test_operation_inside_a_caller_transaction_rolls_back_with_it(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        domain.ingest_document(conn, DOC, code="R")
        conn.commit()
        art2 = _find(domain.get_tree(conn, "R"), "Article 2")
        domain.deprecate_piece(conn, art2.piece_id)
        conn.rollback()
        assert _find(domain.get_tree(conn, "R"), "Article 2").active
        row = conn.execute("SELECT count(*) FROM event_outbox").fetchone()
        assert row == (2,)  # iu_created + the autocut's structure_op_applied


def test_several_operations_in_one_caller_transaction(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        domain.ingest_document(conn, DOC, code="R")
        tree = domain.get_tree(conn, "R")
        art1, art2, art3 = (_find(tree, f"Article {i}") for i in (1, 2, 3))
        domain.move_piece(conn, art3.piece_id, parent=art1.parent_piece_id or art1.piece_id, position=0)
        domain.move_piece(conn, art1.piece_id, parent=art2.parent_piece_id or art2.piece_id, position=2)
        result = domain.deprecate_piece(conn, art2.piece_id)
        conn.commit()
        assert [p.label for p in _tree(conn).children(art1.parent_piece_id)] == ["Article 3", "Article 1"]
        _sound(conn, result)


def test_apply_operation_dispatches_by_name(conn: psycopg.Connection[Any], unit: domain.IngestResult) -> None:
    beta = _find(_tree(conn), "b)")
    result = domain.apply_operation(conn, "rename", piece=str(beta.piece_id)[:8], heading="Beta")
    assert result.operation_type == "rename" and result.pieces == (beta.piece_id,)
    assert _tree(conn).pieces[beta.piece_id].heading == "Beta"
