"""The HTTP benchmark's loopback receiver (``python -m bench.http_receiver``).

Like ``bench.receiver`` (raw asyncio protocol, uvloop when installed,
keep-alive, pipelining, 200 at once for any path, so the Directus flow trigger
path too), and it stamps each request's ``webhook-id`` with the time it was
received: with ``--log FILE`` it appends ``<epoch seconds> <webhook-id>``
lines, flushed every 0.2 s, so the bench can time commit -> receipt. Binds
127.0.0.1 only, prints ``PORT <n>``; on SIGTERM prints ``COUNT <n>`` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from typing import IO

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _State:
    requests = 0
    log: IO[str] | None = None


class Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        answers = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            length = 0
            webhook_id = b""
            for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                key = name.strip().lower()
                if key == b"content-length":
                    length = int(value.strip() or b"0")
                elif key == b"webhook-id":
                    webhook_id = value.strip()
            total = end + 4 + length
            if len(self.buffer) < total:
                break
            del self.buffer[:total]
            _State.requests += 1
            answers += 1
            if _State.log is not None and webhook_id:
                _State.log.write(f"{time.time():.6f} {webhook_id.decode('latin-1')}\n")
        if answers and self.transport is not None:
            self.transport.write(RESPONSE * answers)


async def serve(port: int, log_path: str | None) -> None:
    loop = asyncio.get_running_loop()
    if log_path:
        _State.log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115  # closed below

        def flush() -> None:
            if _State.log is not None:
                _State.log.flush()
            loop.call_later(0.2, flush)

        flush()
    server = await loop.create_server(Receiver, host="127.0.0.1", port=port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if _State.log is not None:
        _State.log.close()
    print(f"COUNT {_State.requests}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_receiver")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--log", default=None, help="append '<epoch> <webhook-id>' per request")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.log))
    else:
        uvloop.run(serve(args.port, args.log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
