"""Processes a test or benchmark starts die with it, however it ends (bench.procs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from bench import procs

from iu_core.embedded import server_status, stop_server
from tests.support.leftovers import alive

ROOT = Path(__file__).resolve().parents[2]


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return not alive(pid)


def _starter(code: str, *args: str) -> subprocess.Popen[str]:
    """A python process running ``code`` (it prints one line when ready)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )


@pytest.mark.timeout(60)
def test_a_spawned_server_gets_sigterm_when_its_starter_is_killed() -> None:
    starter = _starter(
        """
        import subprocess
        from bench import procs
        child = subprocess.Popen(["sleep", "300"], preexec_fn=procs.die_with_parent)
        print(child.pid, flush=True)
        child.wait()
        """
    )
    assert starter.stdout is not None
    pid = int(starter.stdout.readline())
    try:
        assert os.getpgid(pid) == pid  # a process group of its own
        starter.kill()  # no cleanup code runs in the starter
        starter.wait(10)
        assert _gone_within(pid, 10), "the child outlived its killed starter"
    finally:
        starter.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_a_run_that_times_out_ends_its_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"
    with pytest.raises(subprocess.TimeoutExpired):
        procs.run_group(["bash", "-c", script], 3)
    started = [int(x) for x in pids.read_text().split()]
    try:
        assert len(started) == 2
        for pid in started:  # the shell and what it started in the background alike
            assert _gone_within(pid, 10), pid
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_embedded_postgres_is_stopped_when_its_starter_is_killed() -> None:
    # Not under pytest's tmp_path: the server's own user must reach the directory.
    base = Path(tempfile.mkdtemp(prefix="iu_core_pg_"))
    data_dir = base / "data"
    starter = _starter(
        """
        import sys, time
        from pathlib import Path
        from bench import procs
        from iu_core.embedded import ensure_server
        ensure_server(Path(sys.argv[1]), database="postgres")
        procs.guard_server(Path(sys.argv[1]))
        print("ready", flush=True)
        time.sleep(300)
        """,
        str(data_dir),
    )
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline().strip() == "ready"
        status = server_status(data_dir)
        assert status.running and status.pid is not None
        starter.kill()  # as pytest-timeout or an OOM kill would: nothing runs in the starter
        starter.wait(10)
        assert _gone_within(status.pid, 60), "the embedded PostgreSQL outlived its starter"
    finally:
        starter.kill()
        starter.wait(10)
        if starter.stdout is not None:
            starter.stdout.close()
        stop_server(data_dir)
        shutil.rmtree(base, ignore_errors=True)
