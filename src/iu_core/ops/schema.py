"""Whether the database has the schema this code needs."""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core import migrations
from iu_core.errors import IuCoreError


class NotMigrated(IuCoreError):
    """The database lacks (part of) IU Core's schema."""


def require_schema(conn: psycopg.Connection[Any]) -> None:
    """Refuse to work on a database whose migrations are not all applied (one clear line)."""
    exists = conn.execute("SELECT to_regclass('public.iu_schema_migration') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        raise NotMigrated("database not migrated: run iu-core db migrate")
    pending = migrations.pending(conn)
    if pending:
        names = ", ".join(m.filename for m in pending)
        raise NotMigrated(f"database not migrated to this version (pending: {names}): run iu-core db migrate")
    stale = migrations.stale_functions(conn)
    if stale:
        names = ", ".join(f"{f.name}.sql" for f in stale)
        raise NotMigrated(
            f"database not migrated to this version (function files: {names}): run iu-core db migrate"
        )
