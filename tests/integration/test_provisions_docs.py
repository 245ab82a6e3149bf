"""docs/provisions.md: every command it shows exists with its options, and its commands run in order."""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import CliRunner
from tests.support.docs import page_commands

PAGE = Path(__file__).resolve().parents[2] / "docs" / "provisions.md"
EXAMPLE_TIME = "2026-12-07T11:09:15Z"
LAW = """Chapter I General
Article 1 Scope
1. This law applies to shared equipment.
(a) microscopes;
(b) centrifuges.
Article 2 Terms
A booking lasts one week.
"""


def invocations() -> list[list[str]]:
    return page_commands(PAGE)


def test_the_page_shows_its_commands() -> None:
    # that each exists with its options: tests/unit/test_readme_commands.py, for every page
    assert len(invocations()) >= 12


def test_the_page_runs_as_written(cli: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path) -> None:
    (tmp_path / "law.txt").write_text(LAW, encoding="utf-8")
    (tmp_path / "law_v2.txt").write_text(LAW.replace("one week", "two weeks"), encoding="utf-8")
    moment = None
    for words in invocations():
        if moment is None and words[:1] != ["ingest"]:
            row = conn.execute("SELECT max(applied_at) FROM iu_structure_operation").fetchone()
            assert row is not None and row[0] is not None
            moment = row[0].astimezone(dt.UTC) + dt.timedelta(seconds=1)
        args = [
            moment.isoformat().replace("+00:00", "Z") if w == EXAMPLE_TIME and moment else w for w in words
        ]
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, f"iu-core {shlex.join(args)}: {result.stderr}"
    assert (tmp_path / "law.akn.xml").read_bytes().startswith(b"<?xml")
