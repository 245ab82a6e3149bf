"""Retention of delivery history: pruning finished rows in small batches.

History tables and when a row of them is finished are described in
``sql/migrations/012_retention.sql``; one batch is ``fn_iu_retention_prune``.
Each batch is its own short transaction on an autocommit connection: it
locks only the finished rows it deletes (never a row the worker may claim)
and no table, so the worker goes on delivering while a prune runs. Tables
are pruned attempts first and events last, so an event goes only after
everything that names it.

``iu_tree_change_log`` (the projection) and ``iu_structure_operation`` (the
structure journal) are never pruned: they are not history tables here.

Backfill never reaches before the retention horizon that event and delivery
batches advance (``fn_iu_retention_horizon``), so a pruned event, or an event
whose delivery was pruned, is never delivered again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from iu_core.errors import IuCoreError
from iu_core.sqlfiles import queries

log = logging.getLogger("iu_core.retention")

DEFAULT_BATCH_SIZE = 500
MIN_AGE = dt.timedelta(hours=1)
# pg_try_advisory_lock key: one pruner at a time across all workers ("IURETN").
PRUNE_LOCK_KEY = 0x4955_5245_544E


class HistoryTable(StrEnum):
    """The tables whose finished rows are pruned, in the order they are pruned."""

    ATTEMPTS = "iu_route_attempt"
    DECISIONS = "iu_route_decision"
    DEAD_LETTERS = "iu_route_dead_letter"
    DELIVERIES = "iu_delivery"
    EVENTS = "event_outbox"


PRUNE_ORDER: tuple[HistoryTable, ...] = tuple(HistoryTable)

_AGE = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``3600s`` -> a timedelta (at least one hour)."""
    match = _AGE.match(text)
    if match is None:
        raise IuCoreError(f"cannot read age {text!r}: use a number and a unit, e.g. 30d, 12h, 2w")
    try:
        age = dt.timedelta(**{_UNITS[match["unit"]]: int(match["n"])})
    except OverflowError:
        raise IuCoreError(f"age {text!r} is too long: nothing is that old") from None
    if age < MIN_AGE:
        raise IuCoreError(f"age {text!r} is too short: history younger than 1h is never pruned")
    return age


@dataclass(frozen=True, slots=True)
class TableSetting:
    table: HistoryTable
    keep_for: dt.timedelta
    enabled: bool


@dataclass(frozen=True, slots=True)
class TableReport:
    """What one table's prune did (or, in a dry run, would do)."""

    table: HistoryTable
    cutoff: dt.datetime
    pruned: int
    scanned: int
    batches: int
    complete: bool  # False: stopped by the time budget; the next run goes on

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table.value,
            "cutoff": self.cutoff.isoformat(),
            "pruned": self.pruned,
            "scanned": self.scanned,
            "batches": self.batches,
            "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class PruneReport:
    dry_run: bool
    tables: tuple[TableReport, ...]
    horizon_at: dt.datetime | None
    horizon_seq: int
    elapsed_s: float

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.tables)

    @property
    def pruned(self) -> int:
        return sum(t.pruned for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "pruned": self.pruned,
            "tables": [t.as_dict() for t in self.tables],
            "horizon_at": self.horizon_at.isoformat() if self.horizon_at else None,
            "horizon_seq": self.horizon_seq,
            "elapsed_s": round(self.elapsed_s, 3),
        }


Progress = Callable[[HistoryTable, int, int], None]  # table, pruned so far, scanned so far


def settings(conn: psycopg.Connection[Any]) -> list[TableSetting]:
    rows = conn.execute(queries("retention")["settings"]).fetchall()
    return [TableSetting(HistoryTable(r[0]), r[1], bool(r[2])) for r in rows]


def horizon(conn: psycopg.Connection[Any]) -> tuple[dt.datetime | None, int]:
    row = conn.execute(queries("retention")["horizon"]).fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def _cutoffs(
    conn: psycopg.Connection[Any], older_than: dt.timedelta | None
) -> dict[HistoryTable, dt.datetime]:
    row = conn.execute(queries("retention")["now"]).fetchone()
    assert row is not None
    now: dt.datetime = row[0]
    if older_than is not None:
        if older_than < MIN_AGE:
            raise IuCoreError("history younger than 1h is never pruned")
        cutoff = _before(now, older_than)
        if cutoff is None:
            raise IuCoreError("that age reaches back before the year 1: nothing is that old")
        return {t: cutoff for t in PRUNE_ORDER}
    cutoffs: dict[HistoryTable, dt.datetime] = {}
    for table_setting in settings(conn):
        if table_setting.enabled and table_setting.table in PRUNE_ORDER:
            cutoff = _before(now, table_setting.keep_for)
            if cutoff is not None:  # a keep_for beyond the calendar keeps everything
                cutoffs[table_setting.table] = cutoff
    return {t: cutoffs[t] for t in PRUNE_ORDER if t in cutoffs}


