"""Shared pieces of the HTTP target tests: local receivers on 127.0.0.1 and live routes.

Every server binds 127.0.0.1 on a free port: the tests never send anything elsewhere.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from iu_core.delivery_seam import DeliveryRequest
from iu_core.targets import build_http_targets
from tests.support import routes

LOOPBACK_NET = "127.0.0.0/8"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A threaded HTTP server that answers scripted replies and records what it got."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.connections = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.seen.append(
                        Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                    )
                    reply = receiver.script.pop(0) if receiver.script else receiver.default
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # a worker opens up to a route's max_in_flight connections at once

            def process_request(self, request: Any, client_address: Any) -> None:
                with receiver._lock:
                    receiver.connections += 1
                super().process_request(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawServer:
    """A socket server whose ``handle(conn, n)`` does anything (drop, trickle, flood)."""

    def __init__(self, handle: Callable[[socket.socket, int], None]) -> None:
        self.handle = handle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.accepted = 0
        self.stats: dict[str, Any] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn, self.accepted), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn: socket.socket, n: int) -> None:
        with conn, suppress(OSError):
            self.handle(conn, n)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self._conns:  # a handler waiting for the client to hang up stops now
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)


def self_signed_certificate(directory: Any, name: str) -> tuple[str, str]:
    """A one-day certificate and key for ``name`` (a host name or an IP literal), made by openssl."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    kind = "IP" if name.replace(".", "").isdigit() else "DNS"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={kind}:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (headers + Content-Length body) from a raw socket."""
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest


def add_route(
    conn: psycopg.Connection[Any],
    code: str,
    target_ref: str,
    *,
    kind: str = "external_endpoint",
    allow: list[str] | None = None,
    timeout_s: float = 5,
    connect_timeout_s: float = 2,
    live: bool = True,
    event_type: str = "structure_op_applied",
    **policy: Any,
) -> None:
    """A route to a local receiver (loopback allowed); live (gate open, allowlisted) unless told."""
    routes.add_route(
        conn,
        code,
        kind=kind,
        ref=target_ref,
        event_type=event_type,
        live=live,
        allow_networks=[LOOPBACK_NET] if allow is None else allow,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        **policy,
    )


def set_secret(conn: psycopg.Connection[Any], route: str, secret: str, window_s: float = 86400) -> None:
    from iu_core.targets.webhook import fingerprint

    conn.execute(
        "SELECT fn_iu_route_credential_replace(%s, 'webhook_secret', %s, %s, make_interval(secs => %s))",
        (route, secret, fingerprint(secret), window_s),
    )


def set_token(conn: psycopg.Connection[Any], route: str, token: str) -> None:
    from iu_core.targets.webhook import fingerprint

    conn.execute(
        "SELECT fn_iu_route_credential_replace(%s, 'access_token', %s, %s, interval '0')",
        (route, token, fingerprint(token)),
    )


def outbox_event(conn: psycopg.Connection[Any]) -> str:
    """A structure event in the outbox (its occurred_at becomes the body's timestamp)."""
    return outbox_structure_event(conn)


def request_for(
    route: str,
    target_ref: str,
    *,
    kind: str = "external_endpoint",
    event_ref: str | None = None,
    **payload: Any,
) -> DeliveryRequest:

    event = event_ref or str(uuid.uuid4())
    return DeliveryRequest(
        route_code=route,
        event_ref=event,
        target_kind=kind,
        target_ref=target_ref,
        idempotency_key=f"{route}:{event}",
        safe_payload={"event_type": "structure_op_applied", "iu_id": str(uuid.uuid4()), **payload},
    )


@contextmanager
def worker_client_calls(monkeypatch: Any) -> Iterator[list[tuple[str, bytes]]]:
    """Record every POST made through the worker's HTTP client (thread name, request target).

    The one client (``AsyncHttpClient.post``) is wrapped, not replaced: the
    request still goes out. A synchronous caller's POST runs on the shared
    loop thread ``iu-core-http-sync``; the worker's on ``iu-core-http``.
    """
    import threading

    from iu_core.targets.http.client import AsyncHttpClient

    calls: list[tuple[str, bytes]] = []
    real = AsyncHttpClient.post

    async def post(self: AsyncHttpClient, ep: Any, body: bytes, headers: Any, **kw: Any) -> Any:
        calls.append((threading.current_thread().name, ep.target))
        return await real(self, ep, body, headers, **kw)

    monkeypatch.setattr(AsyncHttpClient, "post", post)
    yield calls


@contextmanager
def targets(database_url: str) -> Iterator[dict[str, Any]]:
    """Fresh targets that read settings uncached; pooled connections closed afterwards."""
    from iu_core.targets.http import sync as http_sync

    built = build_http_targets(database_url, cache_ttl_s=0)
    try:
        yield dict(built)
    finally:
        built["external_endpoint"].reader.close()
        http_sync.close()


def outbox_structure_event(conn: psycopg.Connection[Any]) -> str:
    iu, op = str(uuid.uuid4()), str(uuid.uuid4())
    payload = {
        "schema_version": "1.0",
        "iu_id": iu,
        "operation_id": op,
        "operation_type": "split",
        "event_type": "structure_op_applied",
        "pieces": [],
        "eids": [],
        "previous_eids": {},
    }
    row = conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)"
        " VALUES ('structure_op_applied', 'information_unit', %s, %s) RETURNING event_id",
        (iu, Jsonb(payload)),
    ).fetchone()
    assert row is not None
    return str(row[0])


def attempts_of(conn: psycopg.Connection[Any], route: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT status, detail FROM iu_route_attempt WHERE route_code = %s ORDER BY attempt_id", (route,)
        ).fetchall()
    ]


def run_worker(cli: Any, conn: psycopg.Connection[Any], route: str, until: int) -> str:
    """Run `iu-core worker --once` (debug logs) until ``until`` attempts of ROUTE are recorded
    (bounded); return everything the worker printed."""
    printed = ""
    for _ in range(10):
        done = cli("worker", "--once", "--routes", route, "--log-level", "debug")
        printed += done.stdout + done.stderr
        assert done.returncode == 0, done.stderr
        if len(attempts_of(conn, route)) >= until:
            break
        time.sleep(0.3)
    return printed
