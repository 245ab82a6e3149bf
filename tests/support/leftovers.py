"""The session-end check: a test run fails when a server it started is still running.

At start the session (the controller under pytest-xdist) puts a token of its
own in ``IU_TEST_SESSION``; every process started from it inherits the
variable, including an embedded PostgreSQL that ``pg_ctl`` detached (its
parent is PID 1, so it is no child to look for). At the end, after every
fixture's teardown, any process that carries the token and looks like a server
(postgres, node, uvicorn, iu-core) fails the run: it is listed, then ended.
Other sessions running on the same machine carry other tokens and are never
touched. Linux only (``/proc``); elsewhere the check does nothing.

Loaded by ``tests/conftest.py`` (its two hooks), or as a plugin:
``pytest -p tests.support.leftovers``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SESSION_ENV = "IU_TEST_SESSION"  # not IU_CORE_*: helpers pass the environment on without those
GRACE_S = 5.0  # servers told to stop during teardown may take a moment to exit
GRACE_ENV = "IU_TEST_LEFTOVER_GRACE_S"  # a shorter grace, for the test of this plugin itself
_SERVER = re.compile(r"(^|/)(postgres|postmaster|node|uvicorn|iu-core)(:|$)")


@dataclass(frozen=True, slots=True)
class Leftover:
    pid: int
    command: str


def _argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_server(argv: list[str]) -> bool:
    if not argv:
        return False
    if _SERVER.search(argv[0].split(" ", 1)[0]):  # "postgres: checkpointer" keeps its title in argv[0]
        return True
    modules = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-m"}
    return bool(modules & {"iu_core", "uvicorn"}) or any(_SERVER.search(a) for a in argv[1:2])


def _carries(pid: int, token: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{SESSION_ENV}={token}".encode() in environ.split(b"\0")


def leftovers(token: str) -> list[Leftover]:
    """Server processes (not this one) that carry ``token``."""
    found: list[Leftover] = []
    if not Path("/proc/self").exists():
        return found
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        argv = _argv(pid)
        if _is_server(argv) and _carries(pid, token):
            found.append(Leftover(pid, " ".join(argv)[:200]))
    return found


def alive(pid: int) -> bool:
    """Running: a zombie (ended, its parent has not reaped it yet) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status


def end(found: list[Leftover]) -> None:
    """SIGTERM, a moment, then SIGKILL to each (by process id)."""
    for item in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(item.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(i.pid) for i in found):
        time.sleep(0.1)
    for item in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(item.pid, signal.SIGKILL)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # an xdist worker keeps its controller's token
        os.environ[SESSION_ENV] = secrets.token_hex(8)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    token = os.environ.get(SESSION_ENV)
    if hasattr(session.config, "workerinput") or not token:
        return  # the controller checks once every worker has finished
    deadline = time.monotonic() + float(os.environ.get(GRACE_ENV) or GRACE_S)
    found = leftovers(token)
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = leftovers(token)
    if not found:
        return
    lines = "\n".join(f"  pid {item.pid}: {item.command}" for item in found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"the test session left {len(found)} server process(es) running (now ended):\n{lines}\n"
    if reporter is not None:
        reporter.write_sep("=", "leftover processes", red=True)
        reporter.write(message)
    else:
        print(message)
    end(found)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
