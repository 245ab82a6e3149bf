"""The external_endpoint target against real HTTP servers on 127.0.0.1.

Signing (Standard Webhooks), response classification, bounded reads, the
address policy end to end (loopback refused with no connection), and secrets
kept out of outcomes.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from iu_core.targets.classify import RETRY_AFTER_MAX_S
from iu_core.targets.http import sync as http_sync
from iu_core.targets.http.client import CA_BUNDLE_ENV
from iu_core.targets.webhook import new_secret
from tests.support.receivers import (
    RawServer,
    Receiver,
    Reply,
    add_route,
    outbox_event,
    read_request,
    request_for,
    self_signed_certificate,
    set_secret,
    targets,
)
from tests.support.routes import set_gate

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

DETAIL_KEYS = {
    "retryable",
    "retry_after_s",
    "disable_route",
    "reason",
    "http_status",
    "latency_ms",
    "response_body",
    "response_headers",
    "response_truncated",
    "failure",
    "address",
    "webhook_id",
}


@pytest.fixture(autouse=True)
def _close_pools() -> Any:
    yield
    http_sync.close()


def _route(conn: psycopg.Connection[Any], url: str, code: str = "hook.test", **kw: Any) -> str:
    add_route(conn, code, url, **kw)
    set_secret(conn, code, SECRET)
    return code


def test_sent_delivery_verifies_with_standardwebhooks(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        req = request_for(route, rx.url, operation_type="split")
        outcome = t["external_endpoint"].deliver(req)
    assert outcome.status == "sent" and outcome.delivered
    assert set(outcome.detail) == DETAIL_KEYS
    assert outcome.detail["http_status"] == 200
    assert outcome.detail["response_body"] == "ok"
    assert outcome.detail["address"] == "127.0.0.1"
    [seen] = rx.seen
    assert seen.path == "/hook"
    assert seen.headers["content-type"] == "application/json"
    # What arrived verifies with the library's own verifier, and is the documented body.
    body = Webhook(SECRET).verify(seen.body, seen.headers)
    assert body["id"] == req.idempotency_key == seen.headers["webhook-id"]
    assert body["type"] == "structure_op_applied"
    assert body["data"] == dict(req.safe_payload)
    assert body["timestamp"].endswith("Z")


def test_retry_keeps_webhook_id_and_resigns(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        rx.script = [Reply(503, body=b"busy")]
        req = request_for(route, rx.url, event_ref=outbox_event(conn))
        first = t["external_endpoint"].deliver(req)
        time.sleep(1.01 - time.time() % 1)  # webhook-timestamp has whole seconds
        second = t["external_endpoint"].deliver(req)
    assert first.status == "failed" and first.detail["retryable"] is True
    assert first.detail["http_status"] == 503 and first.detail["response_body"] == "busy"
    assert second.status == "sent"
    a, b = rx.seen
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == req.idempotency_key
    assert a.headers["webhook-timestamp"] != b.headers["webhook-timestamp"]
    assert a.headers["webhook-signature"] != b.headers["webhook-signature"]
    assert a.body == b.body  # the body (timestamp = when the event occurred) is stable across retries
    for seen in (a, b):
        Webhook(SECRET).verify(seen.body, seen.headers)


def test_rotation_signs_with_both_secrets_then_one(conn: psycopg.Connection[Any], database_url: str) -> None:
    new = new_secret()
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        set_secret(conn, route, new, window_s=3600)  # SECRET is now the previous one
        t["external_endpoint"].deliver(request_for(route, rx.url))
        # The window ends: only the current secret signs.
        conn.execute(
            "UPDATE iu_route_credential SET valid_until = now() - interval '1 s'"
            " WHERE superseded_at IS NOT NULL"
        )
        t["external_endpoint"].deliver(request_for(route, rx.url))
    during, after = rx.seen
    sigs = during.headers["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    Webhook(new).verify(during.body, during.headers)
    Webhook(SECRET).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(SECRET).verify(after.body, after.headers)


@pytest.mark.parametrize(
    ("status", "retryable", "disable"),
    [
        (400, False, False),
        (404, False, False),
        (401, False, False),
        (410, False, True),
        (408, True, False),
        (500, True, False),
        (503, True, False),
        (204, None, False),
    ],
)
def test_status_classification(
    conn: psycopg.Connection[Any], database_url: str, status: int, retryable: bool | None, disable: bool
) -> None:
    with Receiver(Reply(status, body=b"" if status == 204 else b"nope")) as rx, targets(database_url) as t:
        outcome = t["external_endpoint"].deliver(request_for(_route(conn, rx.url), rx.url))
    assert outcome.detail["http_status"] == status
    if retryable is None:
        assert outcome.status == "sent"
        return
    assert outcome.status == "failed" and not outcome.delivered
    assert outcome.detail["retryable"] is retryable
    assert outcome.detail["disable_route"] is disable
    assert str(status) in outcome.detail["reason"]


def test_429_with_retry_after_then_success(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        rx.script = [Reply(429, {"Retry-After": "7"}), Reply(503, {"Retry-After": "999999"})]
        req = request_for(route, rx.url)
        first = t["external_endpoint"].deliver(req)
        second = t["external_endpoint"].deliver(req)
        third = t["external_endpoint"].deliver(req)
    assert first.detail["retryable"] and first.detail["retry_after_s"] == 7.0
    assert second.detail["retry_after_s"] == RETRY_AFTER_MAX_S  # clamped
    assert third.status == "sent"


def test_redirect_is_not_followed(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        rx.script = [Reply(302, {"Location": rx.url + "/elsewhere"})]
        outcome = t["external_endpoint"].deliver(request_for(route, rx.url))
    assert outcome.status == "failed" and outcome.detail["failure"] == "redirect"
    assert outcome.detail["http_status"] == 302 and outcome.detail["retryable"] is False
    assert [s.path for s in rx.seen] == ["/hook"]  # the Location was never requested


def test_timeout_is_retryable_then_succeeds(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url, timeout_s=0.5)
        rx.script = [Reply(200, delay_s=2)]
        req = request_for(route, rx.url)
        started = time.monotonic()
        first = t["external_endpoint"].deliver(req)
        elapsed = time.monotonic() - started
        second = t["external_endpoint"].deliver(req)
    assert first.status == "failed" and first.detail["retryable"] and first.detail["failure"] == "timeout"
    assert elapsed < 1.9  # cut at 0.5 s; waiting for the reply would take 2 s
    assert second.status == "sent"


def test_dropped_connection_is_retryable_then_succeeds(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    def handle(sock: socket.socket, n: int) -> None:
        read_request(sock)
        if n == 1:
            return  # hang up without a response
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    with RawServer(handle) as srv, targets(database_url) as t:
        route = _route(conn, srv.url)
        req = request_for(route, srv.url)
        first = t["external_endpoint"].deliver(req)
        second = t["external_endpoint"].deliver(req)
    assert first.status == "failed" and first.detail["retryable"] is True
    assert first.detail["failure"] == "protocol_error"
    assert second.status == "sent"


def test_connection_refused_is_retryable(conn: psycopg.Connection[Any], database_url: str) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    probe.close()  # nothing listens on that port now
    with targets(database_url) as t:
        outcome = t["external_endpoint"].deliver(request_for(_route(conn, url), url))
    assert outcome.status == "failed" and outcome.detail["retryable"] is True
    assert outcome.detail["failure"] == "connect_error"


def test_huge_body_is_cut_off(conn: psycopg.Connection[Any], database_url: str) -> None:
    size = 50 * 1024 * 1024

    def handle(sock: socket.socket, n: int) -> None:
        read_request(sock)
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < size:
                sock.sendall(chunk)
                sent += len(chunk)
        finally:
            srv.stats["sent"] = sent

    with RawServer(handle) as srv, targets(database_url) as t:
        route = _route(conn, srv.url)
        started = time.monotonic()
        outcome = t["external_endpoint"].deliver(request_for(route, srv.url))
        elapsed = time.monotonic() - started
    assert outcome.status == "sent"
    assert outcome.detail["response_truncated"] is True
    assert len(outcome.detail["response_body"]) == 16 * 1024
    assert elapsed < 5
    assert srv.stats["sent"] < size // 4  # the client stopped reading long before the end


def test_trickling_body_is_cut_off_at_the_deadline(conn: psycopg.Connection[Any], database_url: str) -> None:
    def handle(sock: socket.socket, n: int) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(200):
            sock.sendall(b"x")
            time.sleep(0.1)

    with RawServer(handle) as srv, targets(database_url) as t:
        route = _route(conn, srv.url, timeout_s=1.5)
        started = time.monotonic()
        outcome = t["external_endpoint"].deliver(request_for(route, srv.url))
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 2.5  # the deadline (1.5 s), not the server's 20 s of trickle
    assert outcome.detail["http_status"] == 503 and outcome.detail["retryable"] is True
    assert outcome.detail["response_truncated"] is True
    assert 5 < len(outcome.detail["response_body"]) < 30


def test_trickling_headers_time_out(conn: psycopg.Connection[Any], database_url: str) -> None:
    def handle(sock: socket.socket, n: int) -> None:
        read_request(sock)
        for ch in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100:
            sock.sendall(bytes([ch]))
            time.sleep(0.05)

    with RawServer(handle) as srv, targets(database_url) as t:
        route = _route(conn, srv.url, timeout_s=1)
        started = time.monotonic()
        outcome = t["external_endpoint"].deliver(request_for(route, srv.url))
        elapsed = time.monotonic() - started
    assert outcome.status == "failed" and outcome.detail["failure"] == "timeout"
    assert elapsed < 2.5  # the 1 s deadline, not the server's 6 s of trickled headers


def test_loopback_refused_end_to_end_without_a_connection(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url, allow=[])  # the route does not allow loopback
        outcomes = [
            t["external_endpoint"].deliver(request_for(route, url))
            for url in (
                rx.url,
                f"http://localhost:{rx.port}/hook",
                f"http://[::ffff:127.0.0.1]:{rx.port}/hook",
            )
        ]
        time.sleep(0.2)
    for outcome in outcomes:
        assert outcome.status == "failed" and outcome.detail["retryable"] is False
        assert outcome.detail["failure"] == "refused"
        assert "loopback" in outcome.detail["reason"]
        assert outcome.detail["http_status"] is None
    assert rx.connections == 0 and rx.seen == []


def test_allow_networks_is_exact(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url, allow=["127.0.0.2/32"])  # another loopback address only
        outcome = t["external_endpoint"].deliver(request_for(route, rx.url))
    assert outcome.detail["failure"] == "refused" and rx.connections == 0


def test_not_live_route_is_not_sent(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        set_gate(conn, False)
        outcome = t["external_endpoint"].deliver(request_for(route, rx.url))
    assert outcome.status == "failed" and outcome.detail["failure"] == "not_live"
    assert "gate is closed" in outcome.detail["reason"]
    assert rx.connections == 0


def test_no_secret_is_not_sent_unsigned(conn: psycopg.Connection[Any], database_url: str) -> None:
    with Receiver() as rx, targets(database_url) as t:
        add_route(conn, "nosecret", rx.url)
        outcome = t["external_endpoint"].deliver(request_for("nosecret", rx.url))
    assert outcome.status == "failed" and outcome.detail["failure"] == "misconfigured"
    assert "route secret rotate" in outcome.detail["reason"]
    assert rx.connections == 0


def test_secrets_never_in_outcome_details(conn: psycopg.Connection[Any], database_url: str) -> None:
    new = new_secret()
    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        set_secret(conn, route, new)
        rx.script = [Reply(500, body=b"boom"), Reply(410), Reply(302, {"Location": "/x"})]
        outcomes = [t["external_endpoint"].deliver(request_for(route, rx.url)) for _ in range(4)]
        outcomes.append(t["external_endpoint"].deliver(request_for(route, "http://127.0.0.1:1/")))
        outcomes.append(t["external_endpoint"].deliver(request_for(route, "ftp://x/")))
    text = json.dumps([dict(o.detail) for o in outcomes]) + repr(outcomes)
    for secret in (SECRET, new):
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
    # Nor the signatures derived from them.
    for seen in rx.seen:
        assert seen.headers["webhook-signature"].split(" ")[0][3:] not in text


def test_concurrent_deliveries_share_the_pool(conn: psycopg.Connection[Any], database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with Receiver() as rx, targets(database_url) as t:
        route = _route(conn, rx.url)
        reqs = [request_for(route, rx.url, n=i) for i in range(200)]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(t["external_endpoint"].deliver, reqs))
        elapsed = time.monotonic() - started
    assert all(o.status == "sent" for o in outcomes)
    assert {s.headers["webhook-id"] for s in rx.seen} == {r.idempotency_key for r in reqs}
    assert rx.connections <= 40  # keep-alive: far fewer connections than requests
    print(
        f"200 deliveries from 8 threads in {elapsed:.2f} s ({200 / elapsed:.0f}/s),"
        f" {rx.connections} connections"
    )


def test_connects_to_the_checked_address_without_a_second_lookup(
    conn: psycopg.Connection[Any], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS is simulated: "receiver.test" resolves to 127.0.0.1 once; any later lookup
    # of the NAME (a rebinding chance) would answer an address the route refuses.
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        if host == "receiver.test":
            host = "127.0.0.1" if looked_up.count("receiver.test") == 1 else "127.0.0.2"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with Receiver() as rx, targets(database_url) as t:
        url = f"http://receiver.test:{rx.port}/hook"
        route = _route(conn, url, allow=["127.0.0.1/32"])
        outcome = t["external_endpoint"].deliver(request_for(route, url))
    assert outcome.status == "sent", outcome.detail["reason"]
    assert outcome.detail["address"] == "127.0.0.1"
    # The name once; after it, at most the checked literal (the connection goes to that IP, never the name).
    assert looked_up.count("receiver.test") == 1
    assert set(looked_up) <= {"receiver.test", "127.0.0.1"}
    assert rx.seen[0].headers["host"] == f"receiver.test:{rx.port}"


def test_https_verifies_the_name_while_connecting_to_the_pinned_address(
    conn: psycopg.Connection[Any], database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import ssl

    cert, key = self_signed_certificate(tmp_path, "receiver.test")
    real = socket.getaddrinfo

    def fake(host: str, port: int, *args: Any, **kwargs: Any) -> Any:  # simulated DNS, loopback only
        return real("127.0.0.1" if host.endswith(".test") else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    monkeypatch.setenv(CA_BUNDLE_ENV, cert)
    http_sync.close()  # no connection opened under the old CA bundle is reused
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,func-returns-value]
    with Receiver() as rx, targets(database_url) as t:
        rx.server.socket = server_ctx.wrap_socket(rx.server.socket, server_side=True)
        good = f"https://receiver.test:{rx.port}/hook"
        route = _route(conn, good, allow=["127.0.0.1/32"])
        sent = t["external_endpoint"].deliver(request_for(route, good))
        wrong = f"https://other.test:{rx.port}/hook"  # same address, a name the certificate is not for
        refused = t["external_endpoint"].deliver(request_for(route, wrong))
    assert sent.status == "sent", sent.detail["reason"]
    assert sent.detail["address"] == "127.0.0.1"
    assert sni[0] == "receiver.test"
    assert refused.status == "failed" and refused.detail["failure"] == "connect_error"
    assert "certificate" in refused.detail["reason"].lower() and refused.detail["retryable"] is True
    assert len(rx.seen) == 1
