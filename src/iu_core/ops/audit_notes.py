"""Writing the operator audit: changes that are not one row of an audited table.

Most audit rows are written by triggers (so a change made with psql is
recorded too); ``note`` records, inside the caller's audited transaction
(``iu_core.ops.change.change``), a credential replaced (by fingerprint, never
the secret) or a backfill. Reading the audit: ``iu_core.ops.audit``.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from iu_core.ops.change import Conn
from iu_core.sqlfiles import queries

# What the audit names (mirrors the CHECKs of iu_operator_audit; a test compares them).
OBJECT_TYPES = (
    "route",
    "config",
    "consumer",
    "credential",
    "dead_letter",
    "retention",
    "console_user",
    "unit",
)
ACTIONS = ("insert", "update", "delete", "rotate", "set", "replay", "discard", "backfill")


def note(
    conn: Conn,
    object_type: str,
    object_key: str,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit row, in the caller's transaction (opened by ``iu_core.ops.change.change``)."""
    conn.execute(
        queries("operator_audit")["note"],
        {
            "object_type": object_type,
            "object_key": object_key,
            "action": action,
            "before": Jsonb(before) if before is not None else None,
            "after": Jsonb(after) if after is not None else None,
        },
    )


def current_fingerprint(conn: Conn, route_code: str, kind: str) -> str | None:
    """The fingerprint of ``route_code``'s current credential of ``kind`` (None: it has none)."""
    row = conn.execute(
        queries("operator_audit")["current_fingerprint"], {"route_code": route_code, "kind": kind}
    ).fetchone()
    return str(row[0]) if row else None
