"""The Python seam's kinds and statuses are the database's: read from the CHECK constraints."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from iu_core.delivery_seam import DELIVERY_STATUSES, DELIVERY_TARGET_KINDS


def check_values(conn: psycopg.Connection[Any], table: str, column: str) -> set[str]:
    """The literals of the CHECK constraint on ``table.column``, read from pg_constraint."""
    rows = conn.execute(
        """
        SELECT pg_get_constraintdef(c.oid)
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'c' AND c.conrelid = %s::regclass AND a.attname = %s
        """,
        (table, column),
    ).fetchall()
    assert len(rows) == 1, rows
    return set(re.findall(r"'([^']+)'::text", rows[0][0]))


def test_target_kinds_match_the_sql_check(conn: psycopg.Connection[Any]) -> None:
    assert check_values(conn, "iu_outbound_route", "target_kind") == set(DELIVERY_TARGET_KINDS)
    assert len(DELIVERY_TARGET_KINDS) == 6


def test_statuses_match_the_attempt_check(conn: psycopg.Connection[Any]) -> None:
    assert check_values(conn, "iu_route_attempt", "status") == set(DELIVERY_STATUSES)
