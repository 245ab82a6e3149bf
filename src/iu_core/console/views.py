"""What the console's pages show: reads only, from ``sql/queries/console.sql`` and the read APIs."""

from __future__ import annotations

import datetime as dt
import difflib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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


PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    route_code: str | None = None
    iu_code: str | None = None
    state: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    event_id: uuid.UUID | None = None
    delivery_id: int | None = None
    before: int | None = None  # keyset: only ids below this one (the next, older page)
    limit: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Paged:
    """One page of rows, newest first, and where the next (older) page starts (None: no more)."""

    rows: list[dict[str, Any]]
    older: int | None


def _paged(conn: Conn, name: str, params: dict[str, Any], key: str, limit: int) -> Paged:
    rows = _rows(conn, name, {**params, "limit": limit + 1})
    older = rows[limit - 1][key] if len(rows) > limit else None
    return Paged(rows[:limit], older)


def parse_id(text: str | None, what: str) -> int | None:
    """A positive number from a form (``#12`` and ``12`` alike); beyond bigint is nothing found."""
    if not text or not text.strip():
        return None
    value = text.strip().lstrip("#")
    if not value.isdigit():
        raise IuCoreError(f"{what}: not a number")
    number = int(value)
    return number if number < 2**63 else 0


def parse_uuid(text: str | None, what: str) -> uuid.UUID | None:
    if not text or not text.strip():
        return None
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise IuCoreError(f"{what}: not an event id (a uuid)") from None


