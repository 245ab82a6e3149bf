"""``iu-core deliveries``: what has not reached its target yet, and one delivery's attempts."""

from __future__ import annotations

import click
from rich.table import Table

from iu_core.cli._common import (
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_changed,
    print_json,
)
from iu_core.ops import deliveries as delivery_ops


@click.group("deliveries")
def deliveries_group() -> None:
    """Deliveries that have not reached their target yet, and why."""


@deliveries_group.command("list")
@click.option("--route", "route_code", default=None, help="Only this route.")
@click.option("--iu", "iu_code", default=None, help="Only this information unit (its code).")
@click.option(
    "--state",
    type=click.Choice(list(delivery_ops.STATE_FILTERS)),
    default=None,
    help="Only deliveries in this state (default: every unfinished one).",
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@json_option
@pass_app
def deliveries_list_cmd(
    app: AppContext,
    route_code: str | None,
    iu_code: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List deliveries: pending, in flight, retrying, held behind an earlier event, dead, dry-run."""
    with operator_connection(app) as conn:
        rows = delivery_ops.list_deliveries(
            conn, route_code=route_code, iu_code=iu_code, state=state, limit=limit
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No deliveries match.")
        return
    table = Table("id", "route", "event", "seq", "iu", "state", "attempts", "next attempt", "last error")
    for r in rows:
        when = r["next_attempt_at"].isoformat(timespec="seconds") if r["state"] == "retrying" else ""
        table.add_row(
            str(r["delivery_id"]),
            r["route_code"],
            str(r["event_id"]),
            str(r["event_seq"]),
            r["iu_code"] or str(r["iu_id"]),
            r["state"],
            str(r["attempts"]),
            when,
            r["last_error"] or "",
        )
    console.print(table)


@deliveries_group.command("show")
@click.argument("delivery_id", type=int)
@json_option
@pass_app
def deliveries_show_cmd(app: AppContext, delivery_id: int, as_json: bool) -> None:
    """One delivery and its attempt history: time, status, latency, response snippet."""
    with operator_connection(app) as conn:
        found = delivery_ops.show(conn, delivery_id)
    if as_json:
        print_json(found)
        return
    console.print(
        f"delivery {found['delivery_id']}: route {found['route_code']} ({found['target_kind']}), "
        f"event {found['event_id']} #{found['event_seq']} {found['event_type'] or ''}, "
        f"state {found['state']}, attempts {found['attempts']}",
        markup=False,
    )
    table = Table("attempt", "started", "status", "latency ms", "http", "reason", "response")
    for a in found["attempts_history"]:
        table.add_row(
            str(a["attempt_no"]),
            a["started_at"].isoformat(timespec="milliseconds") if a["started_at"] else "",
            a["status"],
            "" if a["latency_ms"] is None else str(a["latency_ms"]),
            a["http_status"] or "",
            a["reason"],
            a["response_snippet"],
        )
    console.print(table)


@deliveries_group.command("resend")
@click.argument("delivery_id", type=int)
@click.option("--reason", required=True, help="Why it is sent again (recorded in the audit).")
@json_option
@pass_app
def deliveries_resend_cmd(app: AppContext, delivery_id: int, reason: str, as_json: bool) -> None:
    """Send DELIVERY_ID again, even a sent one: the worker makes a new attempt by the normal path.

    A dead delivery's open dead letter is replayed; a sent, skipped or
    discarded one goes back to pending with a fresh attempt budget.
    """
    with operator_connection(app) as conn:
        print_changed(delivery_ops.resend(conn, delivery_id, reason=reason), as_json)


COMMANDS: list[click.Command] = [deliveries_group]
