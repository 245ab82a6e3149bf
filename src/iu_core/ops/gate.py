"""The delivery gate: the global kill switch of every live delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from iu_core.ops.change import Changed, Conn, change, q

GATE_KEY = "iu_core.delivery_enabled"
ALLOWLIST_KEY = "iu_core.delivery_live_routes"


@dataclass(frozen=True, slots=True)
class GateState:
    """The delivery gate and the live allowlist."""

    gate_open: bool
    allowlist: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"gate_open": self.gate_open, "allowlist": list(self.allowlist)}


def gate_state(conn: Conn) -> GateState:
    row = conn.execute(q("gate_state")).fetchone()
    assert row is not None
    allowlist = tuple(str(code) for code in row[1] if isinstance(code, str))
    return GateState(bool(row[0]), allowlist)


def set_gate(conn: Conn, open_: bool, *, actor: str | None = None) -> Changed:
    """Open or close the delivery gate (closing it stops every live delivery at once)."""
    word = "open" if open_ else "closed"
    if gate_state(conn).gate_open == open_:
        return Changed(
            False, f"the delivery gate is already {word}; nothing changed", gate_state(conn).as_dict()
        )
    with change(conn, "gate open" if open_ else "gate close", actor):
        conn.execute(q("set_config"), {"key": GATE_KEY, "value": Jsonb(open_)})
    return Changed(True, f"the delivery gate is now {word}", gate_state(conn).as_dict())
