"""The HTTP targets' one client against raw servers on 127.0.0.1: what the parser reads, and the bounds.

Each server here writes its answer byte for byte (chunked bodies, trailers,
interim answers, broken framing, oversized heads), so the client's reading is
tested against exactly the bytes a misbehaving receiver would send. The client
runs as every synchronous caller runs it: the same coroutine on a loop thread.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from iu_core.targets.address_policy import parse_networks
from iu_core.targets.http.client import BODY_CAP, CA_BUNDLE_ENV, HEADER_CAP, HttpResult, parse_endpoint
from iu_core.targets.http.sync import LoopThread
from tests.support.receivers import RawServer, read_request, self_signed_certificate

LOOPBACK = parse_networks(["127.0.0.0/8"])
BODY = b'{"id":"r:1","type":"t","timestamp":"2026-01-01T00:00:00Z","data":{}}'


@pytest.fixture
def post() -> Iterator[Callable[..., HttpResult]]:
    """POST ``BODY`` to a URL through a private loop thread (its own pools), closed afterwards."""
    loop = LoopThread("iu-core-http-test")

    def run(url: str, headers: dict[str, str] | None = None, timeout_s: float = 3.0) -> HttpResult:
        ep = parse_endpoint(url)
        return loop.run(
            lambda client: client.post(
                ep,
                BODY,
                headers or {"webhook-id": "r:1"},
                allow_networks=LOOPBACK,
                timeout_s=timeout_s,
                connect_timeout_s=timeout_s,
            ),
            timeout_s + 5,
        )

    yield run
    loop.close()


def _answering(*answers: bytes, keep_open: bool = True) -> Callable[[socket.socket, int], None]:
    """A handler that reads one request per answer and writes the answer's bytes."""

    def handle(conn: socket.socket, n: int) -> None:
        for answer in answers:
            if not read_request(conn):
                return
            conn.sendall(answer)
        if keep_open:
            conn.settimeout(5)
            while conn.recv(65536):  # until the client closes
                pass

    return handle


def _chunked(*chunks: bytes, trailers: bytes = b"") -> bytes:
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n" + trailers + b"\r\n"


def test_chunked_body_with_extensions_and_trailers_is_joined_and_the_connection_reused(
    post: Callable[..., HttpResult],
) -> None:
    answer = _chunked(b"hello ", b"chunked ", b"world", trailers=b"X-Checksum: abc\r\n")
    with RawServer(_answering(answer, answer)) as srv:
        first = post(srv.url)
        second = post(srv.url)
    for result in (first, second):
        assert result.status == 200 and result.error is None
        assert result.body == b"hello chunked world" and result.truncated is False
        assert result.address == "127.0.0.1"
    assert srv.accepted == 1  # the chunked answer was read to its end: the connection was kept


def test_chunked_body_over_the_cap_is_cut_at_the_cap_and_its_connection_closed(
    post: Callable[..., HttpResult],
) -> None:
    piece = b"y" * 5000
    big = _chunked(*[piece] * 40)  # 200,000 bytes in 40 chunks
    small = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with RawServer(_answering(big)) as srv_big, RawServer(_answering(small)) as srv_small:
        cut = post(srv_big.url)
        again = post(srv_big.url)
        fine = post(srv_small.url)
    assert cut.status == 200 and cut.truncated is True
    assert cut.body == b"y" * BODY_CAP
    assert again.status == 200 and srv_big.accepted == 2  # not drained: a new connection for the next
    assert fine.body == b"ok" and fine.truncated is False


def test_close_delimited_body_and_interim_answers(post: Callable[..., HttpResult]) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    final = b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nX-A: 1\r\nX-A: 2\r\n\r\nread until the end"
    with RawServer(_answering(interim + final, keep_open=False)) as srv:
        result = post(srv.url)
    assert result.status == 202
    assert result.body == b"read until the end" and result.truncated is False
    assert result.headers["x-a"] == "1, 2"  # repeated headers joined, names lower case


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n", "malformed response"),
        (b"SMTP ready\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nBad Header Line\r\n\r\nok", "malformed response"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "101"),
        # The cap is checked after every read: a head still incomplete past it is refused.
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2 * HEADER_CAP) + b"\r\n\r\n", f"exceed {HEADER_CAP}"),
    ],
    ids=[
        "status-not-a-number",
        "not-http",
        "header-without-colon",
        "switching-protocols",
        "headers-over-the-cap",
    ],
)
def test_malformed_or_oversized_heads_are_protocol_errors(
    post: Callable[..., HttpResult], answer: bytes, expected: str
) -> None:
    with RawServer(_answering(answer)) as srv:
        result = post(srv.url)
    assert result.status is None and result.error == "protocol_error"
    assert result.error_text is not None and expected in result.error_text
    assert "\n" not in result.error_text and len(result.error_text) <= 300


