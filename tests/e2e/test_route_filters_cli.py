"""Route filters and unit tags through the real ``iu-core`` process: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.conftest import CliRunner

ADD = ("route", "add", "laws", "--event-type", "structure_op_applied", "--target-kind", "report",
       "--target-ref", "table")  # fmt: skip
LAW = "Chapter 1\nArticle 1. Scope\nThe law applies.\n"


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.slow
def test_a_filtered_route_from_the_command_line(
    cli: CliRunner, conn: psycopg.Connection[object], tmp_path: Path
) -> None:
    added = cli(*ADD, "--filter", "iu:LAW-* and not tag:draft")
    assert added.returncode == 0, added.stderr
    assert "filter: iu:LAW-* and not tag:draft" in added.stdout
    for code in ("LAW-1", "LAW-2", "REG-1"):
        (tmp_path / f"{code}.txt").write_text(LAW, encoding="utf-8")
    assert cli("ingest", str(tmp_path / "LAW-1.txt"), "--code", "LAW-1").returncode == 0
    assert cli("ingest", str(tmp_path / "LAW-2.txt"), "--code", "LAW-2").returncode == 0
    tagged = cli("units", "tag", "LAW-2", "draft", "--json")
    assert json.loads(tagged.stdout)["tags"] == ["draft"]
    assert cli("ingest", str(tmp_path / "LAW-2.txt"), "--code", "LAW-2", "--replace").returncode == 0
    assert cli("ingest", str(tmp_path / "REG-1.txt"), "--code", "REG-1").returncode == 0
    delivered = conn.execute(
        "SELECT o.payload ->> 'operation_type', u.code FROM iu_delivery d"
        " JOIN event_outbox o ON o.event_id = d.event_id JOIN information_unit u ON u.iu_id = o.aggregate_id"
        " WHERE d.route_code = 'laws' ORDER BY o.event_seq"
    ).fetchall()
    assert delivered == [("autocut", "LAW-1"), ("autocut", "LAW-2")]

    shown = json.loads(cli("route", "show", "laws", "--json").stdout)
    assert shown["filter"] == "iu:LAW-* and not tag:draft"
    assert shown["filter_tree"] == {"and": [{"iu": "LAW-%"}, {"not": {"tag": "draft"}}]}
    text = cli("route", "show", "laws").stdout
    assert "iu:LAW-* and not tag:draft" in text and "filter_tree" not in text

    kept = cli("route", "set", "laws", "--max-attempts", "2", "--json")
    assert json.loads(kept.stdout)["filter"] == "iu:LAW-* and not tag:draft"
    cleared = cli("route", "set", "laws", "--no-filter")
    assert cleared.returncode == 0 and "filter: none" in cleared.stdout
    assert json.loads(cli("route", "show", "laws", "--json").stdout)["filter"] is None

    tags = cli("units", "tags", "LAW-2")
    assert tags.stdout.strip() == "LAW-2: draft (language en)"
    assert cli("units", "untag", "LAW-2", "draft").returncode == 0
    assert json.loads(cli("units", "tags", "LAW-2", "--json").stdout) == {
        "code": "LAW-2", "tags": [], "language": "en"
    }  # fmt: skip


@pytest.mark.slow
def test_bad_filters_and_tags_are_one_line_and_write_nothing(
    cli: CliRunner, conn: psycopg.Connection[object]
) -> None:
    def audit_rows() -> object:
        return conn.execute("SELECT count(*) FROM iu_operator_audit").fetchone()

    before = audit_rows()
    bad = cli(*ADD, "--filter", "iu:LAW-* or (tag:x")
    assert "column 19" in _one_error_line(bad.stderr) and bad.returncode != 0
    assert conn.execute("SELECT count(*) FROM iu_outbound_route WHERE route_code = 'laws'").fetchone() == (0,)
    route = "structure_op_applied.workflow"
    for args in (
        ("--filter", "colour:red"),
        ("--filter", ""),
        ("--filter", "iu:A", "--no-filter"),
        ("--max-attempts", "3", "--filter", "iu:A and"),
    ):
        result = cli("route", "set", route, *args)
        assert result.returncode != 0, args
        _one_error_line(result.stderr)
    assert cli("samples", "seed").returncode == 0
    seeded = audit_rows()
    assert seeded == before
    for args in (
        ("units", "tag", "REG-EN", "no spaces"),
        ("units", "tag", "NOPE", "x"),
        ("units", "untag", "REG-EN"),
    ):
        result = cli(*args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr
    assert audit_rows() == before
    row = conn.execute(
        "SELECT max_attempts, filter_source FROM iu_outbound_route WHERE route_code = %s", (route,)
    )
    assert row.fetchone() == (5, None)
