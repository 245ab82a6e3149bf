"""Helpers for the console's tests: users, a logged-in client, a real console process (no tests here)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from bench.procs import die_with_parent

from iu_core.console import ConsoleConfig, create_app
from iu_core.console.users import add_user

USER = "ops-alice"
PASSWORD = "correct horse battery staple"
SECRET = "s" * 40

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_user(conn: psycopg.Connection[Any], name: str = USER, password: str = PASSWORD) -> None:
    add_user(conn, name, password)


@contextmanager
def serve(database_url: str, **config: Any) -> Iterator[str]:
    """The console served by uvicorn in a thread of this process on 127.0.0.1; yields its base URL."""
    with served(create_app(ConsoleConfig(database_url, secret=SECRET, **config))) as base:
        yield base


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on 127.0.0.1; yields its base URL."""
    port = free_port()
    # as `iu-core console` serves it: uvicorn trusts no proxy header (the console decides)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("the console did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@contextmanager
def client(database_url: str, **config: Any) -> Iterator[httpx.Client]:
    """An HTTP client of a console served for this test (redirects are not followed)."""
    with serve(database_url, **config) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def login(c: httpx.Client, name: str = USER, password: str = PASSWORD) -> httpx.Response:
    page = c.get("/login")
    match = _LOGIN_TOKEN.search(page.text)
    assert match, page.text
    return c.post(
        "/login",
        data={"username": name, "password": password, "login_token": match.group(1), "next": "/"},
    )


def csrf_of(c: httpx.Client, path: str = "/gate") -> str:
    match = _CSRF.search(c.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def console_process(
    database_url: str,
    port: int | None = None,
    *,
    args: Sequence[str] = (),
    secret_in_env: bool = True,
    cwd: Path | None = None,
) -> Iterator[str]:
    """The real ``iu-core console ARGS`` in a subprocess on 127.0.0.1; yields its base URL."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env.update(IU_CORE_DATABASE_URL=database_url, IU_CORE_CONSOLE_PORT=str(port))
    if secret_in_env:
        env["IU_CORE_CONSOLE_SECRET"] = SECRET
    proc = subprocess.Popen(
        [sys.executable, "-m", "iu_core", "console", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,  # SIGTERM when this test process dies
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"console exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("console did not start within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
