"""One bounded HTTP POST to a checked address, over a shared keep-alive pool.

How the connection reaches the checked address (and no other):

1. ``post`` resolves the URL's host ONCE (``resolve_checked``) and checks every
   address against the route's policy, before any socket exists. A refusal
   ends the attempt there.
2. It then pins the checked addresses in a thread-local ``_Attempt`` and hands
   the request to an ``httpcore.ConnectionPool`` whose network backend
   (``_PinnedBackend``) opens TCP connections to those pinned IP literals only
   — it never resolves a name, and with no pinned addresses for the host it
   refuses (fail closed). The URL keeps the real host name, so the Host header,
   TLS SNI and certificate verification all use the name, as for any client.
3. A keep-alive connection is reused only for the same (scheme, host, port)
   within one pool, and there is one pool per distinct ``allow_networks`` set,
   so a reused connection's peer was checked under the same policy.

httpcore (httpx's engine) is used directly: it never follows redirects, never
reads proxy settings from the environment (a proxy would bypass the policy),
and its sync pool is thread-safe. The thread-local works because the sync
pool connects, writes and reads on the calling thread.

Time and memory bounds: ``connect_timeout_s`` bounds connecting; ``timeout_s``
is a deadline for the WHOLE attempt — every socket read and write is given at
most the time left (``_DeadlineStream``), so a server trickling one byte a
second cannot hold a worker past it. The response body is streamed and
reading stops at ``BODY_CAP`` bytes (the connection is then closed, not
drained), so a 50 MB answer costs at most one extra read buffer.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpcore
import httpx

from iu_core.errors import one_line
from iu_core.targets.address_policy import AddressRefused, IPNetwork, resolve_checked

__all__ = ["BODY_CAP", "HttpResult", "post", "ssl_context"]

BODY_CAP = 16 * 1024
_USER_AGENT = "iu-core-webhooks/1"


@dataclass
class _Attempt:
    host: str
    addresses: list[str]
    deadline: float  # time.monotonic() by which the whole attempt ends


_local = threading.local()


def _current() -> _Attempt | None:
    attempt: _Attempt | None = getattr(_local, "attempt", None)
    return attempt


def _left(timeout: float | None) -> float | None:
    """``timeout`` clamped to the time left before the attempt's deadline."""
    attempt = _current()
    if attempt is None:
        return timeout
    left = attempt.deadline - time.monotonic()
    if left <= 0:
        return 0.0
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the attempt's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = _left(timeout)
        if left == 0.0:
            raise httpcore.ReadTimeout("total deadline exceeded while reading")
        return self._inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = _left(timeout)
        if left == 0.0:
            raise httpcore.WriteTimeout("total deadline exceeded while writing")
        self._inner.write(buffer, left)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the addresses the current attempt checked; never resolves."""

    def __init__(self) -> None:
        self._sockets = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        attempt = _current()
        if attempt is None or attempt.host != host:
            raise httpcore.ConnectError(f"no checked address for host {host!r} (refusing to resolve it)")
        last: Exception | None = None
        for ip in attempt.addresses:  # IP literals: create_connection does no DNS lookup
            left = _left(timeout)
            if left == 0.0:
                raise httpcore.ConnectTimeout("total deadline exceeded while connecting")
            try:
                stream = self._sockets.connect_tcp(ip, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream)
        assert last is not None
        raise last

    def sleep(self, seconds: float) -> None:
        self._sockets.sleep(seconds)


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


_pools: dict[frozenset[IPNetwork], httpcore.ConnectionPool] = {}
_pools_lock = threading.Lock()


CA_BUNDLE_ENV = "IU_CORE_CA_BUNDLE"


def ssl_context() -> ssl.SSLContext:
    """Certificates are verified against the host NAME (SNI), with certifi's CAs or $IU_CORE_CA_BUNDLE."""
    return ssl.create_default_context(cafile=os.environ.get(CA_BUNDLE_ENV) or certifi.where())


