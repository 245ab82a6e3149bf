"""A test session that leaves a server running fails, names it, and ends it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.leftovers import GRACE_ENV

ROOT = Path(__file__).resolve().parents[2]

_INNER = textwrap.dedent(
    """
    import subprocess
    from pathlib import Path

    def test_starts_a_server(tmp_path):
        # Detached (its own session), as pg_ctl leaves PostgreSQL: no fixture stops it.
        proc = subprocess.Popen(["bash", "-c", "exec -a uvicorn sleep 300"], start_new_session=True)
        Path({pid_file!r}).write_text(str(proc.pid))
        {stop}
    """
)


def _inner_session(tmp_path: Path, *, stop: bool) -> tuple[subprocess.CompletedProcess[str], int]:
    pid_file = tmp_path / "server.pid"
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(
        _INNER.format(pid_file=str(pid_file), stop="proc.kill(); proc.wait()" if stop else "")
    )
    plugins = ["-p", "tests.support.leftovers", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-c", os.devnull, "-q", str(test_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, GRACE_ENV: "0.5"},  # the server is never told to stop: no need to wait 5 s
    )
    return result, int(pid_file.read_text())


@pytest.mark.timeout(90)
def test_a_server_left_running_fails_the_session_and_is_ended(tmp_path: Path) -> None:
    result, pid = _inner_session(tmp_path, stop=False)
    try:
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        assert "left 1 server process(es) running" in result.stdout
        assert f"pid {pid}: uvicorn 300" in result.stdout
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(90)
def test_a_session_that_stops_its_servers_passes(tmp_path: Path) -> None:
    result, _pid = _inner_session(tmp_path, stop=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leftover" not in result.stdout