def test_a_body_that_breaks_its_framing_keeps_the_status_and_is_marked_truncated(
    post: Callable[..., HttpResult],
) -> None:
    bad_chunk = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\nzz\r\n"
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    with RawServer(_answering(bad_chunk)) as one, RawServer(_answering(short, keep_open=False)) as two:
        broken = post(one.url)
        cut = post(two.url)
    assert broken.status == 503 and broken.truncated is True and broken.body == b"busy"
    assert cut.status == 200 and cut.truncated is True and cut.body == b"only this"


def test_a_server_that_hangs_up_without_an_answer(post: Callable[..., HttpResult]) -> None:
    def hang_up(conn: socket.socket, n: int) -> None:
        read_request(conn)

    with RawServer(hang_up) as srv:
        result = post(srv.url)
    assert result.status is None and result.error == "protocol_error"
    assert "closed the connection" in (result.error_text or "")


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_failure(
    post: Callable[..., HttpResult],
) -> None:
    # Keep-alive by the protocol's rules, but the server closes after each answer.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with RawServer(_answering(answer, keep_open=False)) as srv:
        results = [post(srv.url) for _ in range(3)]
    assert [r.status for r in results] == [200, 200, 200]
    assert srv.accepted == 3


def test_header_values_http_does_not_allow_are_refused_before_sending_and_never_quoted(
    post: Callable[..., HttpResult],
) -> None:
    token = "s3cret-token "  # a trailing space: not a valid field value
    with RawServer(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as srv:
        split = post(srv.url, {"webhook-id": "r:1\r\nX-Injected: 1"})
        control = post(srv.url, {"Authorization": "Bearer tok\x01en"})
        spaced = post(srv.url, {"Authorization": f"Bearer {token}"})
    assert split.error == "http_error" and "line break" in (split.error_text or "")
    assert control.error == "http_error" and "control character" in (control.error_text or "")
    assert spaced.error == "http_error" and "whitespace" in (spaced.error_text or "")
    assert "s3cret" not in repr(spaced)
    assert srv.accepted == 0  # nothing was sent


def test_the_deadline_ends_a_stalled_answer(post: Callable[..., HttpResult]) -> None:
    def stall(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")  # and nothing more
        conn.settimeout(5)
        conn.recv(1)

    with RawServer(stall) as srv:
        result = post(srv.url, timeout_s=0.5)
    assert result.status is None and result.error == "timeout"
    assert result.latency_ms < 2000


def test_chunk_sizes_are_read_as_hex(post: Callable[..., Any]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n"
    with RawServer(_answering(answer)) as srv:
        result = post(srv.url)
    assert result.body == b"z" * 26 and result.truncated is False


def test_bytes_after_the_answer_keep_its_connection_out_of_the_pool(post: Callable[..., Any]) -> None:
    # An answer followed at once by a second, unasked one: the first is the answer; the
    # connection is not reused, so the stray one can never be read as the next request's.
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    stray = b"HTTP/1.1 500 Stray\r\nContent-Length: 5\r\n\r\nstray"
    with RawServer(_answering(ok + stray, ok + stray)) as srv:
        results = [post(srv.url) for _ in range(2)]
    assert [(r.status, r.body) for r in results] == [(200, b"ok"), (200, b"ok")]
    assert srv.accepted == 2


def test_an_http_1_0_answer_or_connection_close_is_not_kept_alive(post: Callable[..., Any]) -> None:
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    with RawServer(_answering(old, old)) as one, RawServer(_answering(closing, closing)) as two:
        results = [post(one.url), post(one.url), post(two.url), post(two.url)]
    assert [r.body for r in results] == [b"ok"] * 4
    assert one.accepted == 2 and two.accepted == 2


def test_a_tls_connection_is_closed_with_its_peer_before_the_loop_closes(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a TLS connection waits for the peer's close_notify; closing the loop first
    would leak the socket (uvloop refuses with EBUSY). The receiver here answers late."""
    cert, key = self_signed_certificate(tmp_path, "127.0.0.1")
    monkeypatch.setenv(CA_BUNDLE_ENV, cert)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    def handle(conn: socket.socket, n: int) -> None:
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            read_request(tls)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            tls.settimeout(5)
            while tls.recv(65536):  # the connection idles in the client's pool until its close_notify
                pass
            srv.stats["close_notify"] = True
            time.sleep(0.3)  # the reply comes late, as from a busy receiver
            tls.unwrap()

    loop = LoopThread("iu-core-http-tls-test")
    with RawServer(handle) as srv:
        url = srv.url.replace("http://", "https://")
        result = loop.run(
            lambda client: client.post(
                parse_endpoint(url), BODY, {}, allow_networks=LOOPBACK, timeout_s=3.0, connect_timeout_s=3.0
            ),
            8,
        )
        assert result.status == 200 and result.body == b"ok"
        loop.close()  # raised OSError (EBUSY) when the loop closed before the TLS close ended
        assert srv.stats.get("close_notify") is True
