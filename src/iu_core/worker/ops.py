"""The operator's view of delivery: status, deliveries, dead letters, backfill.

Plain functions over a connection that return JSON-ready dicts; the CLI
(``iu_core.cli.worker``) prints them as tables or ``--json``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.errors import IuCoreError, NotFound
from iu_core.operator import default_actor, gate_state
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]

# What ``deliveries list --state`` accepts, and the iu_delivery states each means.
STATE_FILTERS: dict[str, tuple[str, ...]] = {
    "pending": ("pending",),
    "in-flight": ("inflight",),
    "retrying": ("retrying",),
    "held": ("held",),
    "dead": ("dead",),
    "dry-run": ("decided",),
}
UNFINISHED = ("pending", "inflight", "retrying", "held", "dead")


def _q(name: str) -> str:
    return queries("worker")[name]


def _rows(conn: Conn, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_q(name), params or {}).fetchall()


def status(conn: Conn) -> dict[str, Any]:
    """Gate, allowlist and every route with its backlog, lag, in-flight, retries, dead letters."""
    gate = gate_state(conn)
    routes = _rows(conn, "route_status")
    for route in routes:
        route["mode"] = "dry-run" if route["dry_run"] else "live"
    return {
        "gate_open": gate.gate_open,
        "allowlist": list(gate.allowlist),
        "routes": routes,
        "totals": {
            key: sum(int(r[key]) for r in routes)
            for key in ("backlog", "in_flight", "retrying", "held", "dead_letters")
        },
    }


def deliveries(
    conn: Conn,
    *,
    route_code: str | None = None,
    iu_code: str | None = None,
    state: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Deliveries that have not reached their target (or, with state dry-run, decisions)."""
    if state is not None and state not in STATE_FILTERS:
        raise IuCoreError(f"unknown state {state!r}; expected one of {', '.join(STATE_FILTERS)}")
    states = list(STATE_FILTERS[state]) if state else list(UNFINISHED)
    return _rows(
        conn,
        "deliveries",
        {"states": states, "route_code": route_code, "iu_code": iu_code, "limit": limit},
    )


def dead_letters(
    conn: Conn, *, route_code: str | None = None, everything: bool = False
) -> list[dict[str, Any]]:
    """Open dead letters (``everything``: also replayed and discarded ones)."""
    return _rows(conn, "dead_letters", {"route_code": route_code, "all_statuses": everything})


def _check_selection(conn: Conn, ids: Sequence[int], route_code: str | None, everything: bool) -> None:
    chosen = sum([bool(ids), route_code is not None, everything])
    if chosen != 1:
        raise IuCoreError("choose exactly one of: dead-letter IDs, --route ROUTE, --all")
    if ids:
        found = {r["dead_letter_id"] for r in _rows(conn, "dead_letter_ids", {"ids": list(ids)})}
        missing = sorted(set(ids) - found)
        if missing:
            raise NotFound(f"no dead letter with id {', '.join(map(str, missing))}")
    if route_code is not None and not _rows(conn, "route_exists", {"route_code": route_code}):
        raise NotFound(f"unknown route {route_code!r}")


def _resolve(
    conn: Conn, query: str, ids: Sequence[int], route_code: str | None, everything: bool, reason: str | None
) -> int:
    _check_selection(conn, ids, route_code, everything)
    params = {
        "ids": list(ids),
        "route_code": route_code,
        "all": everything,
        "by": default_actor(),
        "note": reason,
    }
    row = conn.execute(_q(query), params).fetchone()
    return int(row[0]) if row else 0


def replay(
    conn: Conn,
    *,
    ids: Sequence[int] = (),
    route_code: str | None = None,
    everything: bool = False,
    reason: str | None = None,
) -> int:
    """Send open dead letters back to the worker, each in its place in its IU's order."""
    return _resolve(conn, "replay", ids, route_code, everything, reason)


def discard(
    conn: Conn,
    *,
    ids: Sequence[int] = (),
    route_code: str | None = None,
    everything: bool = False,
    reason: str,
) -> int:
    """Give up on open dead letters, with a reason; their IU's held events may go on."""
    if not reason or not reason.strip():
        raise IuCoreError("a reason is required to discard dead letters (--reason)")
    return _resolve(conn, "discard", ids, route_code, everything, reason)


def backfill(conn: Conn, route_code: str, since: dt.datetime | None = None) -> int:
    """Create deliveries on ``route_code`` for its events (since ``since``) that have none."""
    if not _rows(conn, "route_exists", {"route_code": route_code}):
        raise NotFound(f"unknown route {route_code!r}")
    row = conn.execute(_q("backfill"), {"route_code": route_code, "since": since}).fetchone()
    return int(row[0]) if row else 0
