"""docs/citations.md: every command it shows exists with its options, and its commands run in order."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import psycopg

from iu_core.cli import cli as root_command
from tests.conftest import CliRunner
from tests.integration.test_citation_store import ACT
from tests.support.vector import require_pgvector

PAGE = Path(__file__).resolve().parents[2] / "docs" / "citations.md"
EXAMPLE_PIECE = "0a1b2c3d"  # the page's stand-in for the piece id of sec_2


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
    assert len(shown) >= 9
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
    require_pgvector(conn)  # the page searches
    (tmp_path / "act.txt").write_text(ACT, encoding="utf-8")
    outputs: dict[str, str] = {}
    for words in invocations():
        if EXAMPLE_PIECE in words:
            shown = json.loads(cli("show", "ACT", "sec_2", "--json").stdout)
            words = [str(shown["piece_id"]) if w == EXAMPLE_PIECE else w for w in words]
        result = cli(*words, cwd=tmp_path)
        assert result.returncode == 0, f"iu-core {shlex.join(words)}: {result.stderr}"
        outputs[" ".join(words)] = result.stdout
    # what the page says the renumbering shows: one event per citing provision
    impacts = [e["payload"] for e in json.loads(outputs["events list --type iu_citation_impacted --json"])]
    assert sorted(p["eid"] for p in impacts) == ["sec_1", "sec_3"]
    three = next(p for p in impacts if p["eid"] == "sec_3")
    first = three["citations"][0]
    assert (first["text"], first["old_eid"], first["new_eid"], first["reason"]) == (
        "section 2",
        "sec_2",
        "sec_5",
        "unresolved",
    )
    page = PAGE.read_text(encoding="utf-8")
    assert f'"start": {first["start"]}, "end": {first["end"]}' in page
    cited = json.loads(outputs["citations ACT --eid sec_3 --json"])
    assert [(c["matched_text"], c["to_eid"]) for c in cited] == [
        ("section 2", "sec_2"),
        ("section 2(1)", "sec_2__subsec_1"),
    ]
    by = json.loads(outputs["cited-by ACT sec_2 --json"])
    assert [(c["from_eid"], c["matched_text"]) for c in by] == [
        ("sec_1", "section 2"),
        ("sec_3", "section 2"),
    ]
    assert outputs["citations ACT"].endswith("4 citation(s)\n")
    assert outputs["citations ACT --unresolved"].endswith("3 citation(s)\n")
    hits = json.loads(outputs["search person breaches offence --iu ACT --json"])["hits"]
    assert any(h["cites"] for h in hits)
    report = json.loads(outputs["report show ACT --format json"])
    assert len(report["citations"]["outgoing"]) == 4
