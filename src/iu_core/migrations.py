"""Numbered SQL migrations with a ledger, then the functions, each from its own file.

Each ``sql/migrations/NNN_name.sql`` is applied in its own transaction together
with its ledger row, so a migration is either fully recorded or not there at
all. A session advisory lock serialises migrators: a second ``db migrate``
started at the same moment waits, then finds nothing pending. The ledger keeps
each file's SHA-256, so an applied migration that was edited afterwards is
reported by ``verify``.

Tables change through numbered delta migrations; functions do not. Every
``sql/functions/NAME.sql`` holds ``CREATE OR REPLACE`` statements for one
function or a small family, and ``migrate`` (re)applies a file whenever its
checksum differs from the one in ``iu_schema_function``. A fix to a function
is therefore a one-file change, and the file is the function's current text.
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

# The first release's texts of migrations 001-006, whose comments were reworded
# since (the SQL is unchanged): a database migrated by that release still
# verifies as up to date.
EARLIER_CHECKSUMS: dict[int, frozenset[str]] = {
    1: frozenset({"aefb2889f210e236cbf2fc5ef5f40b05434acfb46087ac1448817a21bae5aa68"}),
    3: frozenset({"59d6f376d1e1f7720e578c2e2a5688b084859c5ce3c98f244d7fd5da060b7584"}),
    4: frozenset({"8755b8963125e1309c4e17c345be5cb5c4e43ce29111cff2e8e95e3fcd7f9c21"}),
    5: frozenset({"41343a38921b23a88c6e7e28bd7937c9d12bcedc8ed23413eb2e3f219d30d8ff"}),
    6: frozenset({"adb143ad4ca3ea7a1f896e53ce29742420878f93b9ca9d36958c50f633da4de7"}),
}

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
)


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
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


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
    """The migrations shipped in the package, in order."""
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
    return found


@dataclass(frozen=True, slots=True)
class FunctionFile:
    """One ``sql/functions/NAME.sql``: the current text of a function or a small family."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def function_files() -> list[FunctionFile]:
    """The function files shipped in the package, by name."""
    folder = resources.files("iu_core").joinpath("sql/functions")
    found = [
        FunctionFile(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda f: f.name)


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


def _apply_functions(conn: psycopg.Connection[Any]) -> list[FunctionFile]:
    conn.execute(FUNCTION_LEDGER_DDL)
    stale = stale_functions(conn)
    if stale:
        with conn.transaction():
            conn.execute("SET LOCAL check_function_bodies = off")
            for function in stale:
                conn.execute(function.sql.encode("utf-8"))
                conn.execute(
                    "INSERT INTO iu_schema_function (name, checksum) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()",
                    (function.name, function.checksum),
                )
    # Privileges follow the functions: re-granted after every migrate (idempotent).
    conn.execute(resources.files("iu_core").joinpath("sql/grants.sql").read_text(encoding="utf-8").encode())
    return stale


def _ledger(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str, str]]:
    exists = conn.execute("SELECT to_regclass('iu_schema_migration') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at::text FROM iu_schema_migration"
    ).fetchall()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


def status(conn: psycopg.Connection[Any]) -> list[MigrationState]:
    ledger = _ledger(conn)
    states = []
    known = {m.version for m in available()}
    for m in available():
        row = ledger.get(m.version)
        states.append(
            MigrationState(
                m.version,
                m.name,
                applied=row is not None,
                applied_at=row[2] if row else None,
                checksum_ok=(row[1] == m.checksum or row[1] in EARLIER_CHECKSUMS.get(m.version, ()))
                if row
                else None,
            )
        )
    # Applied versions this code does not know (a newer IU Core migrated it).
    for version, (name, _checksum, applied_at) in sorted(ledger.items()):
        if version not in known:
            states.append(MigrationState(version, name, True, applied_at, False))
    return states


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    applied = _ledger(conn)
    return [m for m in available() if m.version not in applied]


def migrate(conn: psycopg.Connection[Any], *, up_to: int | None = None) -> list[Migration]:
    """Apply every pending migration, then every new or changed function file; return the
    migrations applied. ``conn`` must be autocommit.

    ``up_to``: stop after that version and leave the function files alone, which is
    how a database of an earlier release is made (0.1 shipped migrations 001-006,
    with its functions inside them).
    """
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(LEDGER_DDL)
        applied: list[Migration] = []
        for migration in pending(conn):
            if up_to is not None and migration.version > up_to:
                break
            with conn.transaction():
                conn.execute(migration.sql.encode("utf-8"))
                conn.execute(
                    "INSERT INTO iu_schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            applied.append(migration)
        if up_to is None:
            _apply_functions(conn)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def pending_sql(conn: psycopg.Connection[Any]) -> str:
    """The SQL ``migrate`` would apply now, as one script."""
    parts = [f"-- {m.filename}\n{m.sql.rstrip()}\n" for m in pending(conn)]
    parts += [f"-- functions/{f.name}.sql\n{f.sql.rstrip()}\n" for f in stale_functions(conn)]
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