def _pool_for(allow_networks: Sequence[IPNetwork]) -> httpcore.ConnectionPool:
    key = frozenset(allow_networks)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = httpcore.ConnectionPool(
                ssl_context=ssl_context(),
                network_backend=_PinnedBackend(),
                retries=0,
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=5.0,
            )
            _pools[key] = pool
        return pool


def close_pools() -> None:
    """Close every pooled connection (tests; process exit closes them anyway)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, httpcore.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, httpcore.TimeoutException):
        return "timeout"
    if isinstance(exc, httpcore.ConnectError):
        return "connect_error"
    if isinstance(exc, httpcore.RemoteProtocolError):
        return "protocol_error"
    if isinstance(exc, httpcore.NetworkError):
        return "network_error"
    return "http_error"


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_networks: Sequence[IPNetwork],
    timeout_s: float,
    connect_timeout_s: float,
) -> HttpResult:
    """POST ``body`` to ``url`` within ``timeout_s``; never raises for network trouble."""
    started = time.monotonic()
    deadline = started + timeout_s

    def elapsed() -> float:
        return round((time.monotonic() - started) * 1000, 1)

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return HttpResult(status=None, refused=AddressRefused(f"invalid target URL: {exc}"))
    if parsed.scheme not in ("http", "https") or not parsed.host:
        refusal = AddressRefused("target URL must be http:// or https:// with a host")
        return HttpResult(status=None, refused=refusal, latency_ms=elapsed())
    if parsed.userinfo:
        # Credentials belong in the route's secret/token, never in a URL that is listed and logged.
        refusal = AddressRefused("target URL must not contain user:password@")
        return HttpResult(status=None, refused=refusal, latency_ms=elapsed())
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = parsed.raw_host.decode("ascii")
    try:
        addresses = resolve_checked(host, port, allow_networks)
    except AddressRefused as refusal:
        return HttpResult(status=None, refused=refusal, latency_ms=elapsed())

    request_headers = [
        (b"Host", parsed.netloc),
        (b"User-Agent", _USER_AGENT.encode()),
        (b"Content-Type", b"application/json"),
        (b"Content-Length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
    ]
    target = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=port, target=parsed.raw_path)
    extensions = {
        "timeout": {
            "connect": min(connect_timeout_s, timeout_s),
            "read": timeout_s,
            "write": timeout_s,
            "pool": timeout_s,
        }
    }
    _local.attempt = _Attempt(host=host, addresses=addresses, deadline=deadline)
    status: int | None = None
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []
    size = 0
    truncated = False
    address: str | None = None
    try:
        with _pool_for(allow_networks).stream(
            "POST", target, headers=request_headers, content=body, extensions=extensions
        ) as response:
            status = response.status
            response_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            stream = response.extensions.get("network_stream")
            if stream is not None:
                peer = stream.get_extra_info("server_addr")
                address = str(peer[0]) if peer else None
            try:
                for chunk in response.iter_stream():
                    chunks.append(chunk[: BODY_CAP + 1 - size])
                    size += len(chunk)
                    if size > BODY_CAP:
                        truncated = True
                        break  # stop reading: closing the response closes the connection
            except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError):
                truncated = True  # the status line arrived; a body that stalls is cut off
    except (httpcore.ConnectionNotAvailable, httpcore.UnsupportedProtocol) as exc:
        return HttpResult(
            status=None, error="http_error", error_text=one_line(str(exc), 300), latency_ms=elapsed()
        )
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        if status is None:
            text = one_line(str(exc), 300) or type(exc).__name__
            return HttpResult(status=None, error=_error_kind(exc), error_text=text, latency_ms=elapsed())
        truncated = True
    finally:
        _local.attempt = None
    data = b"".join(chunks)[:BODY_CAP]
    return HttpResult(
        status=status,
        headers=response_headers,
        body=data,
        truncated=truncated,
        latency_ms=elapsed(),
        address=address,
    )
