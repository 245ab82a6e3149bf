"""The SQL seam of record, driven from tests: arm a route, deliver, expect a refusal that writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.support.routes import CONSUMER, add_route, set_allowlist, set_gate


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
        "schema_version": "1.0",
        "iu_id": str(uuid.uuid4()),
        "operation_id": str(uuid.uuid4()),
        "operation_type": "split",
        "event_type": event_type,
        "pieces": [],
        "eids": [],
    }
    if event_type == "structure_piece_deprecated":
        payload["piece_id"] = str(uuid.uuid4())
        payload["eid"] = None
    else:
        payload["previous_eids"] = {}
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
    set_allowlist(conn, [])
    add_route(conn, route, kind=kind, ref=ref, live=not dry_run, enabled=enabled)
    set_gate(conn, gate)
    set_allowlist(conn, [route] if allowlisted else [])


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