def parse_webhook_id(text: str | None) -> tuple[str, uuid.UUID] | None:
    """``ROUTE:EVENT_ID``, the webhook-id IU Core sends, as (route, event); None if it is not one."""
    if not text or ":" not in text:
        return None
    route, _, event = text.strip().rpartition(":")
    try:
        return (route, uuid.UUID(event)) if route else None
    except ValueError:
        return None


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
    route_code = params.get("route") or None
    event_text = (params.get("event") or "").strip()
    hook = parse_webhook_id(event_text)
    event_id: uuid.UUID | None
    if hook is not None:  # a webhook-id names the route and the event
        route_code, event_id = hook
    else:
        event_id = parse_uuid(event_text, "event")
    return DeliveryFilter(
        route_code=route_code,
        iu_code=params.get("iu") or None,
        state=state,
        since=parse_time(params.get("since"), "since"),
        until=parse_time(params.get("until"), "until"),
        event_id=event_id,
        delivery_id=parse_id(params.get("id"), "delivery"),
        before=parse_id(params.get("before"), "older than"),
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


def deliveries(conn: Conn, f: DeliveryFilter) -> Paged:
    states = list(DELIVERY_STATES[f.state]) if f.state else None
    params = {
        "route_code": f.route_code,
        "iu_code": f.iu_code,
        "states": states,
        "since": f.since,
        "until": f.until,
        "event_id": f.event_id,
        "delivery_id": f.delivery_id,
        "before": f.before,
    }
    return _paged(conn, "deliveries", params, "delivery_id", f.limit)


def dead_letters(conn: Conn, params: dict[str, str]) -> Paged:
    """Dead letters by route, status, event and time, a page at a time, newest first."""
    query = {
        "all_statuses": params.get("all") == "1",
        "route_code": params.get("route") or None,
        "event_id": parse_uuid(params.get("event"), "event"),
        "since": parse_time(params.get("since"), "since"),
        "until": parse_time(params.get("until"), "until"),
        "before": parse_id(params.get("before"), "older than"),
    }
    return _paged(conn, "dead_letters_page", query, "dead_letter_id", PAGE_SIZE)


def open_dead_letters(conn: Conn) -> int:
    with conn.cursor() as cur:
        row = cur.execute(queries("console")["dead_letters_open_count"]).fetchone()
    return int(row[0]) if row else 0


def audit(conn: Conn, params: dict[str, str]) -> Paged:
    """The operator audit by object, type, actor and time, a page at a time, newest first."""
    query = {
        "object_key": params.get("object") or None,
        "object_type": params.get("type") or None,
        "actor": params.get("actor") or None,
        "since": parse_time(params.get("since"), "since"),
        "until": parse_time(params.get("until"), "until"),
        "before": parse_id(params.get("before"), "older than"),
    }
    return _paged(conn, "audit_page", query, "audit_id", PAGE_SIZE)


def audit_object_types(conn: Conn) -> list[str]:
    return [r["object_type"] for r in _rows(conn, "audit_object_types")]


def find(conn: Conn, text: str) -> str | None:
    """The console page an id names (a delivery, an event's deliveries, an IU, a route), or None."""
    text = text.strip()
    if not text:
        return None
    number = parse_id(text, "id") if text.lstrip("#").isdigit() else None
    hook = parse_webhook_id(text)
    try:
        as_uuid: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        as_uuid = None
    found = _rows(
        conn,
        "find",
        {
            "number": number,
            "hook_route": hook[0] if hook else None,
            "hook_event": hook[1] if hook else None,
            "uuid": as_uuid,
            "text": text,
        },
    )
    for kind in ("delivery", "event", "unit", "route"):
        hits = [r["target"] for r in found if r["kind"] == kind]
        if not hits:
            continue
        if kind == "delivery":
            return f"/deliveries/{hits[0]}"
        if kind == "event":
            ids = [h for h in hits if h is not None]
            if len(ids) == 1:
                return f"/deliveries/{ids[0]}"
            return f"/deliveries?event={text}"
        if kind == "unit":
            return f"/ius/{quote(hits[0], safe='')}"
        return f"/routes/{quote(hits[0], safe='')}"
    return None


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


def open_dead_letter(conn: Conn, delivery_id: int) -> int | None:
    rows = _rows(conn, "delivery_open_dead_letter", {"delivery_id": delivery_id})
    return int(rows[0]["dead_letter_id"]) if rows else None


def route_page(conn: Conn, route_code: str) -> dict[str, Any]:
    route = ops.routes.get_route(conn, route_code)
    return {
        "route": route,
        "attempts": _rows(conn, "route_attempts", {"route_code": route_code, "limit": 50}),
        "decisions": _rows(conn, "route_decisions", {"route_code": route_code, "limit": 50}),
    }


def route_health(conn: Conn, route_code: str | None = None) -> dict[str, dict[str, Any]]:
    """Per route: attempts, sent, failed, p50 and p99 latency (ms) over the last hour and day."""
    return {r["route_code"]: r for r in _rows(conn, "route_health", {"route_code": route_code})}


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


# What a version of a provision may change besides its text, as the history names it.
_PROVISION_FIELDS = ("label", "heading", "kind", "status", "eid", "position", "parent_piece_id")


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """``after`` against ``before`` word by word: ("=", kept), ("-", removed), ("+", added) runs."""
    old, new = before.split(), after.split()
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("=", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("-", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("+", " ".join(new[j1:j2])))
    return runs


def provision_history(conn: Conn, piece_id: str) -> list[dict[str, Any]]:
    """Each recorded version of a piece, newest first: when, by which operation, what changed.

    The first version shows its whole text; a later one the word diff of its
    text against the version before (when the text changed) and the names of
    the other fields that changed.
    """
    versions: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for row in _rows(conn, "provision_history", {"piece_id": piece_id}):
        if previous is None:
            changed, diff = ["first recorded"], None
        else:
            changed = [f.replace("_", " ") for f in _PROVISION_FIELDS if row[f] != previous[f]]
            diff = text_diff(previous["text"], row["text"]) if row["text"] != previous["text"] else None
            if diff is not None:
                changed.insert(0, "text")
        versions.append({**row, "changed": changed, "diff": diff, "first": previous is None})
        previous = row
    return versions[::-1]


def provision_deliveries(conn: Conn, iu_id: str, piece_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The deliveries of the events that name this piece, newest first."""
    return _rows(conn, "provision_deliveries", {"iu_id": iu_id, "piece": piece_id, "limit": limit})
