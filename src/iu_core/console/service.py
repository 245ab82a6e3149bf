"""The console's door to the operator service layer (``iu_core.ops``), the same functions as the CLI's.

Every action passes the logged-in console user as the actor, so the audit
trail (and a dead letter's ``resolved_by``) names who acted. Nothing here
checks, refuses or writes on its own: that is the service layer's, and its
one-line refusals reach the page unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from iu_core import ops
from iu_core.ops.dead_letters import Selection
from iu_core.ops.gate import GateState
from iu_core.ops.routes import Route, RouteChanges

Conn = psycopg.Connection[Any]

__all__ = ["Route", "RouteChanges", "Selection"]


def set_gate(conn: Conn, open_: bool, actor: str) -> str:
    return ops.gate.set_gate(conn, open_, actor=actor).summary


def allowlist_add(conn: Conn, routes: Sequence[str], actor: str) -> str:
    return ops.allowlist.add(conn, routes, actor=actor).summary


def allowlist_remove(conn: Conn, routes: Sequence[str], actor: str) -> str:
    return ops.allowlist.remove(conn, routes, actor=actor).summary


def set_route(conn: Conn, route_code: str, changes: RouteChanges, actor: str) -> str:
    route = ops.routes.set_route(conn, route_code, changes, actor=actor)
    return f"route {route.route_code}: {route.mode}, {route.target_kind} / {route.target_ref}"


def replay(conn: Conn, selection: Selection, reason: str, actor: str) -> str:
    return ops.dead_letters.replay(conn, selection, reason=reason, actor=actor).summary


def discard(conn: Conn, selection: Selection, reason: str, actor: str) -> str:
    return ops.dead_letters.discard(conn, selection, reason=reason, actor=actor).summary


def status(conn: Conn) -> dict[str, Any]:
    return ops.status.status(conn).as_dict()


def dead_letters(
    conn: Conn, *, route_code: str | None = None, everything: bool = False
) -> list[dict[str, Any]]:
    return [
        d.as_dict() for d in ops.dead_letters.list_open(conn, route_code=route_code, everything=everything)
    ]


def delivery(conn: Conn, delivery_id: int) -> dict[str, Any]:
    return ops.deliveries.show(conn, delivery_id).as_dict()


def routes(conn: Conn) -> list[Route]:
    return ops.routes.list_routes(conn)


def route(conn: Conn, route_code: str) -> Route:
    return ops.routes.get_route(conn, route_code)


def gate(conn: Conn) -> GateState:
    return ops.gate.gate_state(conn)


def audit(conn: Conn, *, object_key: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return [a.as_dict() for a in ops.audit.log(conn, object_key=object_key, limit=limit)]
