"""Regenerating many reports now (``iu-core report build``), one transaction per IU.

The destination is the table alone, a directory, or whatever a report
route names. Each IU is regenerated from its newest event with the same
monotonic store as the target, so a build never undoes a newer report and a
second build of an unchanged IU writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from iu_core.errors import IuCoreError, NotFound
from iu_core.report.store import Regeneration, regenerate
from iu_core.report.target import KIND, ReportRef, directory_problem
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def route_ref(conn: Conn, route_code: str) -> ReportRef:
    """The destination of report route ``route_code`` (refused when it is another kind)."""
    row = conn.execute(queries("report")["route_target"], {"route_code": route_code}).fetchone()
    if row is None:
        raise NotFound(f"unknown route {route_code!r}")
    if row[1] != KIND:
        raise IuCoreError(f"route {route_code!r} delivers to {row[1]}, not to report")
    try:
        return ReportRef.parse(str(row[2]))
    except ValueError as exc:
        raise IuCoreError(f"route {route_code!r}: {exc}") from None


def units(conn: Conn, code: str | None) -> list[tuple[uuid.UUID, str]]:
    """(iu_id, code) of every IU, or of the one named (refused when unknown)."""
    rows = conn.execute(queries("report")["units_to_build"], {"code": code}).fetchall()
    if code is not None and not rows:
        raise NotFound(f"unknown information unit {code!r}")
    return [(r[0], r[1]) for r in rows]


def build_reports(
    conn: Conn,
    targets: list[tuple[uuid.UUID, str]],
    *,
    directory: Path | None = None,
    on_done: Callable[[Regeneration], None] | None = None,
) -> list[Regeneration]:
    """Regenerate each IU of ``targets`` in its own transaction; ``conn`` must be in autocommit."""
    if directory is not None:
        problem = directory_problem(directory)
        if problem:
            raise IuCoreError(problem)
    done: list[Regeneration] = []
    for iu_id, _code in targets:
        with conn.transaction():
            result = regenerate(conn, iu_id, directory=directory)
        done.append(result)
        if on_done is not None:
            on_done(result)
    return done
