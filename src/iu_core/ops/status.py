"""The status overview: gate, allowlist, every route's backlog and lag, and the database's health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from iu_core.ops.change import Conn, q
from iu_core.ops.gate import gate_state

# Bounds past which `status` warns (the outbox stays healthy inside them).
OLD_TRANSACTION_S = 300.0  # an open transaction holds back vacuum of every table
XID_AGE_WARN = 1_000_000_000  # half-way to wraparound (2^31)
DEAD_TUPLE_RATIO_WARN = 0.5


@dataclass(frozen=True, slots=True)
class Health:
    """What keeps an outbox healthy, and warnings where it is out of bounds."""

    oldest_transaction: dict[str, Any] | None
    oldest_idle_in_transaction: dict[str, Any] | None
    xmin_horizon_age: int | None
    xid_age: int
    tables: list[dict[str, Any]]
    warnings: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "oldest_transaction": self.oldest_transaction,
            "oldest_idle_in_transaction": self.oldest_idle_in_transaction,
            "xmin_horizon_age": self.xmin_horizon_age,
            "xid_age": self.xid_age,
            "tables": self.tables,
            "warnings": self.warnings,
        }


def health(conn: Conn) -> Health:
    with conn.cursor(row_factory=dict_row) as cur:
        sessions = cur.execute(q("health_sessions")).fetchall()
        xids = cur.execute(q("health_xids")).fetchone() or {}
        tables = cur.execute(q("health_tables")).fetchall()
    oldest = next((s for s in sessions if s["kind"] == "transaction"), None)
    idle = next((s for s in sessions if s["kind"] == "idle in transaction"), None)
    warnings: list[str] = []
    for session in (oldest, idle):
        if session is not None and (session["age_s"] or 0) > OLD_TRANSACTION_S:
            warnings.append(
                f"a session has been {session['kind']} for {session['age_s']:.0f}s "
                f"(pid {session['pid']}, {session['application_name'] or 'no application name'}): "
                "it holds back vacuum of the outbox"
            )
    xid_age = int(xids.get("xid_age") or 0)
    if xid_age > XID_AGE_WARN:
        warnings.append(f"transaction-ID age is {xid_age}: run VACUUM (FREEZE) before wraparound")
    for table in tables:
        live, dead = int(table["n_live_tup"] or 0), int(table["n_dead_tup"] or 0)
        if dead > 10_000 and dead > DEAD_TUPLE_RATIO_WARN * max(live, 1):
            warnings.append(
                f"{table['table']} has {dead} dead rows against {live} live: is autovacuum keeping up?"
            )
    return Health(oldest, idle, xids.get("xmin_horizon_age"), xid_age, tables, warnings)


def status(conn: Conn) -> dict[str, Any]:
    """Gate, allowlist and every route with its backlog, lag, in-flight, retries, dead letters."""
    gate = gate_state(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        routes = cur.execute(q("route_status")).fetchall()
    for route in routes:
        route["mode"] = "disabled" if not route["enabled"] else ("dry-run" if route["dry_run"] else "live")
    return {
        "gate_open": gate.gate_open,
        "allowlist": list(gate.allowlist),
        "routes": routes,
        "totals": {
            key: sum(int(r[key]) for r in routes)
            for key in ("backlog", "in_flight", "retrying", "held", "dead_letters")
        },
        "health": health(conn).as_dict(),
    }
