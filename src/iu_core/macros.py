"""The runtime macros, the fail-closed probe, rollback and projection rebuild.

Each runs a packaged SQL file unchanged (the same text ``psql -v
ON_ERROR_STOP=1 -f FILE`` runs) through ``psql_script.run_script`` and turns its
final SELECT into a frozen report. These are the Python API the CLI and the
demo call:

    run_macro(url, "220" | "300") -> MacroReport     raises ScriptFailed on a failed success gate
    run_probe(url)                -> ProbeReport     .ok only at 9/9 PASS
    rollback(url, "300")          -> RollbackReport
    rebuild(url)                  -> RebuildReport   truncate, then 220, then 300
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from iu_core import db
from iu_core.actor import default_actor
from iu_core.errors import IuCoreError
from iu_core.migrations import require_schema
from iu_core.psql_script import ResultSet, ScriptFailed, ScriptRun, run_script
from iu_core.sqlfiles import queries, read_sql

__all__ = [
    "MACROS",
    "PROBE_FILE",
    "REPORT_COLUMNS",
    "ROLLBACKS",
    "MacroReport",
    "ProbeReport",
    "ProbeRow",
    "RebuildReport",
    "RollbackReport",
    "ScriptFailed",
    "macro_sql",
    "rebuild",
    "rollback",
    "rollback_sql",
    "run_macro",
    "run_probe",
]

MACROS: dict[str, str] = {
    "220": "runtime/220_delivery_internal_single.sql",
    "300": "runtime/300_delivery_internal_batch.sql",
}
ROLLBACKS: dict[str, str] = {
    "300": "runtime/rollback/300_delivery_internal_batch.rollback.sql",
}
PROBE_FILE = "sandbox/150_delivery_fail_closed_probe.sql"
PROBE_COUNT = 9

# The figures every macro reports (220 adds the event it delivered).
REPORT_COLUMNS: tuple[str, ...] = (
    "undelivered_before",
    "delivered",
    "projection_before",
    "projection_after",
    "redelivery_added",
    "idempotent_ok",
    "dead_letter_open",
    "via_consumer",
    "delivery_ok",
)


def _known(name: str, table: dict[str, str], what: str) -> str:
    if name not in table:
        raise IuCoreError(f"unknown {what} {name!r}; expected one of {', '.join(sorted(table))}")
    return table[name]


def macro_sql(name: str) -> str:
    """The SQL text of runtime macro ``name`` ("220" or "300")."""
    return read_sql(_known(name, MACROS, "runtime macro"))


def rollback_sql(name: str) -> str:
    """The SQL text of the rollback of macro ``name`` ("300")."""
    return read_sql(_known(name, ROLLBACKS, "rollback"))


@contextmanager
def _session(database_url: str, actor: str | None) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit session whose changes the operator audit attributes to ``actor``."""
    conn = db.connect(database_url, autocommit=True)
    try:
        require_schema(conn)
        conn.execute("SELECT set_config('iu_core.actor', %s, false)", (actor or default_actor(),))
        yield conn
    finally:
        conn.close()


def _single_row(run: ScriptRun, what: str) -> dict[str, Any]:
    last: ResultSet | None = run.last()
    if last is None or len(last.rows) != 1:
        raise IuCoreError(f"{what} reported no figures (was the file changed?)")
    return last.as_dicts()[0]


@dataclass(frozen=True, slots=True)
class MacroReport:
    """The figures one committed run of a runtime macro reported."""

    macro: str
    figures: dict[str, Any]

    @property
    def delivery_ok(self) -> bool:
        return bool(self.figures.get("delivery_ok"))

    def as_dict(self) -> dict[str, Any]:
        return {"macro": self.macro, **self.figures}


@dataclass(frozen=True, slots=True)
class ProbeRow:
    n: str
    probe: str
    result: str


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """The nine probes of sandbox/150; ``error`` names the failures when not 9/9."""

    rows: tuple[ProbeRow, ...]
    error: str | None

    @property
    def passed(self) -> int:
        return sum(1 for r in self.rows if r.result == "PASS")

    @property
    def ok(self) -> bool:
        return self.error is None and self.passed == PROBE_COUNT

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "passed": self.passed,
            "total": PROBE_COUNT,
            "probes": [{"#": r.n, "probe": r.probe, "result": r.result} for r in self.rows],
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class RollbackReport:
    projection_before: int
    removed: int
    projection_after: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "projection_before": self.projection_before,
            "removed": self.removed,
            "projection_after": self.projection_after,
        }


@dataclass(frozen=True, slots=True)
class RebuildReport:
    truncated: int
    single: MacroReport
    batch: MacroReport

    @property
    def projection_after(self) -> int:
        return int(self.batch.figures["projection_after"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "truncated": self.truncated,
            "runtime_220": self.single.as_dict(),
            "runtime_300": self.batch.as_dict(),
            "projection_after": self.projection_after,
        }


def _run_macro(conn: psycopg.Connection[Any], name: str) -> MacroReport:
    run = run_script(conn, macro_sql(name), name=f"runtime/{name}")
    return MacroReport(name, _single_row(run, f"runtime/{name}"))


def run_macro(database_url: str, name: str, *, actor: str | None = None) -> MacroReport:
    """Run runtime macro ``name`` ("220" or "300"); raises ``ScriptFailed`` when it rolled back."""
    macro_sql(name)  # an unknown name is refused before connecting
    with _session(database_url, actor) as conn:
        return _run_macro(conn, name)


def run_probe(database_url: str) -> ProbeReport:
    """Run the fail-closed probe (always rolled back) and report each probe."""
    with _session(database_url, None) as conn:
        try:
            run = run_script(conn, read_sql(PROBE_FILE), name="sandbox/150")
            error = None
        except ScriptFailed as exc:
            # The verdict raises after the table; anything earlier is a real error.
            if not exc.partial.results:
                raise
            run, error = exc.partial, str(exc)
    table = run.last()
    assert table is not None
    rows = tuple(ProbeRow(str(n), str(probe), str(result)) for n, probe, result in table.rows)
    return ProbeReport(rows, error)


def _rollback(conn: psycopg.Connection[Any], name: str) -> RollbackReport:
    run = run_script(conn, rollback_sql(name), name=f"runtime/rollback/{name}")
    row = _single_row(run, f"rollback of {name}")
    return RollbackReport(int(row["projection_before"]), int(row["removed"]), int(row["projection_after"]))


def rollback(database_url: str, name: str = "300", *, actor: str | None = None) -> RollbackReport:
    """Undo macro ``name``: remove every projection row the internal consumer wrote."""
    rollback_sql(name)
    with _session(database_url, actor) as conn:
        return _rollback(conn, name)


def rebuild(database_url: str, *, actor: str | None = None) -> RebuildReport:
    """Truncate the projection, then re-run 220 and 300: the same rows, deterministically.

    Three transactions: if 220 or 300 fails, the projection is left empty or
    partial, and running rebuild again completes it (every step is idempotent).
    """
    with _session(database_url, actor) as conn:
        q = queries("seam")
        with conn.transaction():
            conn.execute(q["lock_projection"])
            row = conn.execute(q["count_projection"]).fetchone()
            conn.execute(q["truncate_projection"])
        truncated = int(row[0]) if row else 0
        single = _run_macro(conn, "220")
        batch = _run_macro(conn, "300")
    return RebuildReport(truncated, single, batch)
