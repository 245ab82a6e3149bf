"""Routes: where events of a type go, how, and whether they may be live."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iu_core.codes import validate_code
from iu_core.delivery import kinds
from iu_core.domain.model import (
    IU_CITATION_IMPACTED,
    IU_CREATED,
    IU_RELATION_ADDED,
    IU_RELATION_REMOVED,
    STRUCTURE_OP_APPLIED,
    STRUCTURE_PIECE_DEPRECATED,
)
from iu_core.errors import IuCoreError, NotFound, Refused
from iu_core.ops import allowlist as allowlist_ops
from iu_core.ops import audit_notes as audit_ops
from iu_core.ops import secrets as secret_ops
from iu_core.ops.change import Changed, Conn, change, q
from iu_core.ops.filters import compile_filter
from iu_core.ops.refusal import Refusal, RefusalReason, route_refusal

# The operational events: the worker's and the operator's own happenings,
# written in SQL (sql/functions/operational_events.sql).
OPERATIONAL_EVENT_TYPES = frozenset(
    {
        "iu_route_disabled",
        "iu_circuit_opened",
        "iu_circuit_closed",
        "iu_dead_lettered",
        "iu_gate_opened",
        "iu_gate_closed",
    }
)
# The event types IU Core writes; a route for another type needs
# --allow-unknown-event-type (or an event of that type already in the outbox).
KNOWN_EVENT_TYPES = (
    frozenset(
        {
            STRUCTURE_OP_APPLIED,
            STRUCTURE_PIECE_DEPRECATED,
            IU_CREATED,
            IU_RELATION_ADDED,
            IU_RELATION_REMOVED,
            IU_CITATION_IMPACTED,
        }
    )
    | OPERATIONAL_EVENT_TYPES
)

# How an external_endpoint route signs its webhooks (Standard Webhooks v1 / v1a).
SIGNATURES = ("hmac", "ed25519")


@dataclass(frozen=True, slots=True)
class Route:
    """One row of iu_outbound_route, plus whether it is on the allowlist now."""

    route_code: str
    event_type: str
    target_kind: str
    target_ref: str
    dry_run: bool
    enabled: bool
    disabled_reason: str | None
    ordering_policy: str
    max_attempts: int
    base_delay_ms: int
    max_delay_ms: int
    timeout_s: Decimal
    connect_timeout_s: Decimal
    max_in_flight: int
    allow_networks: tuple[str, ...]
    rate_limit_per_s: Decimal | None
    circuit_failure_threshold: int
    circuit_cooldown_s: int
    max_payload_bytes: int
    disable_after_failing_hours: Decimal
    allowlisted: bool
    signature: str  # hmac (v1, shared secrets) or ed25519 (v1a, the route's key pair)
    signing_public_key: str | None  # the current Ed25519 public key (whpk_…), if any
    filter: str | None = None  # the filter as written (route set --filter); None: every event of the type
    filter_tree: dict[str, Any] | None = None  # ... compiled, as the fan-out evaluates it

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Route:
        values = {f.name: row[f.name] for f in fields(cls) if f.name not in ("filter", "filter_tree")}
        values["allow_networks"] = tuple(str(n) for n in row["allow_networks"] or ())
        return cls(**values, filter=row.get("filter_source"), filter_tree=row.get("filter_tree"))

    @property
    def mode(self) -> str:
        """live / dry-run / disabled, as an operator reads it."""
        if not self.enabled:
            return "disabled"
        return "dry-run" if self.dry_run else "live"

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["allow_networks"] = list(self.allow_networks)
        data["mode"] = self.mode
        return data


@dataclass(frozen=True, slots=True)
class RouteChanges:
    """What ``route set`` changes; None keeps the current value."""

    target_kind: str | None = None
    target_ref: str | None = None
    dry_run: bool | None = None
    max_attempts: int | None = None
    base_delay_ms: int | None = None
    ordering_policy: str | None = None
    allow_networks: tuple[str, ...] | None = None
    timeout_s: float | None = None
    connect_timeout_s: float | None = None
    max_in_flight: int | None = None
    set_rate_limit: bool = False  # True: write rate_limit_per_s (None clears it)
    rate_limit_per_s: float | None = None
    circuit_failure_threshold: int | None = None
    circuit_cooldown_s: int | None = None
    max_payload_bytes: int | None = None
    disable_after_failing_hours: float | None = None
    signature: str | None = None  # hmac or ed25519
    filter: str | None = None  # a new filter (its text); "" clears it
    # (filter_tree is compiled from filter by set_route, never given)

    def is_empty(self) -> bool:
        return not self.set_rate_limit and all(
            getattr(self, f.name) is None for f in fields(self) if f.name != "set_rate_limit"
        )


def _compiled(text: str | None, *, empty_clears: bool) -> tuple[str | None, Jsonb | None]:
    """(source, tree) to store for a filter's text; None (or "" when ``empty_clears``): no filter.

    Raises FilterError (one line naming the column) before anything is written.
    """
    if text is None or (empty_clears and text == ""):
        return None, None
    return text.strip(), Jsonb(compile_filter(text))


def list_routes(conn: Conn) -> list[Route]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [Route.from_row(r) for r in cur.execute(q("list_routes")).fetchall()]


def get_route(conn: Conn, route_code: str) -> Route:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(q("get_route"), {"route_code": route_code}).fetchone()
    if row is None:
        raise NotFound(f"no such route: {route_code} (see: iu-core route list)")
    return Route.from_row(row)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kinds.spec(kind) is None:
        raise IuCoreError(
            f"unknown target kind {kind!r}; expected one of {', '.join(sorted(kinds.TargetKind))}"
        )


def _check_event_type(conn: Conn, event_type: str, allow_unknown: bool) -> None:
    if allow_unknown or event_type in KNOWN_EVENT_TYPES:
        return
    seen = conn.execute(q("event_type_seen"), {"event_type": event_type}).fetchone()
    if seen is None:
        raise IuCoreError(
            f"unknown event type {event_type!r}: no operation writes it "
            f"(known: {', '.join(sorted(KNOWN_EVENT_TYPES))}); "
            "give --allow-unknown-event-type to route it anyway"
        )


def _check_ref(conn: Conn, kind: str, ref: str) -> None:
    problem = kinds.ref_problem(conn, kind, ref)
    if problem is not None:
        raise IuCoreError(f"target_ref {ref!r} for kind {kind}: {problem}")


def add_route(
    conn: Conn,
    route_code: str,
    *,
    event_type: str,
    target_kind: str,
    target_ref: str,
    allow_unknown_event_type: bool = False,
    filter: str | None = None,
    actor: str | None = None,
) -> Route:
    """Add a route; it starts in dry-run (make it live with ``set_route(dry_run=False)``).

    ``filter``: which events of the type it carries (``iu_core.ops.filters``); None: all.
    """
    validate_code("route code", route_code)
    filter_source, filter_tree = _compiled(filter, empty_clears=False)
    if conn.execute(q("existing_routes"), {"route_codes": [route_code]}).fetchone():
        raise IuCoreError(f"route {route_code} already exists (change it with: iu-core route set)")
    _check_kind(target_kind)
    _check_event_type(conn, event_type, allow_unknown_event_type)
    _check_ref(conn, target_kind, target_ref)
    with change(conn, "route add", actor):
        conn.execute(
            q("add_route"),
            {
                "route_code": route_code,
                "event_type": event_type,
                "target_kind": target_kind,
                "target_ref": target_ref,
                "filter_source": filter_source,
                "filter_tree": filter_tree,
            },
        )
    return get_route(conn, route_code)


def remove_route(conn: Conn, route_code: str, *, force: bool = False, actor: str | None = None) -> Changed:
    """Remove a route and take it off the allowlist; refused while deliveries are in flight."""
    get_route(conn, route_code)
    in_flight = conn.execute(q("route_in_flight"), {"route_code": route_code}).fetchone()
    count = int(in_flight[0]) if in_flight else 0
    if count and not force:
        raise Refused(
            f"route {route_code} has {count} deliveries in flight; wait for them, "
            "or give --force (they are then abandoned)"
        )
    with change(conn, "route remove", actor):
        allowlist_ops.write(conn, "route remove", actor, lambda cur: [c for c in cur if c != route_code])
        conn.execute(q("remove_route"), {"route_code": route_code})
    return Changed(
        True, f"route {route_code} removed (and taken off the allowlist)", {"route_code": route_code}
    )


def _going_live_problem(conn: Conn, route: Route, changes: RouteChanges) -> str | None:
    """Why the route could not deliver once live, judged before anything is written."""
    kind = changes.target_kind or route.target_kind
    ref = changes.target_ref if changes.target_ref is not None else route.target_ref
    return kinds.readiness_problem(conn, kind, ref)


def set_route(
    conn: Conn,
    route_code: str,
    changes: RouteChanges,
    *,
    actor: str | None = None,
) -> Route:
    """Change a route's target, mode or policy. Going live needs the gate open and the allowlist."""
    if changes.is_empty():
        raise IuCoreError("nothing to change: give at least one option (see: iu-core route set --help)")
    _check_kind(changes.target_kind)
    filter_source, filter_tree = _compiled(changes.filter, empty_clears=True)  # refused before any read
    route = get_route(conn, route_code)
    if changes.target_kind is not None or changes.target_ref is not None:
        _check_ref(
            conn,
            changes.target_kind or route.target_kind,
            changes.target_ref if changes.target_ref is not None else route.target_ref,
        )
    if changes.dry_run is False:
        refusal = live_refusal(conn, route_code)
        why = {
            RefusalReason.GATE_CLOSED: "the delivery gate is closed",
            RefusalReason.NOT_ALLOWLISTED: "it is not on the live allowlist",
            RefusalReason.DISABLED: f"it is disabled ({route.disabled_reason or 'no reason given'})",
        }
        if refusal is not None and refusal.reason in why:
            raise Refused(f"route {route_code} cannot be live: {why[refusal.reason]} ({refusal.hint})")
        problem = _going_live_problem(conn, route, changes)
        if problem is not None:
            raise Refused(f"route {route_code} cannot be live: {problem}")
    if changes.signature is not None:
        if changes.signature not in SIGNATURES:
            raise IuCoreError(
                f"unknown signature {changes.signature!r}; expected one of {', '.join(SIGNATURES)}"
            )
        if (changes.target_kind or route.target_kind) != "external_endpoint":
            raise IuCoreError(
                f"route {route_code} is not an external_endpoint route: only webhooks are signed"
            )
    params = {f.name: getattr(changes, f.name) for f in fields(changes)}
    params["allow_networks"] = list(changes.allow_networks) if changes.allow_networks is not None else None
    params["route_code"] = route_code
    params["set_filter"] = changes.filter is not None
    params["filter_source"], params["filter_tree"] = filter_source, filter_tree
    with change(conn, "route set", actor):
        conn.execute(q("set_route"), params)
        if changes.signature == "ed25519" and route.signing_public_key is None:
            # The first switch to ed25519 makes the route's key pair (audited as a rotation).
            secret_ops.replace_key(conn, route_code, window_s=0)
    return get_route(conn, route_code)


