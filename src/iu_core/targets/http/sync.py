"""The synchronous face of the asyncio HTTP path: the same coroutine, run on a loop thread.

``iu-core deliver test``, a target's ``deliver`` and the contract suite are
synchronous callers; they do not get a second HTTP stack. ``run(fn)`` hands
``fn(client)`` — a coroutine on the one ``AsyncHttpClient`` — to an event loop
that a daemon thread of this process owns, and waits for its result. Callers
on many threads share that loop and its keep-alive pools (the loop serialises
them; each attempt keeps its own deadline inside the coroutine).

Why a loop thread and not ``asyncio.run`` per call: ``asyncio.run`` builds and
tears down a loop each time and cannot keep a connection alive across calls
(measured on this machine, 200 deliveries to a loopback receiver: see
BENCHMARKS.md, "One HTTP stack").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from iu_core.targets.http.client import AsyncHttpClient, new_event_loop

__all__ = ["LoopThread", "close", "run"]

T = TypeVar("T")


class LoopThread:
    """One event loop on a daemon thread, with one ``AsyncHttpClient``; started on first use."""

    def __init__(self, name: str = "iu-core-http-sync") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: AsyncHttpClient | None = None
        self._pid = 0

    def _started(self) -> tuple[asyncio.AbstractEventLoop, AsyncHttpClient]:
        with self._lock:
            if self._loop is None or self._client is None or self._pid != os.getpid():
                # First use, or a forked child: the parent's loop thread does not exist here.
                loop = new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread, self._client = loop, thread, AsyncHttpClient()
                self._pid = os.getpid()
            return self._loop, self._client

    def run(self, fn: Callable[[AsyncHttpClient], Coroutine[Any, Any, T]], timeout: float) -> T:
        """``fn(client)`` on the loop thread; its result, or ``TimeoutError`` after ``timeout`` s."""
        loop, client = self._started()
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop: await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(fn(client), loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TimeoutError(f"no result within {timeout:g} s") from exc

    def close(self) -> None:
        """Close the pooled connections and stop the loop (the next ``run`` starts a new one)."""
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None or thread is None or client is None or self._pid != os.getpid():
            return

        asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


_shared = LoopThread()


def run(fn: Callable[[AsyncHttpClient], Coroutine[Any, Any, T]], timeout: float) -> T:
    """Run ``fn(client)`` on this process's shared HTTP loop thread and return its result."""
    return _shared.run(fn, timeout)


def close() -> None:
    """Close this process's shared HTTP connections (tests; process exit closes them anyway)."""
    _shared.close()
