"""The schema: the current tables by noun, numbered deltas, then the functions, each from its own file.

- ``sql/schema/*.sql``: every table, index and starting row as it is at this
  release (the first release's tables and the deltas up to ``FOLDED_VERSION``
  folded in), one file per noun (routes, delivery, audit, retention, ...),
  readable in one place; ``sql/schema/wiring.sql`` holds every trigger.
- ``sql/migrations/NNN_name.sql``: numbered deltas (tables change only
  through these). The ones up to ``FOLDED_VERSION`` are in the schema already
  and stay only to upgrade older databases.
- ``sql/functions/NAME.sql``: ``CREATE OR REPLACE`` of one function or a small
  family; (re)applied whenever a file's checksum differs from the one in
  ``iu_schema_function``, so a fix to a function is a one-file change.
- ``sql/grants.sql``: privileges, applied after the functions every time.

A fresh database gets all of it in ONE transaction: the schema, recorded in
the ledger as the first release's versions 1-6 and the deltas up to
``FOLDED_VERSION`` (the schema is exactly their effect: a test compares the
catalogs of an upgraded and a fresh database), then any later delta, the
functions, the wiring and the grants. A database made by an earlier release
gets its pending deltas, each in its own transaction with its ledger row,
then the changed functions. A session advisory lock
serialises migrators: a second ``db migrate`` waits, then finds nothing to do.
Function files run with ``check_function_bodies = off`` (as pg_dump restores
do), so their order does not matter.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from iu_core.errors import IuCoreError

_NAME = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")

# Arbitrary constant key for pg_advisory_lock: "IUCORE" in ASCII.
MIGRATION_LOCK_KEY = 0x495543_4F5245

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS iu_schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

FUNCTION_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS iu_schema_function (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# The first release's migrations, which the baseline replaces: a database they
# made verifies by these checksums; a fresh one is recorded with them.
BASELINE_VERSION = 6
FIRST_RELEASE: dict[int, tuple[str, str]] = {
    1: ("schema_contract", "aefb2889f210e236cbf2fc5ef5f40b05434acfb46087ac1448817a21bae5aa68"),
    2: ("domain", "1b069bfef6d0fec6da42bafd1d67154fc543fa875175687f679433b361651d4b"),
    3: ("delivery_seam", "59d6f376d1e1f7720e578c2e2a5688b084859c5ce3c98f244d7fd5da060b7584"),
    4: ("worker", "8755b8963125e1309c4e17c345be5cb5c4e43ce29111cff2e8e95e3fcd7f9c21"),
    5: ("operator", "41343a38921b23a88c6e7e28bd7937c9d12bcedc8ed23413eb2e3f219d30d8ff"),
    6: ("http_targets", "adb143ad4ca3ea7a1f896e53ce29742420878f93b9ca9d36958c50f633da4de7"),
}
# The last delta folded into sql/schema/: a fresh install records it and every
# delta before it as applied, and applies only the deltas after it.
FOLDED_VERSION = 13
# The schema's files, in the order tables reference each other.
BASELINE_FILES = (
    "config",
    "domain",
    "outbox",
    "routes",
    "consumers",
    "delivery",
    "audit",
    "projection",
    "report",
    "retention",
    "console",
    "vector",
)

# Objects the code relies on; `verify` reports any that are missing.
REQUIRED_OBJECTS: tuple[tuple[str, str], ...] = (
    ("table", "dot_config"),
    ("table", "information_unit"),
    ("table", "iu_piece"),
    ("table", "iu_relation"),
    ("table", "event_outbox"),
    ("table", "iu_outbound_route"),
    ("table", "iu_route_attempt"),
    ("table", "iu_route_dead_letter"),
    ("table", "iu_tree_change_log"),
    ("trigger", "trg_iu_outbound_route_delivery_guard"),
    ("trigger", "trg_event_outbox_fan_out"),
)


def _sql(relative: str) -> str:
    return resources.files("iu_core").joinpath(relative).read_text(encoding="utf-8")


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def filename(self) -> str:
        return f"{self.version:03d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


@dataclass(frozen=True, slots=True)
class FunctionFile:
    """One ``sql/functions/NAME.sql``: the current text of a function or a small family."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _checksum(self.sql)


