"""What the domain commands refuse, and how: IU codes, merge order, splitting the root."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.errors import IuCoreError, Refused
from tests.conftest import CliRunner

DOC = (
    "# Rules\n\nPreamble.\n\n## Article 1. Scope\n\nOne.\n\n"
    "## Article 2. Terms\n\nTwo.\n\n## Article 3. End\n\nBye.\n"
)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("REG\u202eNE", "'\\u202e' at position 4"),  # right-to-left override
        ("two words", "' ' at position 4"),
        ("", "is empty"),
        ("x" * 65, "65 characters long"),
        ("tab\there", "'\\t' at position 4"),
        ("Điều", "'\\u0110' at position 1"),
    ],
)
def test_ingest_refuses_a_code_outside_the_alphabet(
    cli: CliRunner, tmp_path: Path, code: str, said: str
) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(DOC, encoding="utf-8")
    result = cli("ingest", str(doc), "--code", code)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: IU code ") and said in result.stderr
    assert "Traceback" not in result.stderr and "\u202e" not in result.stderr
    assert cli("units", "list", "--json").stdout.strip() in ("[]", "")  # nothing written


def test_ingest_accepts_every_character_of_the_alphabet(conn: psycopg.Connection[Any]) -> None:
    code = "Az09._:-" + "x" * 56  # 64 characters
    assert domain.ingest_document(conn, DOC, code=code).unit.code == code
    with pytest.raises(IuCoreError, match="IU code"):
        domain.ingest_document(conn, DOC, code=" padded ")


def _journal(conn: psycopg.Connection[Any], operation_id: uuid.UUID) -> dict[str, Any]:
    row = conn.execute(
        "SELECT parameters FROM iu_structure_operation WHERE operation_id = %s", (operation_id,)
    ).fetchone()
    assert row is not None
    params: dict[str, Any] = row[0]
    return params


def _labels(conn: psycopg.Connection[Any], code: str) -> dict[str, str]:
    tree = domain.get_tree(conn, code)
    return {str(p.piece_id): p.label for p in tree.pieces.values()}


@pytest.mark.parametrize("reverse", [False, True])
def test_merge_in_either_order_is_the_same_merge(conn: psycopg.Connection[Any], reverse: bool) -> None:
    code = f"M-{int(reverse)}"
    domain.ingest_document(conn, DOC, code=code)
    tree = domain.get_tree(conn, code)
    one = next(p for p in tree.pieces.values() if p.label == "Article 1")
    two = next(p for p in tree.pieces.values() if p.label == "Article 2")
    first, second = (two, one) if reverse else (one, two)
    result = domain.merge_pieces(conn, first.piece_id, second.piece_id)
    after = domain.get_tree(conn, code)
    assert result.deprecated == (two.piece_id,)
    assert after.pieces[one.piece_id].text == one.text + two.text
    assert after.text() == DOC
    journal = _journal(conn, result.operation_id)
    names = _labels(conn, code)
    # The journal names the earlier piece first, whatever order the command was given.
    assert (names[journal["piece_id"]], names[journal["second"]]) == ("Article 1", "Article 2")
    assert (names[journal["into"]], names[journal["merged"]]) == ("Article 1", "Article 2")


def test_merge_of_non_adjacent_pieces_is_refused_in_either_order(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, DOC, code="N")
    tree = domain.get_tree(conn, "N")
    one = next(p for p in tree.pieces.values() if p.label == "Article 1")
    three = next(p for p in tree.pieces.values() if p.label == "Article 3")
    for a, b in ((one, three), (three, one)):
        with pytest.raises(
            Refused, match=f"{str(one.piece_id)[:8]} and {str(three.piece_id)[:8]} are not adjacent"
        ):
            domain.merge_pieces(conn, a.piece_id, b.piece_id)


def test_cli_merge_reverse_order_and_split_root(cli: CliRunner, tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("Preamble line one.\n\nPreamble line two.\n\n" + DOC, encoding="utf-8")
    assert cli("ingest", str(doc), "--code", "C").returncode == 0
    tree = json.loads(cli("tree", "C", "--json").stdout)
    root_id = tree["root"]["piece_id"]
    split = cli("op", "split", root_id, "--paragraph", "2")
    assert split.returncode == 1
    assert split.stderr.startswith("error: piece ") and "is the root" in split.stderr
    assert "cannot be split" in split.stderr and "Traceback" not in split.stderr

    rules = tree["root"]["children"][0]
    one, two = rules["children"][0]["piece_id"], rules["children"][1]["piece_id"]
    merged = cli("op", "merge", two, one, "--json")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["deprecated"] == [two]
    assert "either order" in cli("op", "merge", "--help").stdout
    assert "root piece" in cli("op", "split", "--help").stdout


def test_readme_example_of_a_refused_code(cli: CliRunner) -> None:
    result = cli("ingest", "sample:regulation_en.md", "--code", "REG EN")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: IU code 'REG EN' holds ' ' at position 4: use 1-64 characters of A-Z a-z 0-9 . _ : -"
    )
