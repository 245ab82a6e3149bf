"""docs/audit.md as a user follows it: every `iu-core` line of its shell blocks runs, in order."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.support.docs import page_commands

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
Runner = Callable[..., subprocess.CompletedProcess[str]]


def _commands() -> list[list[str]]:
    return page_commands(DOC)


def test_every_command_of_the_page_runs(cli: Runner, conn: psycopg.Connection[Any]) -> None:
    commands = _commands()
    assert len(commands) >= 9
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts)"
        " SELECT 'structure_op_applied.workflow', gen_random_uuid(), 'HTTP 500', 5 FROM generate_series(1, 3)"
    )
    for args in commands:
        result = cli(*args)
        assert result.returncode == 0, f"iu-core {shlex.join(args)}: {result.stdout}{result.stderr}"
    rows = conn.execute(
        "SELECT actor, object_type, action FROM iu_operator_audit ORDER BY audit_id"
    ).fetchall()
    assert rows[0] == ("alice", "config", "update")
    assert [r[1:] for r in rows[1:]] == [("dead_letter", "replay")]  # the discard found nothing open
