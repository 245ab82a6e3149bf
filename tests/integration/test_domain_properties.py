"""Property: random valid operation sequences keep the tree and its events consistent.

After every operation: the tree invariants hold (one root, no cycle, active
siblings numbered 0..n-1), the IU has exactly one ``structure_op_applied`` per
operation and one ``structure_piece_deprecated`` per piece each operation
deprecated, every payload carries exactly the contract keys and matches the
rows written, and split, merge and rename leave the document's text as it was.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iu_core import domain
from iu_core.domain.model import Piece, Tree
from tests.support.documents import documents

settings.register_profile(
    "domain-db",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DB = settings.get_profile("domain-db")

SMALL = "# S\n\nintro\n\npara two\n\n1. one\n2. two\na) x\nb) y\n3. three\n"
OPERATIONS = ("split", "merge", "move", "rename", "deprecate", "restore")


def _active(tree: Tree) -> list[Piece]:
    return [p for _, p in tree.walk()]


def _candidates(conn: psycopg.Connection[Any], tree: Tree, kind: str) -> list[dict[str, Any]]:
    """Every valid request of this kind against the current tree."""
    active = _active(tree)
    non_root = [p for p in active if p.parent_piece_id is not None]
    if kind == "split":
        return [
            {"piece": p.piece_id, "max": len(p.text) - 1}
            for p in active
            if p.parent_piece_id is not None and len(p.text) >= 2
        ]
    if kind == "merge":
        out = []
        for p in active:
            kids = tree.children(p.piece_id)
            out += [
                {"first": a.piece_id, "second": b.piece_id}
                for a, b in itertools.pairwise(kids)
                if not tree.children(a.piece_id)
            ]
        return out
    if kind == "move":
        out = []
        for p in non_root:
            inside = {s.piece_id for s in tree.subtree(p.piece_id)}
            for target in active:
                if target.piece_id not in inside:
                    n = len([k for k in tree.children(target.piece_id) if k.piece_id != p.piece_id])
                    out.append({"piece": p.piece_id, "parent": target.piece_id, "n": n})
        return out
    if kind == "rename":
        return [{"piece": p.piece_id} for p in active]
    if kind == "deprecate":
        return [{"piece": p.piece_id} for p in non_root]
    merged = {
        row[0]
        for row in conn.execute(
            "SELECT p.piece_id FROM iu_piece p"
            " JOIN iu_structure_operation o ON o.operation_id = p.deprecated_by"
            " WHERE p.iu_id = %s AND o.operation_type = 'merge'",
            (tree.root.iu_id,),
        )
    }
    return [
        {"piece": p.piece_id}
        for p in tree.pieces.values()
        if not p.active
        and p.parent_piece_id is not None
        and tree.pieces[p.parent_piece_id].active
        and p.piece_id not in merged
    ]


def _apply(conn: psycopg.Connection[Any], data: st.DataObject, tree: Tree) -> domain.OperationResult:
    kind = data.draw(st.sampled_from(OPERATIONS), label="operation")
    options = _candidates(conn, tree, kind)
    if not options:
        kind, options = "rename", _candidates(conn, tree, "rename")
    choice = data.draw(st.sampled_from(options), label=kind)
    event(kind)
    if kind == "split":
        offset = data.draw(st.integers(1, choice["max"]), label="offset")
        return domain.split_piece(conn, choice["piece"], offset=offset)
    if kind == "merge":
        return domain.merge_pieces(conn, choice["first"], choice["second"])
    if kind == "move":
        position = data.draw(st.none() | st.integers(0, choice["n"]), label="position")
        return domain.move_piece(conn, choice["piece"], parent=choice["parent"], position=position)
    if kind == "rename":
        heading = data.draw(
            st.text(st.characters(exclude_characters="\x00\r\n", exclude_categories=("Cs",)), max_size=12),
            label="heading",
        )
        return domain.rename_piece(conn, choice["piece"], heading=heading)
    return domain.apply_operation(conn, kind, piece=choice["piece"])


def _count(conn: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = conn.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


@DB
@given(text=documents.filter(lambda t: t.strip() != ""))
def test_ingest_of_generated_documents_is_lossless(conn: psycopg.Connection[Any], text: str) -> None:
    result = domain.ingest_document(conn, text, code=f"G-{uuid.uuid4().hex[:10]}")
    assert domain.get_tree(conn, result.unit.code).text() == text  # stored pieces, read back in tree order
    assert domain.tree_problems(conn, result.unit.code) == []
    assert domain.unit_event_problems(conn, result.unit.iu_id) == []


@pytest.mark.slow
@DB
@given(data=st.data(), source=st.sampled_from([SMALL, *domain.SAMPLES]))
def test_random_operation_sequences_keep_tree_and_events_consistent(
    conn: psycopg.Connection[Any], data: st.DataObject, source: str
) -> None:
    text = source if source == SMALL else domain.sample_path(source)
    unit = domain.ingest_document(conn, text, code=f"P-{uuid.uuid4().hex[:10]}").unit
    deprecated_total = 0
    steps = data.draw(st.integers(1, 8), label="steps")
    for step in range(steps):
        before = domain.get_tree(conn, unit.code)
        result = _apply(conn, data, before)
        after = domain.get_tree(conn, unit.code)
        assert domain.tree_problems(conn, unit.code) == []
        assert domain.unit_event_problems(conn, unit.iu_id) == []
        assert domain.operation_problems(conn, result.operation_id) == []
        if result.operation_type in ("split", "merge", "rename"):
            assert after.text() == before.text()
        if result.operation_type == "deprecate":
            assert set(result.deprecated) == {p.piece_id for p in before.subtree(result.pieces[0])}
        deprecated_total += len(result.deprecated)
        assert (
            _count(
                conn,
                "SELECT count(*) FROM event_outbox"
                " WHERE aggregate_id = %s AND event_type = 'structure_op_applied'",
                unit.iu_id,
            )
            == step + 2
        )  # + the autocut
        assert (
            _count(
                conn,
                "SELECT count(*) FROM event_outbox"
                " WHERE aggregate_id = %s AND event_type = 'structure_piece_deprecated'",
                unit.iu_id,
            )
            == deprecated_total
        )