@dataclass(frozen=True, slots=True)
class MigrationState:
    version: int
    name: str
    applied: bool
    applied_at: str | None
    checksum_ok: bool | None  # None when not applied

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "applied": self.applied,
            "applied_at": self.applied_at,
            "checksum_ok": self.checksum_ok,
        }


def available() -> list[Migration]:
    """The delta migrations shipped in the package (after the baseline), in order."""
    folder = resources.files("iu_core").joinpath("sql/migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise IuCoreError("two migration files share a version number")
    if versions and versions[0] <= BASELINE_VERSION:
        raise IuCoreError(f"delta migrations start after the baseline (version {BASELINE_VERSION})")
    return found


def function_files() -> list[FunctionFile]:
    """The function files shipped in the package, by name."""
    folder = resources.files("iu_core").joinpath("sql/functions")
    found = [
        FunctionFile(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda f: f.name)


def baseline_sql() -> str:
    """The current schema's tables, as one script (without its wiring)."""
    return "\n".join(_sql(f"sql/schema/{name}.sql") for name in BASELINE_FILES)


def _ledger(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str, str]]:
    exists = conn.execute("SELECT to_regclass('iu_schema_migration') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at::text FROM iu_schema_migration"
    ).fetchall()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def _function_ledger(conn: psycopg.Connection[Any]) -> dict[str, str]:
    exists = conn.execute("SELECT to_regclass('iu_schema_function') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT name, checksum FROM iu_schema_function").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def stale_functions(conn: psycopg.Connection[Any]) -> list[FunctionFile]:
    """Function files whose text is not the one applied (new or changed)."""
    ledger = _function_ledger(conn)
    return [f for f in function_files() if ledger.get(f.name) != f.checksum]


def is_fresh(conn: psycopg.Connection[Any]) -> bool:
    """True when the database has no IU Core schema yet (the baseline is pending)."""
    return not _ledger(conn)


def status(conn: psycopg.Connection[Any]) -> list[MigrationState]:
    ledger = _ledger(conn)
    states = []
    for version, (name, checksum) in FIRST_RELEASE.items():
        row = ledger.get(version)
        states.append(
            MigrationState(
                version, name, row is not None, row[2] if row else None, (row[1] == checksum) if row else None
            )
        )
    known = set(FIRST_RELEASE)
    for m in available():
        known.add(m.version)
        row = ledger.get(m.version)
        states.append(
            MigrationState(
                m.version,
                m.name,
                row is not None,
                row[2] if row else None,
                (row[1] == m.checksum) if row else None,
            )
        )
    # Applied versions this code does not know (a newer IU Core migrated it).
    for version, (name, _checksum, applied_at) in sorted(ledger.items()):
        if version not in known:
            states.append(MigrationState(version, name, True, applied_at, False))
    return states


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Delta migrations not applied yet (on a fresh database: all of them, after the baseline)."""
    applied = _ledger(conn)
    return [m for m in available() if m.version not in applied]


class NotMigrated(IuCoreError):
    """The database lacks (part of) the schema this code needs."""


def require_schema(conn: psycopg.Connection[Any]) -> None:
    """Refuse a database with a pending migration or a new or changed function file (one line).

    Every command that needs the schema and every worker lane calls this
    before its first statement.
    """
    if is_fresh(conn):
        raise NotMigrated("database not migrated: run iu-core db migrate")
    waiting = pending(conn)
    if waiting:
        names = ", ".join(m.filename for m in waiting)
        raise NotMigrated(f"database not migrated to this version (pending: {names}): run iu-core db migrate")
    stale = stale_functions(conn)
    if stale:
        names = ", ".join(f"{f.name}.sql" for f in stale)
        raise NotMigrated(
            f"database not migrated to this version (function files: {names}): run iu-core db migrate"
        )


def _record(conn: psycopg.Connection[Any], version: int, name: str, checksum: str) -> None:
    conn.execute(
        "INSERT INTO iu_schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
        (version, name, checksum),
    )


def _apply_function_files(conn: psycopg.Connection[Any], files: list[FunctionFile]) -> None:
    """Inside the caller's transaction: every file, then its ledger row."""
    conn.execute("SET LOCAL check_function_bodies = off")
    for function in files:
        conn.execute(function.sql.encode("utf-8"))
        conn.execute(
            "INSERT INTO iu_schema_function (name, checksum) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
            (function.name, function.checksum),
        )


def _after_fold(deltas: list[Migration]) -> list[Migration]:
    return [m for m in deltas if m.version > FOLDED_VERSION]


def _install_fresh(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Schema, later deltas, functions, wiring and grants in one transaction."""
    deltas = available()
    with conn.transaction():
        conn.execute(baseline_sql().encode("utf-8"))
        for version, (name, checksum) in FIRST_RELEASE.items():
            _record(conn, version, name, checksum)
        for migration in deltas:
            if migration.version <= FOLDED_VERSION:  # in the schema already
                _record(conn, migration.version, migration.name, migration.checksum)
        for migration in _after_fold(deltas):
            conn.execute(migration.sql.encode("utf-8"))
            _record(conn, migration.version, migration.name, migration.checksum)
        conn.execute(FUNCTION_LEDGER_DDL)
        _apply_function_files(conn, function_files())
        conn.execute(_sql("sql/schema/wiring.sql").encode("utf-8"))
        conn.execute(_sql("sql/grants.sql").encode("utf-8"))
    return deltas


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Bring the database to this code's schema; return the delta migrations applied
    (on a fresh database: every delta it records, those folded into the schema too).

    ``conn`` must be autocommit (each step manages its own transaction).
    """
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(LEDGER_DDL)
        if is_fresh(conn):
            return _install_fresh(conn)
        applied: list[Migration] = []
        for migration in pending(conn):
            with conn.transaction():
                conn.execute(migration.sql.encode("utf-8"))
                _record(conn, migration.version, migration.name, migration.checksum)
            applied.append(migration)
        conn.execute(FUNCTION_LEDGER_DDL)
        stale = stale_functions(conn)
        with conn.transaction():
            if stale:
                _apply_function_files(conn, stale)
            # Privileges follow the functions: re-granted every time (idempotent).
            conn.execute(_sql("sql/grants.sql").encode("utf-8"))
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def pending_sql(conn: psycopg.Connection[Any]) -> str:
    """The SQL ``migrate`` would apply now, as one script."""
    parts: list[str] = []
    fresh = is_fresh(conn)
    if fresh:
        parts += [
            f"-- schema/{name}.sql\n{_sql(f'sql/schema/{name}.sql').rstrip()}\n" for name in BASELINE_FILES
        ]
    deltas = _after_fold(pending(conn)) if fresh else pending(conn)
    parts += [f"-- migrations/{m.filename}\n{m.sql.rstrip()}\n" for m in deltas]
    parts += [f"-- functions/{f.name}.sql\n{f.sql.rstrip()}\n" for f in stale_functions(conn)]
    if fresh:
        parts.append(f"-- schema/wiring.sql\n{_sql('sql/schema/wiring.sql').rstrip()}\n")
    parts.append(f"-- grants.sql\n{_sql('sql/grants.sql').rstrip()}\n")
    return "\n".join(parts)


def verify(conn: psycopg.Connection[Any]) -> list[str]:
    """Problems that make the database diverge from this code; empty when it matches."""
    problems: list[str] = []
    for state in status(conn):
        if not state.applied:
            problems.append(f"migration {state.version:03d}_{state.name} is pending")
        elif state.checksum_ok is False:
            problems.append(
                f"migration {state.version:03d}_{state.name} differs from the one applied "
                "(edited after it was applied, or unknown to this version)"
            )
    for function in stale_functions(conn):
        problems.append(f"function file {function.name}.sql is not applied (new or changed)")
    for kind, name in REQUIRED_OBJECTS:
        if kind == "table":
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        else:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = %s)", (name,)
            ).fetchone()
        if not row or not row[0]:
            problems.append(f"{kind} {name} is missing")
    return problems
