"""The stories of README and the docs pages run as written, command by command, against a real database."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import CliRunner

ROOT = Path(__file__).parents[2]


def _block_after(marker: str, page: str) -> list[list[str]]:
    text = (ROOT / page).read_text(encoding="utf-8")
    start = text.index(marker)
    block = re.search(r"```sh\n(.*?)```", text[start:], flags=re.DOTALL)
    assert block, marker
    commands = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith("iu-core "):
            commands.append(shlex.split(line)[1:])
    return commands


@pytest.mark.slow
@pytest.mark.timeout(300)  # a worker run and a few commands, each allowed 120 s of its own
def test_going_live_the_way_an_operator_does_it(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    assert cli("samples", "seed").returncode == 0  # "with the demo's data"
    story = _block_after("**Going live, the way an operator does it**", "docs/worker.md")
    assert story[0] == ["worker", "--once"] and story[-1] == ["status"]
    for args in story:
        result = cli(*args, timeout=120)
        assert result.returncode == 0, (args, result.stderr)
    # Every structure_op_applied event reached the projection, through the worker.
    (events,) = conn.execute(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'structure_op_applied'"
    ).fetchone() or (0,)
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == (events,)
    status = json.loads(cli("status", "--json").stdout)
    (route,) = [r for r in status["routes"] if r["route_code"] == "structure_op_applied.workflow"]
    assert route["mode"] == "live" and route["backlog"] == 0 and route["dead_letters"] == 0


@pytest.mark.slow
def test_the_tour_after_the_quick_start(cli: CliRunner) -> None:
    """README's tour: every command runs on the demo's data and shows it."""
    assert cli("samples", "seed").returncode == 0  # the demo's documents and operations
    tour = _block_after("## A tour on one screen", "README.md")
    assert [args[0] for args in tour] == ["status", "units", "tree", "events", "route", "audit"]
    outputs = {}
    for args in tour:
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        outputs[args[0]] = result.stdout
    assert "REG-EN" in outputs["units"] and "QC-VI" in outputs["units"]
    assert "structure_op_applied" in outputs["events"]
    assert "delivery gate" in outputs["status"]
