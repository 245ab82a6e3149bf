"""Property: ``--as-of`` gives back, exactly, the tree as it stood after every operation.

Random sequences of operations run against a unit, each in its own
transaction; the tree is snapshotted after each (active pieces with their
order, labels, headings, text and eids, plus the deprecated pieces). Then
the tree at each operation's time, and at the instant just before the next
one, is rebuilt from the structure history and compared with the snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iu_core import domain
from iu_core.domain.eid import piece_eids
from iu_core.domain.model import Tree
from iu_core.domain.provisions import tree_at
from iu_core.errors import NotFound
from tests.conftest import CliRunner
from tests.integration.test_domain_properties import OPERATIONS, SMALL, _candidates

LAW = "Chapter I General\nArticle 1 Scope\n1. One.\n(a) alpha;\n(b) beta.\n2. Two.\nArticle 2 Terms\nText.\n"
LABELS = ("Article 9", "Article 1", "(c)", "2.", "Điều 4", "")

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The long run: 1,000 random sequences in CI (minutes); IU_CORE_AS_OF_EXAMPLES=2000 for a longer one.
SLOW = settings(FAST, max_examples=int(os.environ.get("IU_CORE_AS_OF_EXAMPLES", "1000")))


def snapshot(tree: Tree) -> tuple[dict[str, Any], dict[str, Any]]:
    """The active tree (nested, in order) and the deprecated pieces."""
    eids = piece_eids(tree)
    active = domain.tree_as_dict(tree, include_deprecated=False)
    gone = {
        str(p.piece_id): (p.label, p.heading, p.text, eids.get(p.piece_id))
        for p in tree.pieces.values()
        if not p.active
    }
    return active, gone


def address(tree: Tree, piece_id: uuid.UUID) -> tuple[Any, ...]:
    """Where a piece stands (positions from the root, then its content): the same on every run."""
    chain = [piece_id, *tree.ancestors(piece_id)]
    piece = tree.pieces[piece_id]
    return (tuple(tree.pieces[p].position for p in reversed(chain)), piece.status, piece.text, piece.label)


def candidates(conn: psycopg.Connection[Any], tree: Tree, kind: str) -> list[dict[str, Any]]:
    """The valid requests in an order that does not depend on random piece ids.

    Hypothesis replays a sequence of draws and expects the same choices back;
    piece ids differ on every run, so the options are sorted by where the
    pieces stand.
    """

    def key(option: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(address(tree, v) if isinstance(v, uuid.UUID) else (v,) for v in option.values())

    return sorted(_candidates(conn, tree, kind), key=key)


def apply_one(conn: psycopg.Connection[Any], data: st.DataObject, tree: Tree) -> None:
    kind = data.draw(st.sampled_from(OPERATIONS), label="operation")
    options = candidates(conn, tree, kind)
    if not options:
        kind, options = "rename", candidates(conn, tree, "rename")
    choice = data.draw(st.sampled_from(options), label=kind)
    event(kind)
    if kind == "split":
        domain.split_piece(conn, choice["piece"], offset=data.draw(st.integers(1, choice["max"])))
    elif kind == "merge":
        domain.merge_pieces(conn, choice["first"], choice["second"])
    elif kind == "move":
        position = data.draw(st.none() | st.integers(0, choice["n"]), label="position")
        domain.move_piece(conn, choice["piece"], parent=choice["parent"], position=position)
    elif kind == "rename":
        label = data.draw(st.none() | st.sampled_from(LABELS), label="label")
        heading = data.draw(st.text("abc đ", max_size=6), label="heading")
        domain.rename_piece(conn, choice["piece"], label=label, heading=heading)
    else:
        domain.apply_operation(conn, kind, piece=choice["piece"])


def applied_at(conn: psycopg.Connection[Any], iu_id: uuid.UUID) -> dt.datetime:
    row = conn.execute(
        "SELECT max(applied_at) FROM iu_structure_operation WHERE iu_id = %s", (iu_id,)
    ).fetchone()
    assert row is not None
    moment: dt.datetime = row[0]
    return moment


def run_sequence(conn: psycopg.Connection[Any], data: st.DataObject, source: str, max_steps: int) -> None:
    code = f"A-{uuid.uuid4().hex[:10]}"
    unit = domain.ingest_document(conn, source, code=code).unit
    shots = [(applied_at(conn, unit.iu_id), snapshot(domain.get_tree(conn, code)))]
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        apply_one(conn, data, domain.get_tree(conn, code))
        shots.append((applied_at(conn, unit.iu_id), snapshot(domain.get_tree(conn, code))))
    for i, (moment, shot) in enumerate(shots):
        assert snapshot(tree_at(conn, code, moment)) == shot
        if i + 1 < len(shots):  # just before the next operation: still this tree
            assert snapshot(tree_at(conn, code, shots[i + 1][0] - dt.timedelta(microseconds=1))) == shot
    with pytest.raises(NotFound):
        tree_at(conn, code, shots[0][0] - dt.timedelta(microseconds=1))


@FAST
@given(data=st.data(), source=st.sampled_from([LAW, SMALL]))
def test_as_of_gives_back_every_snapshot(
    conn: psycopg.Connection[Any], data: st.DataObject, source: str
) -> None:
    run_sequence(conn, data, source, max_steps=6)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@SLOW
@given(data=st.data(), source=st.sampled_from([LAW, SMALL, *domain.SAMPLES]))
def test_as_of_gives_back_every_snapshot_over_many_sequences(
    conn: psycopg.Connection[Any], data: st.DataObject, source: str
) -> None:
    text = source if source in (LAW, SMALL) else domain.sample_path(source).read_text(encoding="utf-8")
    run_sequence(conn, data, text, max_steps=15)


def test_tree_show_and_report_as_of_on_the_command_line(
    cli: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    unit = domain.ingest_document(conn, LAW, code="LAW").unit
    before = applied_at(conn, unit.iu_id)
    article = conn.execute("SELECT piece_id FROM iu_piece WHERE label = 'Article 2'").fetchone()
    assert article is not None
    domain.rename_piece(conn, article[0], label="Article 7")
    stamp = before.isoformat()
    old = json.loads(cli("tree", "LAW", "--as-of", stamp, "--json").stdout)
    assert [c["eid"] for c in old["root"]["children"][0]["children"]] == ["chp_I__art_1", "chp_I__art_2"]
    now = json.loads(cli("tree", "LAW", "--json").stdout)
    assert [c["eid"] for c in now["root"]["children"][0]["children"]] == ["chp_I__art_1", "chp_I__art_7"]
    zulu = before.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert "Article 2" in cli("show", "LAW", "chp_I__art_2", "--as-of", zulu).stdout
    assert cli("show", "LAW", "chp_I__art_2").returncode != 0
    report = json.loads(cli("report", "show", "LAW", "--as-of", stamp, "--json").stdout)
    assert "chp_I__art_2" in {e["eid"] for e in report["outline"]}
    assert report["counts"]["operations"] == 1
    early = cli("tree", "LAW", "--as-of", "2000-01-01")
    assert early.returncode != 0 and "no recorded tree" in early.stderr
    bad = cli("tree", "LAW", "--as-of", "yesterday")
    assert bad.returncode != 0 and "ISO 8601" in bad.stderr


def test_as_of_follows_the_order_operations_were_applied_in(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    """A transaction that started first but applied second is dated when it applied."""
    unit = domain.ingest_document(conn, LAW, code="LAW").unit
    ids = {r[1]: r[0] for r in conn.execute("SELECT piece_id, label FROM iu_piece WHERE label <> ''")}
    with psycopg.connect(database_url) as early:
        early.execute("SELECT now()")  # its transaction starts here
        domain.rename_piece(conn, ids["Article 2"], heading="Words")  # applied first, by another session
        first = applied_at(conn, unit.iu_id)
        shot = snapshot(domain.get_tree(conn, "LAW"))
        domain.rename_piece(early, ids["Article 1"], heading="Reach")  # applied second
        early.commit()
    assert applied_at(conn, unit.iu_id) > first
    assert snapshot(tree_at(conn, "LAW", first)) == shot
    assert snapshot(tree_at(conn, "LAW", applied_at(conn, unit.iu_id))) == snapshot(
        domain.get_tree(conn, "LAW")
    )
