"""The worker's settings and its running totals."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field, fields


def default_worker_id() -> str:
    """host:pid:random — unique per process, readable in lease_owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How one worker process runs.

    concurrency      database lanes (threads, one connection each) running batches
    batch_size       deliveries claimed per round trip
    poll_interval    seconds between polls when no notification arrives
    routes           only these route codes (None: every route)
    http_concurrency deliveries in flight at once to non-SQL targets, over all routes
                     (each route is also bounded by its max_in_flight)
    lease_margin_s   a lease lasts the route's timeouts plus this margin
    sweep_interval_s how often held deliveries are re-checked (safety net)
    drain_timeout_s  on SIGTERM: how long in-flight deliveries may take to finish
    worker_id        written as lease_owner
    prune            prune finished history by the retention settings (one worker at a time)
    durable_sql_commits  wait for the WAL flush when a sql_function batch commits
                     (default False: the batch is one transaction, so a crash of the
                     server can only undo whole batches, which are delivered again)
    """

    concurrency: int = 1
    batch_size: int = 500
    poll_interval: float = 1.0
    routes: tuple[str, ...] | None = None
    http_concurrency: int = 256
    lease_margin_s: float = 30.0
    sweep_interval_s: float = 5.0
    drain_timeout_s: float = 30.0
    worker_id: str = field(default_factory=default_worker_id)
    prune: bool = True
    durable_sql_commits: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if self.http_concurrency < 1:
            raise ValueError("http_concurrency must be at least 1")


@dataclass(slots=True)
class WorkerStats:
    """Totals of one run (thread-safe increments through ``add``)."""

    decided: int = 0
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    dead: int = 0
    fenced: int = 0
    batches: int = 0
    claims: int = 0  # claims that returned deliveries
    round_trips: int = 0  # statements for claims and records of Python-dispatched kinds
    released: int = 0  # claimed deliveries given back unsent (the route went away)
    reconnects: int = 0
    elapsed_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    @property
    def delivered(self) -> int:
        """Deliveries that reached a final outcome other than dead (sent + skipped)."""
        return self.sent + self.skipped

    def as_dict(self) -> dict[str, float | int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
