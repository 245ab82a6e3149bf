"""An asyncio HTTP/1.1 keep-alive client for webhook POSTs, with the SSRF-pinned resolver.

Why hand-written: the worker sends one small POST and reads one bounded
answer, thousands of times a second. A general client spends most of its time
on features this never uses (measured on this machine: httpx.AsyncClient
~1,100 requests/s, h11 over asyncio streams 2.5-7k/s, this writer/reader well
above the receiver's own ceiling). What it keeps of a real client:

- **Pinned addresses.** A connection resolves its host ONCE (``getaddrinfo``
  in the loop's executor), checks every address against the route's
  ``allow_networks`` (``address_policy.check_resolved``) and connects to a
  checked IP literal; it never resolves again. A pool is keyed by (scheme,
  host, port, allow_networks), so a reused connection's peer was checked under
  the same policy.
- **TLS** with certificate verification against the host NAME (SNI), the same
  context as the synchronous transport (certifi or ``$IU_CORE_CA_BUNDLE``).
- **No redirects** (a 3xx is just a status), no proxies from the environment.
- **One deadline per attempt**: connecting, writing and reading the answer all
  end by ``timeout_s`` after the attempt starts; connecting alone by
  ``connect_timeout_s``.
- **Bounded answers**: the header block is cut at ``HEADER_CAP`` (a protocol
  error, never a stall), the body at ``BODY_CAP`` (the connection is then
  closed, not drained). Chunked, Content-Length and close-delimited bodies are
  read; 1xx interim answers are skipped.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from iu_core.targets.address_policy import AddressRefused, IPNetwork, check_resolved
from iu_core.targets.transport import BODY_CAP, HttpResult, ssl_context

__all__ = ["HEADER_CAP", "AsyncHttpClient", "Endpoint", "parse_endpoint"]

HEADER_CAP = 128 * 1024  # a status line and headers larger than this are a protocol error
_USER_AGENT = b"iu-core-webhooks/1"
_IDLE_KEEP_S = 5.0  # an idle pooled connection older than this is closed, not reused
_MAX_IDLE_PER_POOL = 256


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


class _ProtocolError(Exception):
    pass


class _Conn:
    __slots__ = ("address", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        self.reader = reader
        self.writer = writer
        self.address = address
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Idle keep-alive connections to one (scheme, host, port) under one address policy."""

    def __init__(self, endpoint: Endpoint, allow: Sequence[IPNetwork]) -> None:
        self.endpoint = endpoint
        self.allow = tuple(allow)
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
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
                connect_timeout_s,
            )
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"cannot resolve host {ep.host!r}: {exc}", retryable=True) from exc
        addresses = check_resolved(ep.host, infos, self.allow)  # raises AddressRefused
        context: ssl.SSLContext | None = ssl_context() if ep.scheme == "https" else None
        last: BaseException | None = None
        for ip in addresses:  # IP literals: no second lookup can swap the peer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        ip,
                        ep.port,
                        ssl=context,
                        server_hostname=ep.host if context else None,
                        limit=HEADER_CAP,
                    ),
                    connect_timeout_s,
                )
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                last = exc
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Conn(reader, writer, ip)
        assert last is not None
        raise last

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def _request_bytes(ep: Endpoint, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [
        b"POST " + ep.target + b" HTTP/1.1",
        b"Host: " + ep.host_header,
        b"User-Agent: " + _USER_AGENT,
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
    ]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\x00" in value:
            raise _ProtocolError(f"header {name} holds a line break or NUL")
        lines.append(name.encode("latin-1") + b": " + value.encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise _ProtocolError(f"response headers exceed {HEADER_CAP} bytes") from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectionResetError("connection closed before a complete response") from exc
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not status_line[1].isdigit():
            raise _ProtocolError("malformed status line")
        status = int(status_line[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise _ProtocolError("malformed header line")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if 100 <= status < 200:
            continue  # interim answer (100 Continue, 103 Early Hints): the real one follows
        return status, headers


async def _read_body(
    reader: asyncio.StreamReader, status: int, headers: Mapping[str, str]
) -> tuple[bytes, bool, bool]:
    """(body up to BODY_CAP, truncated, reusable connection)."""
    if status in (204, 304):
        return b"", False, True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                n = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _ProtocolError("malformed chunk size") from exc
            if n == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts), False, True
            if size + n > BODY_CAP:
                parts.append(await reader.readexactly(min(n, BODY_CAP - size)))
                return b"".join(parts), True, False
            parts.append(await reader.readexactly(n))
            size += n
            await reader.readexactly(2)
    length_text = headers.get("content-length")
    if length_text is not None:
        try:
            length = int(length_text.split(",")[0])
        except ValueError as exc:
            raise _ProtocolError("malformed Content-Length") from exc
        if length > BODY_CAP:
            return await reader.readexactly(BODY_CAP), True, False
        return await reader.readexactly(length), False, True
    data = await reader.read(BODY_CAP + 1)  # close-delimited: whatever comes, then the connection ends
    chunks = [data]
    size = len(data)
    while data and size <= BODY_CAP:
        data = await reader.read(BODY_CAP + 1 - size)
        chunks.append(data)
        size += len(data)
    body = b"".join(chunks)
    return body[:BODY_CAP], size > BODY_CAP, False


def _error(kind: str, text: str, started: float, address: str | None = None) -> HttpResult:
    latency = round((time.monotonic() - started) * 1000, 1)
    return HttpResult(status=None, error=kind, error_text=text[:300], latency_ms=latency, address=address)


class AsyncHttpClient:
    """Pools of keep-alive connections; one instance per event loop."""

    def __init__(self) -> None:
        self._pools: dict[tuple[Endpoint, frozenset[IPNetwork]], _Pool] = {}

    def _pool(self, ep: Endpoint, allow: Sequence[IPNetwork]) -> _Pool:
        key = (ep, frozenset(allow))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(ep, allow)
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
            request = _request_bytes(ep, body, headers)
        except _ProtocolError as exc:
            return _error("http_error", str(exc), started)
        conn = pool.take()
        reused = conn is not None
        if conn is None:
            try:
                conn = await pool.open(min(connect_timeout_s, timeout_s))
            except AddressRefused as refusal:
                return HttpResult(
                    status=None, refused=refusal, latency_ms=round((time.monotonic() - started) * 1000, 1)
                )
            except TimeoutError:
                return _error("connect_timeout", "connecting took too long", started)
            except ssl.SSLError as exc:
                return _error("connect_error", f"TLS: {exc.reason or exc}", started)
            except OSError as exc:
                return _error("connect_error", str(exc) or type(exc).__name__, started)
        left = timeout_s - (time.monotonic() - started)
        try:
            async with asyncio.timeout(max(left, 0.0)):
                conn.writer.write(request)
                status: int | None = None
                try:
                    status, resp_headers = await _read_head(conn.reader)
                except ConnectionResetError:
                    if not reused:
                        raise
                    # A pooled connection the server had closed: the request was not read; one fresh try.
                    conn.close()
                    conn = await pool.open(min(connect_timeout_s, max(left, 0.0)))
                    conn.writer.write(request)
                    status, resp_headers = await _read_head(conn.reader)
                try:
                    body_read, truncated, reusable = await _read_body(conn.reader, status, resp_headers)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, _ProtocolError, OSError):
                    body_read, truncated, reusable = b"", True, False
        except TimeoutError:
            conn.close()
            if status is not None:
                return HttpResult(
                    status=status,
                    headers=resp_headers,
                    truncated=True,
                    address=conn.address,
                    latency_ms=round((time.monotonic() - started) * 1000, 1),
                )
            return _error("timeout", f"no complete answer within {timeout_s:g} s", started, conn.address)
        except _ProtocolError as exc:
            conn.close()
            return _error("protocol_error", str(exc), started, conn.address)
        except AddressRefused as refusal:
            return HttpResult(
                status=None, refused=refusal, latency_ms=round((time.monotonic() - started) * 1000, 1)
            )
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.close()
            return _error("network_error", str(exc) or type(exc).__name__, started, conn.address)
        if reusable and resp_headers.get("connection", "").lower() != "close":
            pool.give_back(conn)
        else:
            conn.close()
        return HttpResult(
            status=status,
            headers=resp_headers,
            body=body_read,
            truncated=truncated,
            latency_ms=round((time.monotonic() - started) * 1000, 1),
            address=conn.address,
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
