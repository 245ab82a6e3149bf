"""docs/route-filters.md: every command it shows exists with its options, and its commands run in order."""

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

PAGE = Path(__file__).resolve().parents[2] / "docs" / "route-filters.md"


def invocations() -> list[list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            if line.strip().startswith("iu-core "):
                found.append(shlex.split(line.strip())[1:])
    return found


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def test_every_command_on_the_page_exists_with_its_options() -> None:
    shown = invocations()
    assert len(shown) >= 10
    for words in shown:
        command: click.Command = root_command
        rest = list(words)
        while rest and isinstance(command, click.Group) and rest[0] in command.commands:
            command = command.commands[rest.pop(0)]
        assert not isinstance(command, click.Group), words
        for word in rest:
            if word.startswith("--"):
                assert word in _options(command), f"{words}: no option {word}"


def test_the_page_runs_as_written(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    outputs = {}
    for words in invocations():
        result = cli(*words)
        assert result.returncode == 0, f"iu-core {shlex.join(words)}: {result.stderr}"
        outputs[shlex.join(words)] = result.stdout
    # What the page says happened: the filter was set, kept, shown and removed.
    shown = json.loads(outputs["route show labour-report --json"])
    assert shown["filter"] == "iu:REG-* or lang:vi" and shown["max_attempts"] == 3
    assert shown["filter_tree"] == {"or": [{"iu": "REG-%"}, {"lang": "vi"}]}
    assert "tag:labour and not op:deprecate" in outputs["route show labour-report"]
    assert "REG-EN: labour (language en)" in outputs["units tags REG-EN"]
    # Backfill by the current filter: every seeded REG-EN and QC-VI event (the sample is Vietnamese).
    queued = conn.execute("SELECT count(*) FROM iu_delivery WHERE route_code = 'labour-report'").fetchone()
    total = conn.execute(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'structure_op_applied'"
    ).fetchone()
    assert queued == total and queued is not None and queued[0] > 0
    row = conn.execute(
        "SELECT filter_source FROM iu_outbound_route WHERE route_code = 'labour-report'"
    ).fetchone()
    assert row == (None,)


def test_the_bad_filter_shown_is_refused_as_shown(cli: CliRunner) -> None:
    text = PAGE.read_text(encoding="utf-8")
    (example,) = re.findall(r"```text\n\$ iu-core (.*?)\n(error: .*?)\n```", text, flags=re.DOTALL)
    assert cli("samples", "seed").returncode == 0
    assert (
        cli(
            *shlex.split(
                "route add labour-report --event-type structure_op_applied"
                " --target-kind report --target-ref table"
            )
        ).returncode
        == 0
    )
    result = cli(*shlex.split(example[0]))
    assert result.returncode != 0
    assert result.stderr.strip() == example[1]
