"""The operator audit trail: who changed which route, gate, allowlist or secret, when."""

from __future__ import annotations

from psycopg.rows import dict_row

from iu_core.ops.change import Conn, q
from iu_core.ops.records import AuditEntry


def log(conn: Conn, *, object_key: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The newest audit rows first (who, when, what, before, after)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(q("audit"), {"object_key": object_key, "limit": limit}).fetchall()
    return [AuditEntry.from_row(r) for r in rows]
