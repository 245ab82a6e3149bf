"""May this route deliver now? The database's one answer (``fn_iu_route_refusal``), typed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from iu_core.ops.change import Conn, q


class RefusalReason(enum.StrEnum):
    """Mirrors the reasons of fn_iu_route_refusal (a test compares them)."""

    GATE_CLOSED = "gate_closed"
    UNKNOWN_ROUTE = "unknown_route"
    DISABLED = "disabled"
    NOT_ALLOWLISTED = "not_allowlisted"
    DRY_RUN = "dry_run"
    CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a route may not deliver now: a reason code, its SQLSTATE, a message and a hint."""

    reason: RefusalReason
    sqlstate: str
    message: str
    hint: str


def route_refusal(conn: Conn, route_code: str) -> Refusal | None:
    """Why ``route_code`` may not deliver now (None: it may)."""
    row = conn.execute(q("route_refusal"), {"route_code": route_code}).fetchone()
    if row is None or row[0] is None:
        return None
    return Refusal(RefusalReason(row[0]), row[1], row[2], row[3])
