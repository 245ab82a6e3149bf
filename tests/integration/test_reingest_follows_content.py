"""Re-ingest follows content as well as labels; the CLI, the journal and the report agree on counts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg

from iu_core import domain
from tests.conftest import CliRunner

BEFORE = """Article 1 Scope
(a) alpha applies to every microscope in the laboratory;
(b) beta applies to every centrifuge in the building.
Article 2 Terms
(a) gamma defines the booking window of one week.
"""
AFTER = BEFORE + "(b) delta sets out entirely new fees for late returns.\n"


def piece(conn: psycopg.Connection[Any], text_start: str) -> tuple[str, str, str]:
    row = conn.execute(
        "SELECT p.piece_id::text, p.text, parent.label FROM iu_piece p JOIN iu_piece parent"
        " ON parent.piece_id = p.parent_piece_id WHERE p.status = 'active' AND p.text LIKE %s",
        (text_start + "%",),
    ).fetchone()
    assert row is not None, text_start
    return row[0], row[1], row[2]


def test_a_moved_clause_follows_its_text_instead_of_taking_another_clauses(
    cli: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    domain.ingest_document(conn, BEFORE, code="LAW")
    beta, _, _ = piece(conn, "(b) beta")
    terms, _, _ = piece(conn, "(a) gamma")
    article_2 = conn.execute("SELECT parent_piece_id FROM iu_piece WHERE piece_id = %s", (terms,)).fetchone()
    assert article_2 is not None
    # An operator files clause (b) under Article 2, where the new text has a (b) of its own.
    domain.move_piece(conn, beta, parent=article_2[0])
    source = tmp_path / "law_v2.txt"
    source.write_text(AFTER, encoding="utf-8")
    result = cli("ingest", str(source), "--code", "LAW", "--replace")
    assert result.returncode == 0, result.stderr
    # The clause keeps its text and goes back under Article 1; delta is a new piece.
    same, text, parent = piece(conn, "(b) beta")
    assert same == beta and parent == "Article 1"
    assert text == "(b) beta applies to every centrifuge in the building.\n"
    delta, _, delta_parent = piece(conn, "(b) delta")
    assert delta != beta and delta_parent == "Article 2"
    # One set of figures, wherever they are read.
    printed = re.search(r"(\d+) created, (\d+) changed, (\d+) moved, (\d+) deprecated", result.stdout)
    assert printed is not None, result.stdout
    figures = dict(
        zip(("created", "changed", "moved", "deprecated"), map(int, printed.groups()), strict=True)
    )
    assert figures == {"created": 1, "changed": 0, "moved": 1, "deprecated": 0}
    (journal,) = [o for o in domain.list_operations(conn, "LAW") if o["operation_type"] == "reingest"]
    assert journal["parameters"]["counts"] == figures
    assert len(journal["parameters"]["changed"]) == figures["changed"]
    assert [m["piece_id"] for m in journal["parameters"]["moved"]] == [beta]
    assert cli("report", "build", "--iu", "LAW").returncode == 0
    report = json.loads(cli("report", "show", "LAW", "--json").stdout)
    (entry,) = [h for h in report["history"] if h["operation_type"] == "reingest"]
    assert entry["summary"] == "re-ingested: 1 created, 0 changed, 1 moved, 0 deprecated"


def test_a_rewritten_provision_with_nowhere_else_to_go_is_changed_in_place(
    conn: psycopg.Connection[Any],
) -> None:
    domain.ingest_document(conn, BEFORE, code="LAW")
    gamma, _, _ = piece(conn, "(a) gamma")
    rewritten = BEFORE.replace("gamma defines the booking window of one week.", "zeta: fees are due monthly.")
    result = domain.ingest_document(conn, rewritten, code="LAW", replace=True)
    same, text, _ = piece(conn, "(a) zeta")
    assert same == gamma and text.startswith("(a) zeta")
    assert result.counts == {"created": 0, "changed": 1, "moved": 0, "deprecated": 0}


def test_a_lightly_edited_clause_keeps_its_identity(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, BEFORE, code="LAW")
    alpha, _, _ = piece(conn, "(a) alpha")
    edited = BEFORE.replace("every microscope", "each microscope")
    result = domain.ingest_document(conn, edited, code="LAW", replace=True)
    assert piece(conn, "(a) alpha")[0] == alpha
    assert result.counts == {"created": 0, "changed": 1, "moved": 0, "deprecated": 0}
