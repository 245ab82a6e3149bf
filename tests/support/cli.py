"""The CLI in-process: click's runner instead of a new interpreter per call."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner as ClickRunner

from iu_core.cli import cli as iu_core_cli


def invoke(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in-process (no interpreter start per call); the `cli` fixture runs it as a user does."""
    result = ClickRunner().invoke(iu_core_cli, ["--database-url", database_url, *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