def set_enabled(
    conn: Conn, route_code: str, enabled: bool, *, reason: str = "", actor: str | None = None
) -> Changed:
    """Enable or disable a route; a disabled route is delivered nothing until enabled again."""
    route = get_route(conn, route_code)
    if not enabled and not reason.strip():
        raise IuCoreError("a reason is required to disable a route (--reason)")
    if route.enabled == enabled:
        word = "enabled" if enabled else "disabled"
        return Changed(False, f"route {route_code} is already {word}; nothing changed", route.as_dict())
    with change(conn, f"route {'enable' if enabled else 'disable'}", actor):
        params = {"route_code": route_code, "enabled": enabled, "reason": reason.strip()}
        with conn.cursor(row_factory=dict_row) as cur:
            row: dict[str, Any] = cur.execute(q("set_route_enabled"), params).fetchone() or {}
    summary = f"route {route_code} " + ("enabled" if enabled else f"disabled ({reason.strip()})")
    if row.get("forced_dry_run"):
        summary += (
            "; it was live while the gate is closed or it is off the allowlist, so it is now dry-run too"
        )
    return Changed(True, summary, {**get_route(conn, route_code).as_dict(), **row})


def live_refusal(conn: Conn, route_code: str) -> Refusal | None:
    """Why ``route_code`` may not deliver now (None: it may)."""
    return route_refusal(conn, route_code)


def backfill(
    conn: Conn, route_code: str, since: dt.datetime | None = None, *, actor: str | None = None
) -> Changed:
    """Create deliveries on ``route_code`` for its events (since ``since``) that it never delivered."""
    get_route(conn, route_code)
    with change(conn, "route backfill", actor):
        row = conn.execute(q("backfill"), {"route_code": route_code, "since": since}).fetchone()
        added = int(row[0]) if row else 0
        if added:
            audit_ops.note(
                conn,
                "route",
                route_code,
                "backfill",
                after={"added": added, "since": since.isoformat() if since else None},
            )
    summary = (
        f"{added} older events queued for delivery on route {route_code}"
        if added
        else f"route {route_code} has no older events to deliver; nothing changed"
    )
    return Changed(added > 0, summary, {"route_code": route_code, "added": added})