def _before(now: dt.datetime, age: dt.timedelta) -> dt.datetime | None:
    """``now - age``, or None when that is before the first representable moment."""
    try:
        return now - age
    except OverflowError:
        return None


@dataclass
class _Walk:
    """Where one table's walk stands between calls (the Pruner resumes it)."""

    after: int = 0
    pruned: int = 0
    scanned: int = 0
    batches: int = 0


def _prune_table(
    conn: psycopg.Connection[Any],
    table: HistoryTable,
    cutoff: dt.datetime,
    walk: _Walk,
    *,
    dry_run: bool,
    batch_size: int,
    deadline: float | None,
    progress: Progress | None,
) -> TableReport:
    statement = queries("retention")["prune_batch"]
    done = False
    while not done:
        if deadline is not None and time.monotonic() >= deadline:
            break
        row = conn.execute(
            statement,
            {
                "table": table.value,
                "cutoff": cutoff,
                "after": walk.after,
                "limit": batch_size,
                "dry_run": dry_run,
            },
        ).fetchone()
        assert row is not None
        walk.pruned += int(row[0])
        walk.scanned += int(row[1])
        walk.after = int(row[2])
        walk.batches += 1
        done = bool(row[3])
        if progress is not None:
            progress(table, walk.pruned, walk.scanned)
    return TableReport(table, cutoff, walk.pruned, walk.scanned, walk.batches, done)


def prune(
    conn: psycopg.Connection[Any],
    older_than: dt.timedelta | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    deadline: float | None = None,
    progress: Progress | None = None,
    _walks: dict[HistoryTable, _Walk] | None = None,
) -> PruneReport:
    """Prune finished history older than ``older_than`` (default: each table's keep_for).

    ``conn`` must be autocommit: every batch is its own transaction. ``deadline``
    (time.monotonic()) stops between batches; the report then says incomplete.
    """
    if not conn.autocommit:
        raise ValueError("prune() needs an autocommit connection: each batch is its own transaction")
    if batch_size < 1 or batch_size > 100_000:
        raise IuCoreError("batch size must be between 1 and 100000")
    started = time.monotonic()
    walks = _walks if _walks is not None else {}
    reports: list[TableReport] = []
    for table, cutoff in _cutoffs(conn, older_than).items():
        walk = walks.setdefault(table, _Walk())
        reports.append(
            _prune_table(
                conn,
                table,
                cutoff,
                walk,
                dry_run=dry_run,
                batch_size=batch_size,
                deadline=deadline,
                progress=progress,
            )
        )
    horizon_at, horizon_seq = horizon(conn)
    report = PruneReport(dry_run, tuple(reports), horizon_at, horizon_seq, time.monotonic() - started)
    if not dry_run and report.complete:
        conn.execute(queries("retention")["record_run"], {"report": Jsonb(report.as_dict())})
    return report


@dataclass
class Pruner:
    """Automatic pruning for the worker: ``run_due(conn)`` is cheap when nothing is due.

    Every ``interval_s`` one worker (an advisory lock picks it) prunes each
    enabled table by its keep_for, for at most ``budget_s`` per call; a run cut
    short by the budget goes on at the next call, so the lane calling it is
    never held up for long.
    """

    interval_s: float = 300.0
    budget_s: float = 0.5
    batch_size: int = DEFAULT_BATCH_SIZE
    _next_at: float = 0.0
    _walks: dict[HistoryTable, _Walk] = field(default_factory=dict)

    def run_due(self, conn: psycopg.Connection[Any]) -> PruneReport | None:
        now = time.monotonic()
        if now < self._next_at:
            return None
        q = queries("retention")
        locked = conn.execute(q["try_lock"], {"key": PRUNE_LOCK_KEY}).fetchone()
        if not locked or not locked[0]:
            self._next_at = now + self.interval_s  # another worker is pruning
            return None
        try:
            report = prune(
                conn, None, False, self.batch_size, deadline=now + self.budget_s, _walks=self._walks
            )
        finally:
            conn.execute(q["unlock"], {"key": PRUNE_LOCK_KEY})
        if report.complete:
            self._walks.clear()
            self._next_at = time.monotonic() + self.interval_s
            if report.pruned:
                log.info("pruned %d finished history rows", report.pruned)
        else:
            self._next_at = time.monotonic() + min(1.0, self.interval_s)
        return report
