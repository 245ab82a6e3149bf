"""The one HTTP client of the HTTP targets: asyncio, keep-alive, ``httptools``, the SSRF-pinned resolver.

The worker's dispatcher, ``iu-core deliver test``, the targets' ``deliver``
and the contract suite all POST through ``AsyncHttpClient.post`` (the
synchronous callers through ``sync.run``, which runs the same coroutine on a
loop thread). Answers are parsed by ``httptools`` (llhttp, the parser of
Node.js: status line, headers, Content-Length and chunked bodies, 1xx interim
answers, the connection's keep-alive state); ``_Reading`` adds what llhttp
leaves to its caller: a body delimited by the server closing the connection
ends at that close. Parsing an answer costs llhttp about 3.5 µs of CPU, h11's
pure-Python state machine about 70 µs (``python -m bench http`` shows the
difference as worker CPU per delivery). The request has one fixed shape
(POST, JSON, Content-Length) and is written as bytes, every header value
checked. This module only moves bytes and keeps the bounds:

- **Pinned addresses.** A connection resolves its host ONCE and checks every
  address against the route's ``allow_networks``
  (``address_policy.resolve_checked``), then connects to a checked IP
  literal; it never resolves again. A pool is keyed by (scheme,
  host, port, allow_networks), so a reused connection's peer was checked under
  the same policy.
- **TLS** with certificate verification against the host NAME (SNI), with
  certifi's CAs or ``$IU_CORE_CA_BUNDLE``.
- **No redirects** (a 3xx is just a status), no proxies from the environment.
- **One deadline per attempt**: connecting, writing and reading the answer all
  end by ``timeout_s`` after the attempt starts; connecting alone by
  ``connect_timeout_s``. What arrived by the deadline is kept (a status with a
  truncated body), nothing waits longer.
- **Bounded answers**: a status line and headers still incomplete after
  ``HEADER_CAP`` bytes are a protocol error (checked after every read, so
  the head held stays under the cap plus one 64 KiB read), never a stall;
  the body is cut at ``BODY_CAP`` (the connection is then closed, not
  drained).

Why not a general client: the worker sends one small POST and reads one
bounded answer, thousands of times a second; httpx.AsyncClient measured
~1,100 requests/s on this machine, a parser over asyncio streams several times that.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import certifi
import httptools

from iu_core.errors import one_line
from iu_core.targets.address_policy import AddressRefused, IPNetwork, resolve_checked

__all__ = [
    "BODY_CAP",
    "CA_BUNDLE_ENV",
    "HEADER_CAP",
    "AsyncHttpClient",
    "Endpoint",
    "HttpResult",
    "new_event_loop",
    "parse_endpoint",
    "ssl_context",
]

BODY_CAP = 16 * 1024  # response bytes kept; a longer body is cut and its connection closed
HEADER_CAP = 128 * 1024  # a status line and headers larger than this are a protocol error
CA_BUNDLE_ENV = "IU_CORE_CA_BUNDLE"
_USER_AGENT = b"iu-core-webhooks/1"
_READ_SIZE = 64 * 1024
_IDLE_KEEP_S = 5.0  # an idle pooled connection older than this is closed, not reused
_MAX_IDLE_PER_POOL = 256
_CLOSE_GRACE_S = 1.0  # a TLS close waits for the peer's close_notify this long, then the socket is dropped


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What one POST produced. ``error`` is set when no complete status line arrived."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False  # body cut at BODY_CAP or by the deadline
    latency_ms: float = 0.0
    address: str | None = None  # the peer IP actually connected
    error: str | None = None  # connect_error, connect_timeout, timeout, network_error, ...
    error_text: str | None = None
    refused: AddressRefused | None = None  # the address policy refused before connecting


def ssl_context() -> ssl.SSLContext:
    """Certificates are verified against the host NAME (SNI), with certifi's CAs or $IU_CORE_CA_BUNDLE."""
    return _ssl_context(os.environ.get(CA_BUNDLE_ENV) or certifi.where())


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str) -> ssl.SSLContext:
    # Loading a CA bundle takes milliseconds: once per bundle, not once per connection.
    return ssl.create_default_context(cafile=cafile)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (about twice the requests per CPU second), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A checked-for-shape target URL: where to connect and what to put in the request line."""

    scheme: str
    host: str  # as written (brackets stripped for IPv6 literals)
    port: int
    host_header: bytes
    target: bytes  # path + query


def parse_endpoint(url: str) -> Endpoint:
    """Parse a target URL once per route; raise ``AddressRefused`` when it cannot be sent to."""
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise AddressRefused("target URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"invalid target URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("target URL must be http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        # Credentials belong in the route's secret/token, never in a URL that is listed and logged.
        raise AddressRefused("target URL must not contain user:password@")
    default = 443 if parts.scheme == "https" else 80
    port = port or default
    host = parts.hostname
    try:
        host_header = parts.netloc.encode("ascii")
        target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode("ascii")
    except UnicodeEncodeError as exc:
        raise AddressRefused("target URL must be ASCII (punycode the host, percent-encode the path)") from exc
    return Endpoint(parts.scheme, host, port, host_header, target)


class _RequestError(Exception):
    """The request cannot be written (a header value HTTP does not allow)."""


class _ClosedEarly(Exception):
    """The server closed the connection before the first byte of an answer."""


class _Closing:
    """Connections on their way out. Closing a TLS connection sends close_notify and waits for
    the peer's, so it ends on a later loop turn; a loop closed under it leaks the socket
    (uvloop: ``EBUSY`` and "Event loop is closed"). Each close is therefore a small task that
    waits ``_CLOSE_GRACE_S`` and then aborts, and ``drain`` waits for all of them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        task = asyncio.get_running_loop().create_task(self._finish(writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _finish(writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE_S)
        except Exception:  # the peer never answered the close, or reset it: drop the socket
            writer.transport.abort()
            await asyncio.sleep(0)  # the abort's connection_lost runs on the next turn

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class _Conn:
    __slots__ = ("address", "closing", "idle_since", "reader", "writer")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str, closing: _Closing
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.address = address
        self.closing = closing
        self.idle_since = 0.0

    def close(self) -> None:
        self.closing.close(self.writer)


class _Pool:
    """Idle keep-alive connections to one (scheme, host, port) under one address policy."""

    def __init__(self, endpoint: Endpoint, allow: Sequence[IPNetwork], closing: _Closing) -> None:
        self.endpoint = endpoint
        self.allow = tuple(allow)
        self.closing = closing
        self.idle: list[_Conn] = []

    def take(self) -> _Conn | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if (
                now - conn.idle_since < _IDLE_KEEP_S
                and not conn.reader.at_eof()
                and not conn.writer.is_closing()
            ):
                return conn
            conn.close()
        return None

    def give_back(self, conn: _Conn) -> None:
        if len(self.idle) >= _MAX_IDLE_PER_POOL:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    async def open(self, connect_timeout_s: float) -> _Conn:
        ep = self.endpoint
        # Raises AddressRefused: the name did not resolve, or one of its addresses is refused.
        addresses = await asyncio.wait_for(resolve_checked(ep.host, ep.port, self.allow), connect_timeout_s)
        context: ssl.SSLContext | None = ssl_context() if ep.scheme == "https" else None
        last: BaseException | None = None
        for ip in addresses:  # IP literals: no second lookup can swap the peer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        ip, ep.port, ssl=context, server_hostname=ep.host if context else None
                    ),
                    connect_timeout_s,
                )
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                last = exc
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Conn(reader, writer, ip, self.closing)
        assert last is not None
        raise last

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def _request(ep: Endpoint, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The request's bytes (a fixed shape: POST, JSON, Content-Length), every header value checked."""
    lines = [
        b"POST " + ep.target + b" HTTP/1.1",
        b"Host: " + ep.host_header,
        b"User-Agent: " + _USER_AGENT,
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
    ]
    for name, value in headers.items():
        if not value.isprintable():  # CR, LF, NUL, any other control character
            raise _RequestError(f"header {name} holds a line break or control character")
        if value != value.strip():
            raise _RequestError(f"header {name} starts or ends with whitespace")
        try:
            lines.append(name.encode("latin-1") + b": " + value.encode("latin-1"))
        except UnicodeEncodeError as exc:
            raise _RequestError(f"header {name} holds a character outside Latin-1") from exc
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@dataclass(slots=True)
class _Answer:
    """What has arrived so far; kept when the deadline or an error ends the exchange."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    complete: bool = False  # the whole message arrived (the body may still have been cut)
    truncated: bool = False

    def body(self) -> bytes:
        return b"".join(self.parts)[:BODY_CAP]


class _ProtocolError(Exception):
    """The answer breaks HTTP/1.1 (or its head outgrows ``HEADER_CAP``)."""


class _Reading:
    """llhttp's callbacks for one answer: fill ``answer``, skip 1xx interim answers.

    llhttp is told nothing of the request; a POST's answer has a body unless
    its status says not (204, 304) and llhttp frames it. What it leaves to the
    caller is the end of the stream: a body with neither Content-Length nor
    chunked framing ends when the server closes (``close_delimited``).
    """

    __slots__ = ("answer", "close_delimited", "head_bytes", "keep_alive", "parser", "raw_headers", "stray")

    def __init__(self, answer: _Answer) -> None:
        self.answer = answer
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.close_delimited = False
        self.head_bytes = 0
        self.stray = False  # bytes after the answer: the connection is not reused
        self.keep_alive = False  # read when the answer completes (llhttp forgets it after)
        self.parser = httptools.HttpResponseParser(self)

    def feed(self, data: bytes) -> None:
        if self.answer.status is None:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise _ProtocolError(f"malformed response: {exc}") from None
        except httptools.HttpParserUpgrade:  # 101: the request asked for no upgrade
            raise _ProtocolError("malformed response: 101 Switching Protocols to a plain POST") from None
        if self.answer.status is None and self.head_bytes > HEADER_CAP:
            raise _ProtocolError(f"response headers exceed {HEADER_CAP} bytes")

    def on_message_begin(self) -> None:
        if self.answer.complete:
            self.stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.stray:
            self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if self.stray:  # an unasked second answer: never read as this one
            return
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self.raw_headers = []
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            key, text = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1").strip()
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.answer.status = status
        self.answer.headers = headers
        self.close_delimited = (
            status not in (204, 304)
            and "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, body: bytes) -> None:
        answer = self.answer
        if self.stray:
            return
        answer.parts.append(body[: max(BODY_CAP - answer.size, 0)])
        answer.size += len(body)

    def on_message_complete(self) -> None:
        if self.answer.status is not None and not self.answer.complete:
            self.answer.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    def reusable(self) -> bool:
        return self.answer.complete and self.keep_alive and not self.stray


async def _exchange(conn: _Conn, request: bytes, answer: _Answer) -> _Reading:
    """Write the request and read its answer into ``answer`` (llhttp parses; this only moves bytes)."""
    reading = _Reading(answer)
    conn.writer.write(request)
    heard = False  # any byte of an answer
    while not answer.complete:
        data = await conn.reader.read(_READ_SIZE)
        if not data:
            if not heard:
                raise _ClosedEarly("the server closed the connection without an answer")
            if answer.status is None:
                raise _ProtocolError("malformed response: the server closed the connection mid-head")
            if reading.close_delimited:
                answer.complete = True  # the close is the body's end
            else:
                answer.truncated = True  # the framing promised more than arrived
            return reading
        heard = True
        reading.feed(data)
        if answer.size > BODY_CAP:
            answer.truncated = True  # stop reading: the connection is closed, not drained
            return reading
    return reading


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _error(kind: str, text: str, started: float, address: str | None = None) -> HttpResult:
    return HttpResult(
        status=None, error=kind, error_text=one_line(text, 300), latency_ms=_ms(started), address=address
    )


class AsyncHttpClient:
    """Pools of keep-alive connections; one instance per event loop."""

    def __init__(self) -> None:
        self._pools: dict[tuple[Endpoint, frozenset[IPNetwork]], _Pool] = {}
        self._closing = _Closing()

    def _pool(self, ep: Endpoint, allow: Sequence[IPNetwork]) -> _Pool:
        key = (ep, frozenset(allow))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(ep, allow, self._closing)
        return pool

    async def post(
        self,
        ep: Endpoint,
        body: bytes,
        headers: Mapping[str, str],
        *,
        allow_networks: Sequence[IPNetwork],
        timeout_s: float,
        connect_timeout_s: float,
    ) -> HttpResult:
        """POST within ``timeout_s``; never raises for network or protocol trouble."""
        started = time.monotonic()
        pool = self._pool(ep, allow_networks)
        try:
            request = _request(ep, body, headers)
        except _RequestError as exc:
            return _error("http_error", str(exc), started)
        conn = pool.take()
        reused = conn is not None
        if conn is None:
            try:
                conn = await pool.open(min(connect_timeout_s, timeout_s))
            except AddressRefused as refusal:
                return HttpResult(status=None, refused=refusal, latency_ms=_ms(started))
            except TimeoutError:
                return _error("connect_timeout", "connecting took too long", started)
            except ssl.SSLError as exc:
                return _error("connect_error", f"TLS: {exc.reason or exc}", started)
            except OSError as exc:
                return _error("connect_error", str(exc) or type(exc).__name__, started)
        answer = _Answer()
        reading: _Reading | None = None
        left = timeout_s - (time.monotonic() - started)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                try:
                    reading = await _exchange(conn, request, answer)
                except (_ClosedEarly, ConnectionResetError, BrokenPipeError):
                    if not reused or answer.status is not None:
                        raise
                    # A pooled connection the server had closed: the request was not read; one fresh try.
                    conn.close()
                    conn = await pool.open(min(connect_timeout_s, max(left, 0.0)))
                    reading = await _exchange(conn, request, answer)
        except TimeoutError:
            conn.close()
            if answer.status is None:
                return _error("timeout", f"no complete answer within {timeout_s:g} s", started, conn.address)
            answer.truncated = True  # a status arrived; the body that stalled is cut off
        except _ClosedEarly as exc:
            conn.close()
            return _error("protocol_error", str(exc), started, conn.address)
        except _ProtocolError as exc:
            conn.close()
            if answer.status is None:
                return _error("protocol_error", str(exc), started, conn.address)
            answer.truncated = True  # a status arrived; a body that breaks off is cut there
        except AddressRefused as refusal:
            return HttpResult(status=None, refused=refusal, latency_ms=_ms(started))
        except asyncio.CancelledError:
            conn.close()  # a drain cancelled this delivery: its connection is not left open
            raise
        except OSError as exc:
            conn.close()
            if answer.status is None:
                return _error("network_error", str(exc) or type(exc).__name__, started, conn.address)
            answer.truncated = True
        else:
            if reading is not None and reading.reusable() and not answer.truncated:
                pool.give_back(conn)
            else:
                conn.close()  # cut body, Connection: close, or a close-delimited body
        assert answer.status is not None
        return HttpResult(
            status=answer.status,
            headers=answer.headers,
            body=answer.body(),
            truncated=answer.truncated,
            latency_ms=_ms(started),
            address=conn.address,
        )

    async def aclose(self) -> None:
        """Close every pooled connection and wait (bounded) until each one closed, also those
        dropped earlier; call it before the loop is closed."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await self._closing.drain()
