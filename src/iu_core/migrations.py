"""Numbered SQL migrations with a ledger.

Each ``sql/migrations/NNN_name.sql`` is applied in its own transaction together
with its ledger row, so a migration is either fully recorded or not there at
all. A session advisory lock serialises migrators: a second ``db migrate``
started at the same moment waits, then finds nothing pending. The ledger keeps
each file's SHA-256, so an applied migration that was edited afterwards is
reported by ``verify``.
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
                checksum_ok=(row[1] == m.checksum) if row else None,
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


def migrate(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every pending migration; return those applied. ``conn`` must be autocommit."""
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection")
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(LEDGER_DDL)
        applied: list[Migration] = []
        for migration in pending(conn):
            with conn.transaction():
                conn.execute(migration.sql.encode("utf-8"))
                conn.execute(
                    "INSERT INTO iu_schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            applied.append(migration)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def pending_sql(conn: psycopg.Connection[Any]) -> str:
    """The SQL ``migrate`` would apply now, as one script."""
    parts = [f"-- {m.filename}\n{m.sql.rstrip()}\n" for m in pending(conn)]
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
