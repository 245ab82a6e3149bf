"""docs/provisions.md: every command it shows exists with its options, and its commands run in order."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path
from typing import Any

import click
import psycopg

from iu_core.cli import cli as root_command
from tests.conftest import CliRunner

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
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            if line.strip().startswith("iu-core "):
                found.append(shlex.split(line.strip())[1:])
    return found


def options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def test_every_command_on_the_page_exists_with_its_options() -> None:
    shown = invocations()
    assert len(shown) >= 12
    for words in shown:
        command: click.Command = root_command
        rest = list(words)
        while rest and isinstance(command, click.Group) and rest[0] in command.commands:
            command = command.commands[rest.pop(0)]
        assert not isinstance(command, click.Group), words
        for word in rest:
            if word.startswith("--"):
                assert word in options(command), f"{words}: no option {word}"


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
