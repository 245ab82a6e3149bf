"""What the console's pages show: reads only, from ``sql/queries/console.sql`` and the read APIs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core import ops
from iu_core.console.chart import Minute
from iu_core.domain import queries as domain
from iu_core.errors import IuCoreError, NotFound
from iu_core.report.store import StoredReport, report_by_code
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]

# The filter of the deliveries page, and the iu_delivery states each means.
DELIVERY_STATES: dict[str, tuple[str, ...]] = {
    "pending": ("pending",),
    "in-flight": ("inflight",),
    "retrying": ("retrying",),
    "held": ("held",),
    "dead": ("dead",),
    "sent": ("sent",),
    "skipped": ("skipped",),
    "discarded": ("discarded",),
    "dry-run": ("decided",),
    "unfinished": ("pending", "inflight", "retrying", "held", "dead"),
}


def _rows(conn: Conn, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(queries("console")[name], params or {}).fetchall()


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    route_code: str | None = None
    iu_code: str | None = None
    state: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 200


def parse_time(text: str | None, what: str) -> dt.datetime | None:
    """An ISO time from a form (``2024-05-01T10:00``); a time without zone is UTC."""
    if not text or not text.strip():
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise IuCoreError(f"{what}: not a time, expected e.g. 2024-05-01T10:00") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def delivery_filter(params: dict[str, str]) -> DeliveryFilter:
    state = params.get("state") or None
    if state is not None and state not in DELIVERY_STATES:
        raise IuCoreError(f"unknown state {state!r}; expected one of {', '.join(DELIVERY_STATES)}")
    return DeliveryFilter(
        route_code=params.get("route") or None,
        iu_code=params.get("iu") or None,
        state=state,
        since=parse_time(params.get("since"), "since"),
        until=parse_time(params.get("until"), "until"),
    )


def overview(conn: Conn) -> dict[str, Any]:
    data = ops.status.status(conn).as_dict()
    data["counts"] = {r["state"]: int(r["n"]) for r in _rows(conn, "delivery_counts")}
    return data


def chart_minutes(conn: Conn) -> list[Minute]:
    return [
        Minute(r["minute"].astimezone(dt.UTC), int(r["sent"]), int(r["failed"]), float(r["lag_s"]))
        for r in _rows(conn, "chart")
    ]


def deliveries(conn: Conn, f: DeliveryFilter) -> list[dict[str, Any]]:
    states = list(DELIVERY_STATES[f.state]) if f.state else None
    return _rows(
        conn,
        "deliveries",
        {
            "route_code": f.route_code,
            "iu_code": f.iu_code,
            "states": states,
            "since": f.since,
            "until": f.until,
            "limit": f.limit,
        },
    )


def delivery(conn: Conn, delivery_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One delivery and its timeline: attempts (from the service layer), decisions, dead letters."""
    row = ops.deliveries.show(conn, delivery_id).as_dict()
    timeline: list[dict[str, Any]] = []
    for a in row.pop("attempts_history"):
        parts = [
            f"HTTP {a['http_status']}" if a.get("http_status") else "",
            a.get("reason") or "",
            a.get("response_snippet") or "",
        ]
        timeline.append(
            {
                "at": a["started_at"],
                "what": f"attempt {a['attempt_no']}",
                "status": a["status"],
                "latency_ms": a.get("latency_ms"),
                "snippet": " · ".join(p for p in parts if p),
            }
        )
    for e in _rows(conn, "delivery_events", {"route_code": row["route_code"], "event_id": row["event_id"]}):
        timeline.append({**e, "latency_ms": None, "snippet": e.get("detail") or ""})
    timeline.sort(key=lambda item: item["at"])
    return row, timeline


def route_page(conn: Conn, route_code: str) -> dict[str, Any]:
    route = ops.routes.get_route(conn, route_code)
    return {
        "route": route,
        "attempts": _rows(conn, "route_attempts", {"route_code": route_code, "limit": 50}),
        "decisions": _rows(conn, "route_decisions", {"route_code": route_code, "limit": 50}),
    }


def units(conn: Conn) -> list[dict[str, Any]]:
    return domain.list_units(conn)


def unit(conn: Conn, code: str) -> dict[str, Any]:
    tree = domain.get_tree(conn, code)
    flat: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        flat.append({**node, "depth": depth})
        for child in node["children"]:
            walk(child, depth + 1)

    walk(domain.tree_as_dict(tree), 0)
    return {
        "unit": domain.get_unit(conn, code),
        "pieces": flat,
        "operations": domain.list_operations(conn, code),
        "report": stored_report(conn, code),
    }


def stored_report(conn: Conn, code: str) -> StoredReport | None:
    """The IU's structure report where a report route made one."""
    try:
        return report_by_code(conn, code)
    except NotFound:
        return None
