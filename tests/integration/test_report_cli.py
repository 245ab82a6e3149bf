"""``iu-core report show | build | list`` against a real database (the CLI in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from iu_core.domain import build_demo_corpus
from tests.support.cli import invoke
from tests.support.report import report_row


def _seed(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        build_demo_corpus(conn, actor="demo")


def test_build_then_show_in_every_format(database_url: str) -> None:
    _seed(database_url)
    built = invoke(database_url, "report", "build", "--json")
    assert built.returncode == 0, built.stderr
    reports = json.loads(built.stdout)["reports"]
    assert sorted(r["code"] for r in reports) == ["QC-VI", "REG-EN"]
    assert all(r["row_written"] for r in reports)
    md = invoke(database_url, "report", "show", "REG-EN")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# REG-EN — ")
    assert "## Outline" in md.stdout and "## History" in md.stdout
    html = invoke(database_url, "report", "show", "REG-EN", "--format", "html")
    assert html.stdout.startswith("<!DOCTYPE html>") and "<script" not in html.stdout
    doc = json.loads(invoke(database_url, "report", "show", "QC-VI", "--format", "json").stdout)
    assert doc["unit"]["code"] == "QC-VI"
    assert doc["relations"]["outgoing"][0]["code"] == "REG-EN"
    assert json.loads(invoke(database_url, "report", "show", "QC-VI", "--json").stdout) == doc


def test_a_second_build_writes_nothing(database_url: str) -> None:
    _seed(database_url)
    invoke(database_url, "report", "build")
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = report_row(conn, "REG-EN")
    again = invoke(database_url, "report", "build", "--iu", "REG-EN")
    assert again.returncode == 0, again.stderr
    assert "1 report(s): 0 written, 1 already current" in again.stdout
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert report_row(conn, "REG-EN") == before


def test_build_into_a_directory_and_through_a_route(database_url: str, tmp_path: Path) -> None:
    _seed(database_url)
    out = tmp_path / "reports"
    out.mkdir()
    built = invoke(database_url, "report", "build", "--dir", str(out))
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in out.iterdir()) == ["QC-VI.html", "QC-VI.md", "REG-EN.html", "REG-EN.md"]
    other = tmp_path / "other"
    other.mkdir()
    added = invoke(
        database_url, "route", "add", "report.files", "--event-type", "structure_op_applied",
        "--target-kind", "report", "--target-ref", f"dir:{other}",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    routed = invoke(database_url, "report", "build", "--route", "report.files", "--iu", "QC-VI")
    assert routed.returncode == 0, routed.stderr
    assert sorted(p.name for p in other.iterdir()) == ["QC-VI.html", "QC-VI.md"]


def test_list_shows_what_each_report_reflects(database_url: str) -> None:
    _seed(database_url)
    invoke(database_url, "report", "build", "--iu", "QC-VI")
    rows: list[dict[str, Any]] = json.loads(invoke(database_url, "report", "list", "--json").stdout)
    by_code = {r["code"]: r for r in rows}
    assert by_code["QC-VI"]["event_seq"] == by_code["QC-VI"]["latest_event_seq"]
    assert by_code["REG-EN"]["event_seq"] is None


def test_mistakes_are_one_line_errors(database_url: str, tmp_path: Path) -> None:
    _seed(database_url)
    cases = [
        (["report", "show", "NOPE"], "unknown information unit 'NOPE'"),
        (["report", "show", "REG-EN"], "no report for 'REG-EN' yet"),
        (["report", "build", "--iu", "NOPE"], "unknown information unit 'NOPE'"),
        (["report", "build", "--route", "nope"], "unknown route 'nope'"),
        (["report", "build", "--route", "structure_op_applied.workflow"], "not to report"),
        (["report", "build", "--dir", str(tmp_path / "missing")], "does not exist"),
        (["report", "build", "--dir", str(tmp_path), "--route", "x"], "not both"),
    ]
    for args, message in cases:
        result = invoke(database_url, *args)
        assert result.returncode == 1, (args, result.stdout)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
