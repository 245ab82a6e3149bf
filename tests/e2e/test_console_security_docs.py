"""docs/console-security.md as written: every command exists, and each is run against a real database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx
import psycopg
import pytest

from iu_core.cli import cli as iu_core_cli
from tests.conftest import CliRunner
from tests.support.console import PASSWORD, SECRET, console_process, login
from tests.support.docs import sh_blocks

PAGE = Path(__file__).parents[2] / "docs" / "console-security.md"


def shell_blocks() -> list[list[list[str]]]:
    """Each ``sh`` block of the page: its ``iu-core`` commands, as argument lists."""
    return sh_blocks(PAGE.read_text(encoding="utf-8"))


def resolve(args: list[str]) -> None:
    """Fail unless ``iu-core ARGS`` names a real command with real options."""
    command: click.Command = iu_core_cli
    options = {o for p in iu_core_cli.params if isinstance(p, click.Option) for o in p.opts}
    for word in args:
        if word.startswith("--"):
            assert word in options, (args, word)
        elif isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            options |= {o for p in command.params if isinstance(p, click.Option) for o in p.opts}


def test_every_command_on_the_page_exists() -> None:
    blocks = shell_blocks()
    assert len(blocks) == 3 and all(blocks)
    for block in blocks:
        for args in block:
            resolve(args)


@pytest.mark.slow
def test_the_users_story_runs_as_written(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    story = shell_blocks()[0]
    assert [args[:3] for args in story[:3]] == [
        ["console", "user", "add"],
        ["console", "user", "passwd"],
        ["console", "user", "remove"],
    ]
    for args in story:
        result = cli(*args, input=f"{PASSWORD}\n{PASSWORD}\n", timeout=60)
        assert result.returncode == 0, (args, result.stderr)
    rows = conn.execute(
        "SELECT context FROM iu_operator_audit WHERE object_key = 'alice' ORDER BY audit_id"
    ).fetchall()
    assert [r[0] for r in rows] == ["console user add", "console user passwd", "console user remove"]
    assert result.stdout.count("console_user alice") == 3  # what `iu-core audit --key alice` printed


@pytest.mark.slow
def test_the_serving_commands_run_as_written(
    database_url: str, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    from iu_core.console.users import add_user

    add_user(conn, "alice", PASSWORD)
    (tmp_path / "console.key").write_text(SECRET + "\n")
    for block in shell_blocks()[1:]:
        for args in block:
            assert args[0] == "console"
            with (
                console_process(database_url, args=args[1:], secret_in_env=False, cwd=tmp_path) as base,
                httpx.Client(base_url=base, timeout=30) as c,
            ):
                if "--secure-cookie" not in args:  # a Secure cookie does not come back over plain HTTP
                    assert login(c, "alice").status_code == 303
                assert "iu_core_metrics_gauges_stale 0.0" in c.get("/metrics").text
