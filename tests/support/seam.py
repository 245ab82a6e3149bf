"""The SQL seam of record, driven from tests: arm a route, deliver, expect a refusal that writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

CONSUMER = "fn_iu_structure_consumer"


def fingerprint(conn: psycopg.Connection[Any], exclude: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Row count and content checksum of every table in the public schema."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        if r[0] not in exclude
    ]
    result: dict[str, tuple[int, str]] = {}
    for table in tables:
        query = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {} t"
        ).format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        assert row is not None
        result[table] = (int(row[0]), str(row[1]))
    return result


def structure_payload(event_type: str = "structure_op_applied", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iu_id": str(uuid.uuid4()),
        "operation_id": str(uuid.uuid4()),
        "operation_type": "split",
        "event_type": event_type,
        "pieces": [],
    }
    if event_type == "structure_piece_deprecated":
        payload["piece_id"] = str(uuid.uuid4())
    payload.update(overrides)
    return payload


def arm_route(
    conn: psycopg.Connection[Any],
    route: str,
    *,
    kind: str = "sql_function",
    ref: str = CONSUMER,
    dry_run: bool = False,
    gate: bool = True,
    allowlisted: bool = True,
    enabled: bool = True,
) -> None:
    """Put ``route`` into the given state (inside the caller's transaction)."""
    conn.execute("UPDATE dot_config SET value = 'true' WHERE key = 'iu_core.delivery_enabled'")
    conn.execute(
        "UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_live_routes'", (Jsonb([route]),)
    )
    conn.execute(
        """INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run, enabled)
           VALUES (%s, 'structure_op_applied', %s, %s, %s, %s)""",
        (route, kind, ref, dry_run, enabled),
    )
    conn.execute("UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_enabled'", (Jsonb(gate),))
    conn.execute(
        "UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_live_routes'",
        (Jsonb([route] if allowlisted else []),),
    )


def deliver(conn: psycopg.Connection[Any], route: str, event_ref: uuid.UUID, payload: Any) -> dict[str, Any]:
    row = conn.execute(
        "SELECT fn_iu_route_deliver(%s, %s, %s)", (route, event_ref, Jsonb(payload))
    ).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def expect_refusal(conn: psycopg.Connection[Any], route: str, sqlstate: str) -> str:
    """Call the seam, expect ``sqlstate``, and prove that no table changed."""
    before = fingerprint(conn)
    with pytest.raises(psycopg.Error) as info, conn.transaction():
        deliver(conn, route, uuid.uuid4(), structure_payload())
    assert info.value.sqlstate == sqlstate, str(info.value)
    assert fingerprint(conn) == before
    return str(info.value)
