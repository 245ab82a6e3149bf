"""The one way tests set up routes, the delivery gate and the live allowlist (no tests here).

Every test that needs a route goes through ``add_route`` / ``make_live``; only
the tests of the guard trigger itself write ``iu_outbound_route`` by hand.
Live routes are switched in the guard's order: open the gate, allowlist the
route, then flip ``dry_run`` off.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from iu_core.ops.filters import compile_filter

Conn = psycopg.Connection[Any]

CONSUMER = "fn_iu_structure_consumer"
STRUCTURE_ROUTE = "structure_op_applied.workflow"
DEPRECATED_ROUTE = "structure_piece_deprecated.workflow"

# The route columns a test may set (checked, then quoted as identifiers).
POLICY_COLUMNS = frozenset(
    {
        "enabled",
        "disabled_reason",
        "ordering_policy",
        "max_attempts",
        "base_delay_ms",
        "max_delay_ms",
        "timeout_s",
        "connect_timeout_s",
        "max_in_flight",
        "allow_networks",
        "rate_limit_per_s",
        "circuit_failure_threshold",
        "circuit_cooldown_s",
        "max_payload_bytes",
        "disable_after_failing_hours",
    }
)


def set_gate(conn: Conn, open_: bool) -> None:
    """Open or close the delivery gate."""
    conn.execute("UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_enabled'", (Jsonb(open_),))


def set_allowlist(conn: Conn, routes: list[str]) -> None:
    """Make the live allowlist exactly ``routes``."""
    conn.execute(
        "UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_live_routes'", (Jsonb(routes),)
    )


def allow_live(conn: Conn, *routes: str) -> None:
    """Open the gate and add ``routes`` to the allowlist (their targets and modes unchanged)."""
    set_gate(conn, True)
    for route in routes:
        conn.execute(
            "UPDATE dot_config SET value = value || to_jsonb(%s::text) "
            "WHERE key = 'iu_core.delivery_live_routes' AND NOT value ? %s",
            (route, route),
        )


def _checked(policy: dict[str, Any]) -> None:
    unknown = set(policy) - POLICY_COLUMNS
    if unknown:
        raise ValueError(f"not a route policy column: {sorted(unknown)}")


def _value(name: str) -> sql.Composable:
    placeholder = sql.Placeholder(name)
    return sql.SQL("{}::cidr[]").format(placeholder) if name == "allow_networks" else placeholder


def set_policy(conn: Conn, route: str, **policy: Any) -> None:
    """Set policy columns of ``route`` (``max_attempts=2``, ``allow_networks=[...]``, ...)."""
    _checked(policy)
    if not policy:
        return
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), _value(name)) for name in policy
    )
    conn.execute(
        sql.SQL("UPDATE iu_outbound_route SET {} WHERE route_code = %(route)s").format(sets),
        {**policy, "route": route},
    )


def make_live(
    conn: Conn, route: str = STRUCTURE_ROUTE, *, kind: str | None = None, ref: str | None = None
) -> None:
    """Open the gate, allowlist ``route`` and flip it live (to ``kind``/``ref`` when given).

    With no kind given, a seeded structure route goes live to the internal consumer.
    """
    allow_live(conn, route)
    if kind is None and ref is None and route in (STRUCTURE_ROUTE, DEPRECATED_ROUTE):
        kind, ref = "sql_function", CONSUMER
    conn.execute(
        "UPDATE iu_outbound_route SET target_kind = coalesce(%s, target_kind), "
        "target_ref = coalesce(%s, target_ref), dry_run = false WHERE route_code = %s",
        (kind, ref, route),
    )


def add_route(
    conn: Conn,
    code: str,
    *,
    kind: str = "sql_function",
    ref: str = CONSUMER,
    event_type: str = "structure_op_applied",
    live: bool = False,
    filter: str | None = None,
    **policy: Any,
) -> str:
    """Insert route ``code`` with its ``policy`` columns, in ONE row write; with ``live``,
    the gate is opened and the route allowlisted first, and it is written live. ``filter``:
    the route filter's text, compiled as ``route add --filter`` compiles it."""
    _checked(policy)
    if live:
        allow_live(conn, code)
    values = {
        "route_code": code,
        "event_type": event_type,
        "target_kind": kind,
        "target_ref": ref,
        "dry_run": not live,
        **policy,
    }
    if filter is not None:
        values["filter_source"], values["filter_tree"] = filter, Jsonb(compile_filter(filter))
    conn.execute(
        sql.SQL("INSERT INTO iu_outbound_route ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(_value(name) for name in values),
        ),
        values,
    )
    return code
