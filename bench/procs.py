"""Running the measured systems in their own processes and reading their one-line JSON reports.

Every process started here dies with the one that started it, however that
one ends (a test's timeout, a kill, a crash):

- ``die_with_parent`` (a ``preexec_fn``) puts the child in a process group of
  its own and asks Linux for SIGTERM when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``); ``stop_group`` ends the whole group (a
  launcher and what it started), SIGTERM first, SIGKILL after a grace time;
- an embedded PostgreSQL is started by ``pg_ctl``, which detaches it (its
  parent is PID 1), so no signal reaches it: ``guard_server`` starts a small
  guard process that stops that server when the starter dies (the guard's
  stdin is a pipe from the starter: end of file means the starter is gone,
  even after SIGKILL) or when the starter closes it. The guard ignores
  SIGTERM and SIGINT and leads a session of its own, so what ends the starter
  and its group never ends the guard before it has done its job.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class ProcError(RuntimeError):
    pass


def env() -> dict[str, str]:
    out = {
        k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_") or k.startswith("IU_CORE_BENCH_")
    }
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH", "")) if p)
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: a process group of its own, and SIGTERM when the parent dies (Linux)."""
    if os.getpgid(0) != os.getpid():  # already leading one (start_new_session): keep it
        os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End ``proc`` and its process group (``die_with_parent`` made it lead one): TERM, then KILL."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signum)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:  # what the leader started may outlive it briefly
            try:
                os.killpg(proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)


_GUARD = """
import signal, sys
from pathlib import Path
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(signum, signal.SIG_IGN)  # a signal to the starter's group is not for the guard
sys.stdin.buffer.read()  # returns when the starter closes the pipe or dies
from iu_core.embedded import stop_server
stop_server(Path(sys.argv[1]))
if len(sys.argv) > 2:
    import shutil
    shutil.rmtree(sys.argv[2], ignore_errors=True)
"""


def guard_server(data_dir: Path, remove: Path | None = None) -> subprocess.Popen[bytes]:
    """A guard that stops the embedded server of ``data_dir`` when this process dies or calls
    ``release_guard`` (which waits for the server to be stopped), then deletes ``remove``."""
    return subprocess.Popen(
        [sys.executable, "-c", _GUARD, str(data_dir), *([str(remove)] if remove else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env(),
        start_new_session=True,  # outside the starter's group: a SIGKILL to that group spares it
    )


def release_guard(guard: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Let the guard stop its server now, and wait for it."""
    if guard.stdin is not None:
        with contextlib.suppress(OSError):
            guard.stdin.close()
    try:
        guard.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_group(guard, 1.0)


def module_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and "ready" not in value:
                return value
    raise ProcError("no JSON report in the output")


def run_group(cmd: list[str], timeout: float) -> tuple[int, str, str]:
    """Run CMD to completion in its own process group; on a timeout (or any error) the
    whole group is ended before the error goes up."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=REPO,
        preexec_fn=die_with_parent,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        stop_group(proc)
        proc.communicate()
        raise
    return proc.returncode, out, err


def run_json(cmd: list[str], *, timeout: float) -> dict[str, Any]:
    """Run CMD to completion; its last JSON line as a dict; a failure raises with its stderr tail."""
    returncode, stdout, stderr = run_group(cmd, timeout)
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise ProcError(f"{' '.join(cmd[1:4])} exited {returncode}:\n{tail}")
    try:
        return last_json(stdout)
    except ProcError as exc:
        raise ProcError(f"{' '.join(cmd[1:4])}: {exc}; stderr: {stderr[-2000:]}") from exc


def run_quiet(cmd: list[str], *, timeout: float) -> None:
    returncode, _stdout, stderr = run_group(cmd, timeout)
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise ProcError(f"{' '.join(cmd[1:4])} exited {returncode}:\n{tail}")


def spawn(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=REPO,
        preexec_fn=die_with_parent,
    )
