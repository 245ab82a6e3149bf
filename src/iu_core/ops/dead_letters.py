"""Dead letters: deliveries that failed permanently or ran out of attempts; replay or discard them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg.rows import dict_row

from iu_core.actor import default_actor
from iu_core.errors import IuCoreError, NotFound
from iu_core.ops.change import Changed, Conn, change, q
from iu_core.ops.records import DeadLetter


@dataclass(frozen=True, slots=True)
class Selection:
    """Which open dead letters an action takes: by id, by route, failed since a time, or all."""

    ids: tuple[int, ...] = ()
    route_code: str | None = None
    everything: bool = False
    since: dt.datetime | None = None

    def check(self, conn: Conn) -> None:
        chosen = sum([bool(self.ids), self.route_code is not None, self.everything])
        if chosen != 1 and not (chosen == 0 and self.since is not None):
            raise IuCoreError("choose exactly one of: dead-letter IDs, --route ROUTE, --all (or --since)")
        if self.ids:
            with conn.cursor() as cur:
                found = {r[0] for r in cur.execute(q("dead_letter_ids"), {"ids": list(self.ids)})}
            missing = sorted(set(self.ids) - found)
            if missing:
                raise NotFound(f"no dead letter with id {', '.join(map(str, missing))}")
        if self.route_code is not None:
            seen = conn.execute(q("dead_letter_route_seen"), {"route_code": self.route_code}).fetchone()
            if seen is None:
                raise NotFound(f"unknown route {self.route_code!r}")


def list_open(conn: Conn, *, route_code: str | None = None, everything: bool = False) -> list[DeadLetter]:
    """Open dead letters (``everything``: also replayed and discarded ones)."""
    with conn.cursor(row_factory=dict_row) as cur:
        params = {"route_code": route_code, "all_statuses": everything}
        rows = cur.execute(q("dead_letters"), params).fetchall()
    return [DeadLetter.from_row(r) for r in rows]


def _resolve(conn: Conn, action: str, selection: Selection, reason: str | None, actor: str | None) -> Changed:
    selection.check(conn)
    params = {
        "ids": list(selection.ids),
        "route_code": selection.route_code,
        "all": selection.everything
        or (selection.since is not None and not selection.ids and selection.route_code is None),
        "since": selection.since,
        "by": actor or default_actor(),
        "note": reason,
    }
    with change(conn, f"dead-letters {action}", actor):
        orphaned = conn.execute(q("dead_letters_of_removed_routes"), params).fetchone()
        row = conn.execute(q(action), params).fetchone()
    count = int(row[0]) if row else 0
    verb = "replayed" if action == "replay" else "discarded"
    summary = f"{verb} {count} dead letter(s)" if count else f"no open dead letter matched; nothing {verb}"
    removed = int(orphaned[0]) if orphaned else 0
    if action == "replay" and removed:
        summary += f"; {removed} belong to removed routes and stay open (discard them instead)"
    return Changed(count > 0, summary, {"count": count, "of_removed_routes": removed})


def replay(
    conn: Conn, selection: Selection, *, reason: str | None = None, actor: str | None = None
) -> Changed:
    """Send open dead letters back to the worker, each in its place in its IU's order."""
    return _resolve(conn, "replay", selection, reason, actor)


def discard(conn: Conn, selection: Selection, *, reason: str, actor: str | None = None) -> Changed:
    """Give up on open dead letters, with a reason; their IU's held events may go on."""
    if not reason or not reason.strip():
        raise IuCoreError("a reason is required to discard dead letters (--reason)")
    return _resolve(conn, "discard", selection, reason.strip(), actor)
