"""The live allowlist: the routes that may be live (dry_run = false)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg.types.json import Jsonb

from iu_core.errors import NotFound
from iu_core.ops.change import Changed, Conn, change, q
from iu_core.ops.gate import ALLOWLIST_KEY, gate_state


def require_routes(conn: Conn, codes: Sequence[str]) -> None:
    found = {r[0] for r in conn.execute(q("existing_routes"), {"route_codes": list(codes)})}
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound(f"no such route: {', '.join(missing)} (see: iu-core route list)")


def write(conn: Conn, context: str, actor: str | None, edit: Callable[[list[str]], list[str]]) -> bool:
    """Rewrite the allowlist inside the caller's audited transaction; True when it changed."""
    rows = dict(conn.execute(q("get_config")).fetchall())
    current = rows.get(ALLOWLIST_KEY)
    codes = [c for c in current if isinstance(c, str)] if isinstance(current, list) else []
    updated = edit(codes)
    if updated == codes:
        return False
    conn.execute(q("set_config"), {"key": ALLOWLIST_KEY, "value": Jsonb(updated)})
    return True


def add(conn: Conn, codes: Sequence[str], *, actor: str | None = None) -> Changed:
    """Put routes on the live allowlist (they must exist)."""
    require_routes(conn, codes)
    with change(conn, "allowlist add", actor):
        changed = write(conn, "allowlist add", actor, lambda cur: sorted(set(cur) | set(codes)))
    summary = "added to the allowlist" if changed else "already on the allowlist; nothing changed"
    return Changed(changed, f"{', '.join(codes)}: {summary}", gate_state(conn).as_dict())


def remove(conn: Conn, codes: Sequence[str], *, actor: str | None = None) -> Changed:
    """Take routes off the allowlist: their live deliveries are refused from now on."""
    gone = set(codes)
    with change(conn, "allowlist remove", actor):
        changed = write(conn, "allowlist remove", actor, lambda cur: [c for c in cur if c not in gone])
    summary = "removed from the allowlist" if changed else "not on the allowlist; nothing changed"
    return Changed(changed, f"{', '.join(codes)}: {summary}", gate_state(conn).as_dict())
