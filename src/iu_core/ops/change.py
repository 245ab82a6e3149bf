"""Audited transactions: who changes what, and database refusals as one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from iu_core.actor import default_actor
from iu_core.errors import IuCoreError, Refused, describe_database_error
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def q(name: str) -> str:
    """A named query of ``sql/queries/ops.sql``."""
    return queries("ops")[name]


@dataclass(frozen=True, slots=True)
class Changed:
    """What an action did: whether anything changed, and a one-line summary."""

    changed: bool
    summary: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "summary": self.summary, **self.data}


def user_error(exc: psycopg.Error) -> IuCoreError:
    """A database refusal as the one line a user can act on."""
    state = exc.sqlstate
    text = describe_database_error(exc)
    if state and state.startswith("IU"):  # IU Core's own refusals (guard, seam)
        return Refused(text)
    if state == "23505":
        return IuCoreError(f"already exists: {text}")
    if state == "23503":
        return Refused(f"still referenced: {text}")
    if state == "23514":
        return IuCoreError(f"refused by a check of the database: {text}")
    return IuCoreError(text)


@contextmanager
def change(conn: Conn, context: str, actor: str | None) -> Iterator[Conn]:
    """One audited transaction: the audit triggers record ``actor`` and ``context``."""
    try:
        with conn.transaction():
            conn.execute(q("set_actor"), {"actor": actor or default_actor(), "context": context})
            yield conn
    except psycopg.Error as exc:
        raise user_error(exc) from exc
