"""The one interface between the ``workflow`` target and a PostgreSQL-backed job engine.

An engine adapter enqueues jobs on the caller's connection, inside the
caller's transaction: the job rows commit or roll back together with the
delivery's attempt row and state. It never commits, rolls back or opens a
connection of its own for an enqueue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, runtime_checkable

import psycopg

__all__ = ["EngineJob", "InstallResult", "QueueDepth", "WorkflowEngine", "not_installed"]

Conn = psycopg.Connection[Any]


def not_installed(prefix: str) -> str:
    """The one line that says an engine's schema is missing, and what to run."""
    return f"{prefix} is not installed in this database: run iu-core workflow install"


class InstallResult(Enum):
    """What an engine's installer did."""

    INSTALLED = "installed"  # the schema was missing and is now installed
    UPGRADED = "upgraded"  # it was present but behind (or partial) and was brought up to date
    UP_TO_DATE = "up to date"  # it was present and current: nothing ran


@dataclass(frozen=True, slots=True)
class EngineJob:
    """One job to enqueue: the entrypoint, the payload bytes and the engine's dedupe key."""

    entrypoint: str
    payload: bytes
    dedupe_key: str


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Jobs of one entrypoint not finished yet, as the engine counts them."""

    entrypoint: str
    queued: int
    picked: int

    @property
    def total(self) -> int:
        return self.queued + self.picked


@runtime_checkable
class WorkflowEngine(Protocol):
    """A job engine in the same database: enqueue in a given transaction, installed check, queue depth."""

    prefix: str  # the ENGINE of target_ref ENGINE:ENTRYPOINT

    def enqueue(self, conn: Conn, jobs: Sequence[EngineJob]) -> list[int | None]:
        """Enqueue ``jobs`` in ``conn``'s current transaction; one job id per job, None when deduplicated.

        Raises the driver's error on failure (the caller's savepoint undoes it).
        """
        ...

    def installed_problem(self, conn: Conn) -> str | None:
        """None when the engine's schema is present in this database, else ``not_installed(prefix)``."""
        ...

    def queue_depth(self, conn: Conn) -> list[QueueDepth]:
        """Unfinished jobs per entrypoint (requires the engine installed)."""
        ...

    def install(self, database_url: str) -> InstallResult:
        """Install or bring up to date the engine's schema, with the engine's own installer."""
        ...
