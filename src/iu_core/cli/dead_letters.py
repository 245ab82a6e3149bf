"""``iu-core dead-letters``: list, replay and discard deliveries that failed for good."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich.table import Table

from iu_core.cli._common import (
    TIMESTAMP,
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_changed,
    print_json,
)
from iu_core.ops import dead_letters as dead_letter_ops
from iu_core.ops.dead_letters import Selection


@click.group("dead-letters")
def dead_letters_group() -> None:
    """Deliveries that failed permanently or ran out of attempts: list, replay, discard."""


@dead_letters_group.command("list")
@click.option("--route", "route_code", default=None, help="Only this route.")
@click.option("--all", "everything", is_flag=True, help="Also replayed and discarded ones.")
@json_option
@pass_app
def dead_letters_list_cmd(app: AppContext, route_code: str | None, everything: bool, as_json: bool) -> None:
    """List open dead letters."""
    with operator_connection(app) as conn:
        rows = dead_letter_ops.list_open(conn, route_code=route_code, everything=everything)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No dead letters.")
        return
    table = Table("id", "route", "event", "status", "attempts", "reason", "created")
    for r in rows:
        table.add_row(
            str(r["dead_letter_id"]),
            r["route_code"],
            str(r["event_ref"]),
            r["status"],
            str(r["attempts"]),
            r["reason"],
            r["created_at"].isoformat(timespec="seconds"),
        )
    console.print(table)


def _selection(func: Any) -> Any:
    func = click.option("--reason", default=None, help="Why (recorded with the dead letter).")(func)
    func = click.option(
        "--since",
        type=TIMESTAMP,
        default=None,
        help="Only dead letters created at or after this time: ISO 8601, e.g. 2026-12-07T11:09:15Z "
        "(UTC unless a zone is given).",
    )(func)
    func = click.option("--all", "everything", is_flag=True, help="Every open dead letter.")(func)
    func = click.option("--route", "route_code", default=None, help="Every open dead letter of a route.")(
        func
    )
    return click.argument("ids", nargs=-1, type=int)(func)


def _chosen(
    ids: tuple[int, ...], route_code: str | None, everything: bool, since: dt.datetime | None
) -> Selection:
    return Selection(ids=ids, route_code=route_code, everything=everything, since=since)


@dead_letters_group.command("replay")
@_selection
@json_option
@pass_app
def dead_letters_replay_cmd(
    app: AppContext,
    ids: tuple[int, ...],
    route_code: str | None,
    everything: bool,
    since: dt.datetime | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Send dead letters (by IDS, --route, --all or --since) back to the worker, in order."""
    with operator_connection(app) as conn:
        changed = dead_letter_ops.replay(conn, _chosen(ids, route_code, everything, since), reason=reason)
    print_changed(changed, as_json)


@dead_letters_group.command("discard")
@_selection
@json_option
@pass_app
def dead_letters_discard_cmd(
    app: AppContext,
    ids: tuple[int, ...],
    route_code: str | None,
    everything: bool,
    since: dt.datetime | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Give up on dead letters (by IDS, --route, --all or --since); --reason is required."""
    with operator_connection(app) as conn:
        changed = dead_letter_ops.discard(
            conn, _chosen(ids, route_code, everything, since), reason=reason or ""
        )
    print_changed(changed, as_json)


COMMANDS: list[click.Command] = [dead_letters_group]
