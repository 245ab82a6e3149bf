"""The HTTP benchmark's reference senders: no database, just signed POSTs to the receiver.

- ``bare_h11``: what a minimal Python webhook sender does: asyncio + ``h11``
  over asyncio streams, ``CONNECTIONS`` keep-alive connections, each event's
  body serialised and signed (Standard Webhooks, HMAC-SHA256) and POSTed with
  the same headers as IU Core's, one request at a time per connection.
- ``raw_socket``: the same signed requests written as hand-built bytes on the
  asyncio streams (no HTTP library), for information.
- ``ceiling``: the receiver's own ceiling: one pre-built request, pipelined
  ``PIPELINE`` deep on each connection, nothing signed: what the receiver can
  take when the client costs (almost) nothing.

Each returns requests per second; each checks that every request got a 200.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import h11

from iu_core.targets.webhook import Signer, event_body

CONNECTIONS = 32
PIPELINE = 16
USER_AGENT = b"iu-core-webhooks/1"


@dataclass(frozen=True, slots=True)
class Event:
    webhook_id: str
    event_type: str
    occurred_at: dt.datetime
    payload: dict[str, Any]


def _signed(signer: Signer, event: Event) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = event_body(event.webhook_id, event.event_type, event.occurred_at, event.payload)
    stamp = int(time.time())
    headers = [
        (b"webhook-id", event.webhook_id.encode()),
        (b"webhook-timestamp", str(stamp).encode()),
        (b"webhook-signature", signer.header(event.webhook_id, stamp, body).encode()),
    ]
    return body, headers


def _run(main: Callable[[], Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


async def _fan_out(events: Sequence[Event], worker: Callable[[list[Event]], Any]) -> float:
    shares = [list(events[i::CONNECTIONS]) for i in range(CONNECTIONS)]
    start = time.perf_counter()
    await asyncio.gather(*(worker(share) for share in shares if share))
    return len(events) / (time.perf_counter() - start)


def bare_h11(host: str, port: int, path: str, secret: str, events: Sequence[Event]) -> float:
    signer = Signer([secret])
    host_header = f"{host}:{port}".encode()

    async def one_connection(share: list[Event]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        conn = h11.Connection(our_role=h11.CLIENT)
        for event in share:
            body, extra = _signed(signer, event)
            headers = [
                (b"host", host_header),
                (b"user-agent", USER_AGENT),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ]
            data = conn.send(h11.Request(method="POST", target=path, headers=headers))
            data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
            writer.write(data)
            status = 0
            while True:
                got = conn.next_event()
                if got is h11.NEED_DATA:
                    conn.receive_data(await reader.read(65536))
                    continue
                if isinstance(got, h11.Response):
                    status = got.status_code
                elif isinstance(got, h11.EndOfMessage):
                    break
            if status != 200:
                raise RuntimeError(f"bare client: HTTP {status}")
            conn.start_next_cycle()
        writer.close()

    return float(_run(lambda: _fan_out(events, one_connection)))


async def _read_answer(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"raw client: {head[:40]!r}")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":", 1)[1]))


def raw_socket(host: str, port: int, path: str, secret: str, events: Sequence[Event]) -> float:
    signer = Signer([secret])
    start_line = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()

    async def one_connection(share: list[Event]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        for event in share:
            body, extra = _signed(signer, event)
            head = start_line + b"User-Agent: " + USER_AGENT + b"\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            head += b"".join(name + b": " + value + b"\r\n" for name, value in extra)
            writer.write(head + b"\r\n" + body)
            await _read_answer(reader)
        writer.close()

    return float(_run(lambda: _fan_out(events, one_connection)))


def ceiling(host: str, port: int, path: str, secret: str, events: Sequence[Event]) -> float:
    signer = Signer([secret])
    body, extra = _signed(signer, events[0])
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
    head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in extra)
    request = head + b"\r\n" + body

    async def one_connection(share: list[Event]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        left = len(share)
        while left:
            burst = min(PIPELINE, left)
            writer.write(request * burst)
            for _ in range(burst):
                await _read_answer(reader)
            left -= burst
        writer.close()

    return float(_run(lambda: _fan_out(events, one_connection)))
