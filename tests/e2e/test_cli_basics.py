"""The CLI as a user meets it: exit codes, one-line errors, help."""

from __future__ import annotations

import pytest

from tests.conftest import CliRunner, run_iu_core


@pytest.mark.slow
def test_db_verify_exit_codes_through_cli(empty_database_url: str) -> None:
    before = run_iu_core(["db", "verify"], database_url=empty_database_url)
    assert before.returncode == 1
    assert "pending" in before.stdout
    migrate = run_iu_core(["db", "migrate"], database_url=empty_database_url)
    assert migrate.returncode == 0, migrate.stderr
    after = run_iu_core(["db", "verify", "--json"], database_url=empty_database_url)
    assert after.returncode == 0, after.stderr
    assert '"ok": true' in after.stdout


def test_unreachable_database_url_is_one_line_and_nonzero() -> None:
    result = run_iu_core(["db", "status"], database_url="postgresql://nobody@127.0.0.1:1/nothing")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "cannot connect" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error(cli: CliRunner) -> None:
    result = cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_help_shows_environment_fallbacks(cli: CliRunner) -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert "IU_CORE_DATABASE_URL" in result.stdout
    assert "IU_CORE_DATA_DIR" in result.stdout
