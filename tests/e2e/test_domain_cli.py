"""The domain commands through the real ``iu-core`` CLI: the story a user follows, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import domain
from tests.conftest import CliRunner


def _snapshot(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM information_unit), (SELECT count(*) FROM event_outbox),
                  (SELECT count(*) FROM iu_structure_operation), (SELECT count(*) FROM iu_relation),
                  (SELECT md5(coalesce(string_agg(piece_id::text || status || position || text, ','
                                                  ORDER BY piece_id), '')) FROM iu_piece)"""
    ).fetchone()
    assert row is not None
    return tuple(row)


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_new_user_story_ingest_tree_operate_events(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    out = _ok(cli("ingest", "sample:regulation_en.md", "--code", "REG-EN")).stdout
    assert "ingested REG-EN" in out and "24 pieces" in out
    vi_path = str(domain.sample_path("quy_che_vi.md"))
    _ok(cli("ingest", vi_path, "--code", "QC-VI", "--title", "Quy chế thư viện"))
    units = json.loads(_ok(cli("units", "list", "--json")).stdout)
    assert [(u["code"], u["active_pieces"]) for u in units] == [("QC-VI", 24), ("REG-EN", 24)]
    assert units[0]["title"] == "Quy chế thư viện"

    tree = json.loads(_ok(cli("tree", "REG-EN", "--json")).stdout)
    chapters = tree["root"]["children"][0]["children"]  # under the "# Regulation …" heading
    assert [c["label"] for c in chapters] == ["Chapter I", "Chapter II", "Chapter III"]
    art5 = chapters[1]["children"][2]
    assert art5["label"] == "Article 5"

    split = json.loads(_ok(cli("op", "split", art5["piece_id"][:8], "--paragraph", "3", "--json")).stdout)
    new_piece = split["created"][0]
    _ok(cli("op", "rename", new_piece, "--heading", "Damage"))
    _ok(cli("op", "move", new_piece, "--parent", chapters[2]["piece_id"], "--position", "0"))
    _ok(cli("op", "merge", chapters[2]["children"][0]["piece_id"], new_piece))  # Article 6 was pushed to 1
    dep = json.loads(
        _ok(cli("op", "deprecate", chapters[0]["piece_id"], "--json", "--actor", "alice")).stdout
    )
    assert len(dep["deprecated"]) == 8  # the chapter, 2 articles, 2 clauses, 3 points
    _ok(cli("op", "restore", chapters[0]["piece_id"], env={"IU_CORE_ACTOR": "bob"}))
    _ok(cli("relate", "QC-VI", "cites", "REG-EN"))

    args = ("events", "list", "--iu", "REG-EN", "--type", "structure_piece_deprecated", "--json")
    deprecated = json.loads(_ok(cli(*args)).stdout)
    assert len(deprecated) == 9  # the merged piece + the chapter's 8
    assert {e["payload"]["operation_type"] for e in deprecated} == {"merge", "deprecate"}
    table = _ok(cli("events", "list", "--limit", "3")).stdout
    assert "iu_relation_added" in table and "structure_op_applied" in table
    ops = json.loads(_ok(cli("op", "list", "--iu", "REG-EN", "--json")).stdout)
    assert [o["operation_type"] for o in ops] == [
        "autocut", "split", "rename", "move", "merge", "deprecate", "restore"
    ]  # fmt: skip
    assert [o["actor"] for o in ops][-2:] == ["alice", "bob"]
    shown = _ok(cli("tree", "REG-EN")).stdout
    assert "Article 5" in shown and "Booking and use" in shown
    assert "deprecated" in shown  # the merged piece stays visible, marked
    iu_id = next(u["iu_id"] for u in units if u["code"] == "REG-EN")
    assert domain.unit_event_problems(conn, iu_id) == []
    assert domain.tree_problems(conn, "REG-EN") == []


@pytest.mark.slow
def test_reingest_through_cli(cli: CliRunner, tmp_path: Path) -> None:
    _ok(cli("ingest", "sample:regulation_en.md", "--code", "REG"))
    refused = cli("ingest", "sample:regulation_en_v2.md", "--code", "REG")
    assert refused.returncode == 1 and "use --replace" in refused.stderr
    out = _ok(cli("ingest", "sample:regulation_en_v2.md", "--code", "REG", "--replace")).stdout
    assert "2 created, 6 changed, 0 moved, 1 deprecated" in out, out
    again = _ok(cli("ingest", "sample:regulation_en_v2.md", "--code", "REG", "--replace")).stdout
    assert "unchanged" in again


def _piece(conn: psycopg.Connection[Any], label: str) -> str:
    tree = domain.get_tree(conn, "R")
    return str(next(p.piece_id for p in tree.pieces.values() if p.label == label))


DOC = "# R\n\n## Article 1. A\n\n1. one\n2. two\n\n## Article 2. B\n\ntext\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (lambda c, d: ["tree", "NOPE"], "unknown information unit 'NOPE'"),
        (lambda c, d: ["op", "deprecate", "0000aaaa"], "unknown piece '0000aaaa'"),
        (lambda c, d: ["op", "move", _piece(c, "Article 1"), "--parent", _piece(c, "2.")], "own subtree"),
        (lambda c, d: ["op", "merge", _piece(c, "1."), _piece(c, "Article 2")], "not siblings"),
        (lambda c, d: ["op", "split", _piece(c, "1."), "--offset", "500"], "not inside"),
        (lambda c, d: ["op", "rename", _piece(c, "Article 9"), "--heading", "x"], "is deprecated"),
        (lambda c, d: ["ingest", str(d / "latin1.md"), "--code", "L"], "is not UTF-8"),
        (lambda c, d: ["ingest", str(d / "empty.md"), "--code", "E"], "is empty"),
        (lambda c, d: ["ingest", str(d / "missing.md"), "--code", "M"], "cannot read"),
        (lambda c, d: ["ingest", str(d / "ok.md"), "--code", "R"], "already exists"),
        (lambda c, d: ["relate", "R", "cites", "NOPE"], "unknown information unit 'NOPE'"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_non_zero_and_writes_nothing(
    cli: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path, args: Any, message: str
) -> None:
    domain.ingest_document(conn, DOC + "\n## Article 9. Old\n", code="R")
    domain.deprecate_piece(conn, _piece(conn, "Article 9"))
    (tmp_path / "latin1.md").write_bytes("Điều 1. Phạm vi\n".encode("cp1258", errors="replace") + b"\xff\n")
    (tmp_path / "empty.md").write_bytes(b"\n \n")
    (tmp_path / "ok.md").write_text(DOC, encoding="utf-8")
    before = _snapshot(conn)
    result = cli(*args(conn, tmp_path))
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]
    assert _snapshot(conn) == before


def test_samples_seed_through_cli(cli: CliRunner) -> None:
    first = cli("samples", "seed", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"seeded": True, "operations": 20, "structure_events": 56}
    second = cli("samples", "seed")
    assert second.returncode == 0 and "nothing written" in second.stdout
