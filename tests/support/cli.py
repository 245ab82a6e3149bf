"""The CLI in-process: click's runner instead of a new interpreter per call.

The integration layer drives the CLI this way (about 0.7 s of interpreter
start-up saved per call); the e2e layer runs it as a user does, in a
subprocess. Each call runs in a copy of the current context, so a
``--actor`` set by one call never leaks into the next.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from click.testing import CliRunner as ClickRunner

from iu_core.cli import cli as iu_core_cli


@contextlib.contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def invoke(
    database_url: str | None,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    **_ignored: Any,  # the subprocess runner's timeout: an in-process call cannot hang on start-up
) -> subprocess.CompletedProcess[str]:
    """Run ``iu-core ARGS…`` in this process, with the environment a fresh process would see.

    Like the subprocess runner, it hides the caller's ``IU_CORE_*`` variables
    and names the database in ``IU_CORE_DATABASE_URL``. An exception that
    escapes the command (a bug, never a user's mistake) is raised, not
    turned into an exit code.
    """
    full_env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("IU_CORE_")}
    if database_url:
        full_env["IU_CORE_DATABASE_URL"] = database_url
    full_env.update(env or {})
    runner = ClickRunner()
    with _cwd(cwd):
        result = contextvars.copy_context().run(
            runner.invoke, iu_core_cli, list(args), input=input, env=full_env, prog_name="iu-core"
        )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
