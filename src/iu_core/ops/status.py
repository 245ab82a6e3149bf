"""The status overview: gate, allowlist, every route's backlog and lag, and the database's health."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from iu_core.ops.change import Conn, q
from iu_core.ops.gate import gate_state
from iu_core.ops.records import Record, RouteStatus, Session, TableHealth

# Bounds past which `status` warns (the outbox stays healthy inside them).
OLD_TRANSACTION_S = 300.0  # an open transaction holds back vacuum of every table
XID_AGE_WARN = 1_000_000_000  # half-way to wraparound (2^31)
DEAD_TUPLE_RATIO_WARN = 0.5


@dataclass(frozen=True, slots=True)
class Health(Record):
    """What keeps an outbox healthy, and warnings where it is out of bounds."""

    oldest_transaction: Session | None
    oldest_idle_in_transaction: Session | None
    xmin_horizon_age: int | None
    xid_age: int
    tables: tuple[TableHealth, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Status(Record):
    """The overview: the gate, the allowlist, every route, the totals, the database's health."""

    gate_open: bool
    allowlist: tuple[str, ...]
    routes: tuple[RouteStatus, ...]
    totals: Mapping[str, int]
    health: Health


def health(conn: Conn) -> Health:
    with conn.cursor(row_factory=dict_row) as cur:
        sessions = [Session.from_row(r) for r in cur.execute(q("health_sessions")).fetchall()]
        xids = cur.execute(q("health_xids")).fetchone() or {}
        tables = tuple(TableHealth.from_row(r) for r in cur.execute(q("health_tables")).fetchall())
    oldest = next((s for s in sessions if s.kind == "transaction"), None)
    idle = next((s for s in sessions if s.kind == "idle in transaction"), None)
    warnings: list[str] = []
    for session in (oldest, idle):
        if session is not None and (session.age_s or 0) > OLD_TRANSACTION_S:
            warnings.append(
                f"a session has been {session.kind} for {session.age_s:.0f}s "
                f"(pid {session.pid}, {session.application_name or 'no application name'}): "
                "it holds back vacuum of the outbox"
            )
    xid_age = int(xids.get("xid_age") or 0)
    if xid_age > XID_AGE_WARN:
        warnings.append(f"transaction-ID age is {xid_age}: run VACUUM (FREEZE) before wraparound")
    for table in tables:
        live, dead = int(table.n_live_tup or 0), int(table.n_dead_tup or 0)
        if dead > 10_000 and dead > DEAD_TUPLE_RATIO_WARN * max(live, 1):
            warnings.append(
                f"{table.table} has {dead} dead rows against {live} live: is autovacuum keeping up?"
            )
    return Health(oldest, idle, xids.get("xmin_horizon_age"), xid_age, tables, tuple(warnings))


def _mode(row: Mapping[str, Any]) -> str:
    return "disabled" if not row["enabled"] else ("dry-run" if row["dry_run"] else "live")


def status(conn: Conn) -> Status:
    """Gate, allowlist and every route with its backlog, lag, in-flight, retries, dead letters."""
    gate = gate_state(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(q("route_status")).fetchall()
    routes = tuple(RouteStatus.from_row({**row, "mode": _mode(row)}) for row in rows)
    return Status(
        gate_open=gate.gate_open,
        allowlist=tuple(gate.allowlist),
        routes=routes,
        totals={
            key: sum(int(getattr(r, key)) for r in routes)
            for key in ("backlog", "in_flight", "retrying", "held", "dead_letters")
        },
        health=health(conn),
    )
