"""docs/route-filters.md: every command it shows exists with its options, and its commands run in order."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import CliRunner
from tests.support.docs import page_commands

PAGE = Path(__file__).resolve().parents[2] / "docs" / "route-filters.md"


def invocations() -> list[list[str]]:
    return page_commands(PAGE)


def test_the_page_shows_its_commands() -> None:
    # that each exists with its options: tests/unit/test_readme_commands.py, for every page
    assert len(invocations()) >= 10


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
