"""The operator's controls: the delivery gate, the live allowlist, routes, and their audit.

Every change runs in one transaction that first tells the audit triggers
(migration 005) who makes it (``iu_core.actor``) and how (``iu_core.context``).
The guard trigger of migration 001 has the last word on live routes; its
refusal becomes one line saying what is missing.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iu_core import migrations
from iu_core.delivery_seam import DELIVERY_TARGET_KINDS
from iu_core.errors import IuCoreError, NotFound, Refused, describe_database_error
from iu_core.sqlfiles import queries

__all__ = [
    "GateState",
    "Route",
    "RouteChanges",
    "add_route",
    "allowlist_add",
    "allowlist_remove",
    "audit_log",
    "gate_state",
    "get_route",
    "list_routes",
    "remove_route",
    "require_schema",
    "set_gate",
    "set_route",
]

GATE_KEY = "iu_core.delivery_enabled"
ALLOWLIST_KEY = "iu_core.delivery_live_routes"


def require_schema(conn: psycopg.Connection[Any]) -> None:
    """Refuse to work on a database whose migrations are not all applied (one clear line)."""
    pending = migrations.pending(conn)
    if pending:
        names = ", ".join(m.filename for m in pending)
        raise IuCoreError(
            f"the database schema is not up to date (pending: {names}); run: iu-core db migrate"
        )


def _q() -> dict[str, str]:
    return queries("operator")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "iu-core"


@dataclass(frozen=True, slots=True)
class GateState:
    """The delivery gate and the live allowlist."""

    gate_open: bool
    allowlist: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"gate_open": self.gate_open, "allowlist": list(self.allowlist)}


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
    allowlisted: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Route:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["allow_networks"] = tuple(str(n) for n in row["allow_networks"] or ())
        return cls(**values)

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

    def is_empty(self) -> bool:
        return not self.set_rate_limit and all(
            getattr(self, f.name) is None for f in fields(self) if f.name not in {"set_rate_limit"}
        )


@contextmanager
def _change(
    conn: psycopg.Connection[Any], context: str, actor: str | None
) -> Iterator[psycopg.Connection[Any]]:
    """One audited transaction; database refusals become one-line user errors."""
    try:
        with conn.transaction():
            conn.execute(_q()["set_actor"], {"actor": actor or default_actor(), "context": context})
            yield conn
    except psycopg.Error as exc:
        raise _user_error(exc) from exc


def _user_error(exc: psycopg.Error) -> IuCoreError:
    state = exc.sqlstate
    text = describe_database_error(exc)
    if state in {"IU001", "IU002"}:  # the guard trigger: what is missing for a live route
        return Refused(text)
    if state == "23505":
        return IuCoreError(f"already exists: {text}")
    if state == "23503":
        return Refused(f"still referenced: {text}")
    if state and state[:2] in {"22", "23", "IU"}:
        return IuCoreError(text)
    return IuCoreError(text)


def gate_state(conn: psycopg.Connection[Any]) -> GateState:
    row = conn.execute(_q()["gate_state"]).fetchone()
    assert row is not None
    allowlist = tuple(str(code) for code in row[1] if isinstance(code, str))
    return GateState(bool(row[0]), allowlist)


def set_gate(conn: psycopg.Connection[Any], open_: bool, *, actor: str | None = None) -> GateState:
    """Open or close the delivery gate (closing it stops every live delivery at once)."""
    with _change(conn, "gate open" if open_ else "gate close", actor):
        conn.execute(_q()["set_config"], {"key": GATE_KEY, "value": Jsonb(open_)})
    return gate_state(conn)


def _require_routes(conn: psycopg.Connection[Any], codes: Sequence[str]) -> None:
    found = {r[0] for r in conn.execute(_q()["existing_routes"], {"route_codes": list(codes)})}
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound(f"no such route: {', '.join(missing)} (see: iu-core route list)")


def _write_allowlist(
    conn: psycopg.Connection[Any], context: str, actor: str | None, change: Any
) -> GateState:
    with _change(conn, context, actor):
        rows = dict(conn.execute(_q()["get_config"]).fetchall())
        current = rows.get(ALLOWLIST_KEY)
        codes = [c for c in current if isinstance(c, str)] if isinstance(current, list) else []
        conn.execute(_q()["set_config"], {"key": ALLOWLIST_KEY, "value": Jsonb(change(codes))})
    return gate_state(conn)


def allowlist_add(
    conn: psycopg.Connection[Any], codes: Sequence[str], *, actor: str | None = None
) -> GateState:
    """Put routes on the live allowlist (they must exist)."""
    _require_routes(conn, codes)
    return _write_allowlist(conn, "allowlist add", actor, lambda cur: sorted(set(cur) | set(codes)))


def allowlist_remove(
    conn: psycopg.Connection[Any], codes: Sequence[str], *, actor: str | None = None
) -> GateState:
    """Take routes off the allowlist: their live deliveries are refused from now on."""
    return _write_allowlist(
        conn, "allowlist remove", actor, lambda cur: [c for c in cur if c not in set(codes)]
    )


def list_routes(conn: psycopg.Connection[Any]) -> list[Route]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [Route.from_row(r) for r in cur.execute(_q()["list_routes"]).fetchall()]


def get_route(conn: psycopg.Connection[Any], route_code: str) -> Route:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_q()["get_route"], {"route_code": route_code}).fetchone()
    if row is None:
        raise NotFound(f"no such route: {route_code} (see: iu-core route list)")
    return Route.from_row(row)


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in DELIVERY_TARGET_KINDS:
        raise IuCoreError(
            f"unknown target kind {kind!r}; expected one of {', '.join(sorted(DELIVERY_TARGET_KINDS))}"
        )


def add_route(
    conn: psycopg.Connection[Any],
    route_code: str,
    *,
    event_type: str,
    target_kind: str,
    target_ref: str,
    actor: str | None = None,
) -> Route:
    """Add a route; it starts in dry-run (make it live with ``set_route(dry_run=False)``)."""
    _check_kind(target_kind)
    if conn.execute(_q()["existing_routes"], {"route_codes": [route_code]}).fetchone():
        raise IuCoreError(f"route {route_code} already exists (change it with: iu-core route set)")
    with _change(conn, "route add", actor):
        conn.execute(
            _q()["add_route"],
            {
                "route_code": route_code,
                "event_type": event_type,
                "target_kind": target_kind,
                "target_ref": target_ref,
            },
        )
    return get_route(conn, route_code)


def remove_route(conn: psycopg.Connection[Any], route_code: str, *, actor: str | None = None) -> None:
    with _change(conn, "route remove", actor):
        if conn.execute(_q()["remove_route"], {"route_code": route_code}).fetchone() is None:
            raise NotFound(f"no such route: {route_code} (see: iu-core route list)")


def set_route(
    conn: psycopg.Connection[Any], route_code: str, changes: RouteChanges, *, actor: str | None = None
) -> Route:
    """Change a route's target, mode or policy. Going live needs the gate open and the allowlist."""
    if changes.is_empty():
        raise IuCoreError("nothing to change: give at least one option (see: iu-core route set --help)")
    _check_kind(changes.target_kind)
    params = {f.name: getattr(changes, f.name) for f in fields(changes)}
    params["allow_networks"] = list(changes.allow_networks) if changes.allow_networks is not None else None
    params["route_code"] = route_code
    with _change(conn, "route set", actor):
        if conn.execute(_q()["set_route"], params).fetchone() is None:
            raise NotFound(f"no such route: {route_code} (see: iu-core route list)")
    return get_route(conn, route_code)


def audit_log(
    conn: psycopg.Connection[Any], *, object_key: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest audit rows first (who, when, what, before, after)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(_q()["audit"], {"object_key": object_key, "limit": limit}).fetchall())
