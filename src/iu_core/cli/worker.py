"""``iu-core worker``, ``deliveries``, ``dead-letters``, ``status``, ``route backfill``."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import Any

import click
from rich.table import Table

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json, route_group
from iu_core.worker import WorkerConfig, ops, run_worker


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _routes_option(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    codes = tuple(code.strip() for code in value.split(",") if code.strip())
    return codes or None


# ---------------------------------------------------------------------------- worker
@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="IU_CORE_WORKER_CONCURRENCY",
    show_envvar=True,
    help="Database lanes (threads with one connection each) running batches.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    envvar="IU_CORE_WORKER_BATCH_SIZE",
    show_envvar=True,
    help="Deliveries claimed and recorded per round trip.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.01, 3600),
    default=1.0,
    show_default=True,
    envvar="IU_CORE_WORKER_POLL_INTERVAL",
    show_envvar=True,
    help="Seconds between polls when no notification arrives.",
)
@click.option(
    "--routes",
    default=None,
    envvar="IU_CORE_WORKER_ROUTES",
    show_envvar=True,
    help="Comma-separated route codes to work on (default: every route).",
)
@click.option(
    "--http-concurrency",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    envvar="IU_CORE_WORKER_HTTP_CONCURRENCY",
    show_envvar=True,
    help="Deliveries in flight at once to HTTP and other Python targets (each route is "
    "also bounded by its max_in_flight).",
)
@click.option(
    "--lease-margin",
    type=click.FloatRange(1, 3600),
    default=30.0,
    show_default=True,
    envvar="IU_CORE_WORKER_LEASE_MARGIN",
    show_envvar=True,
    help="Seconds a claim of an HTTP delivery outlives the route's timeouts; after that another "
    "worker may take it over (and deliver it again with the same idempotency key).",
)
@click.option(
    "--once",
    is_flag=True,
    default=False,
    envvar="IU_CORE_WORKER_ONCE",
    show_envvar=True,
    help="Deliver what is due now, then exit (for cron and tests).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="IU_CORE_LOG_LEVEL",
    show_envvar=True,
    help="info: one line per batch; debug: more.",
)
@json_option
@pass_app
def worker_cmd(
    app: AppContext,
    concurrency: int,
    batch_size: int,
    poll_interval: float,
    routes: str | None,
    http_concurrency: int,
    lease_margin: float,
    once: bool,
    log_level: str,
    as_json: bool,
) -> None:
    """Deliver the outbox continuously: dry-run decisions, live deliveries, retries, dead letters.

    Stops on SIGTERM/SIGINT after finishing in-flight deliveries (exit 0).
    """
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    config = WorkerConfig(
        concurrency=concurrency,
        batch_size=batch_size,
        poll_interval=poll_interval,
        routes=_routes_option(routes),
        http_concurrency=http_concurrency,
        lease_margin_s=lease_margin,
    )
    stats = run_worker(app.url, config, once=once, install_signal_handlers=True)
    if as_json:
        print_json(stats.as_dict())
    elif once:
        console.print(
            f"decided {stats.decided}, sent {stats.sent}, skipped {stats.skipped}, "
            f"retrying {stats.retrying}, dead {stats.dead}"
        )


# ---------------------------------------------------------------------------- status
@click.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Gate, allowlist, every route (kind, ref, mode, circuit), backlog, lag, retries, dead letters."""
    with app.connection(autocommit=True) as conn:
        state = ops.status(conn)
    if as_json:
        print_json(state)
        return
    gate = "[green]OPEN[/green]" if state["gate_open"] else "[red]CLOSED[/red]"
    console.print(f"delivery gate: {gate}")
    allowlist = ", ".join(state["allowlist"]) or "(empty)"
    console.print(f"live allowlist: {allowlist}")
    table = Table(
        "route",
        "kind",
        "ref",
        "mode",
        "enabled",
        "circuit",
        "backlog",
        "lag",
        "in flight",
        "retrying",
        "held",
        "dead letters",
    )
    for r in state["routes"]:
        enabled = "yes" if r["enabled"] else f"no ({r['disabled_reason'] or 'disabled'})"
        mode = r["mode"] + ("" if r["dry_run"] or r["allowlisted"] else " (not allowlisted)")
        table.add_row(
            r["route_code"],
            r["target_kind"],
            r["target_ref"],
            mode,
            enabled,
            r["circuit"],
            str(r["backlog"]),
            _age(r["lag_s"]),
            str(r["in_flight"]),
            str(r["retrying"]),
            str(r["held"]),
            str(r["dead_letters"]),
        )
    console.print(table)


# ---------------------------------------------------------------------------- deliveries
@click.group("deliveries")
def deliveries_group() -> None:
    """Deliveries that have not reached their target yet, and why."""


@deliveries_group.command("list")
@click.option("--route", "route_code", default=None, help="Only this route.")
@click.option("--iu", "iu_code", default=None, help="Only this information unit (its code).")
@click.option(
    "--state",
    type=click.Choice(list(ops.STATE_FILTERS)),
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
    with app.connection(autocommit=True) as conn:
        rows = ops.deliveries(conn, route_code=route_code, iu_code=iu_code, state=state, limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No deliveries match.")
        return
    table = Table("route", "event", "seq", "iu", "state", "attempts", "next attempt", "last error")
    for r in rows:
        when = r["next_attempt_at"].isoformat(timespec="seconds") if r["state"] == "retrying" else ""
        table.add_row(
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


# ---------------------------------------------------------------------------- dead letters
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
    with app.connection(autocommit=True) as conn:
        rows = ops.dead_letters(conn, route_code=route_code, everything=everything)
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
    func = click.option("--all", "everything", is_flag=True, help="Every open dead letter.")(func)
    func = click.option("--route", "route_code", default=None, help="Every open dead letter of a route.")(
        func
    )
    return click.argument("ids", nargs=-1, type=int)(func)


@dead_letters_group.command("replay")
@_selection
@json_option
@pass_app
def dead_letters_replay_cmd(
    app: AppContext,
    ids: tuple[int, ...],
    route_code: str | None,
    everything: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Send dead letters (by IDS, --route or --all) back to the worker, in order."""
    with app.connection(autocommit=True) as conn:
        count = ops.replay(conn, ids=ids, route_code=route_code, everything=everything, reason=reason)
    if as_json:
        print_json({"replayed": count})
    else:
        console.print(f"replayed {count} dead letter(s)")


@dead_letters_group.command("discard")
@_selection
@json_option
@pass_app
def dead_letters_discard_cmd(
    app: AppContext,
    ids: tuple[int, ...],
    route_code: str | None,
    everything: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Give up on dead letters (by IDS, --route or --all); --reason is required."""
    with app.connection(autocommit=True) as conn:
        count = ops.discard(conn, ids=ids, route_code=route_code, everything=everything, reason=reason or "")
    if as_json:
        print_json({"discarded": count})
    else:
        console.print(f"discarded {count} dead letter(s)")


# ---------------------------------------------------------------------------- route backfill
@route_group.command("backfill")
@click.argument("route_code")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    default=None,
    help="Only events that occurred at or after this time (UTC unless given).",
)
@json_option
@pass_app
def route_backfill_cmd(app: AppContext, route_code: str, since: dt.datetime | None, as_json: bool) -> None:
    """Give ROUTE deliveries for its existing events (those it has none for yet)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    with app.connection(autocommit=True) as conn:
        added = ops.backfill(conn, route_code, since)
    if as_json:
        print_json({"route_code": route_code, "added": added})
    else:
        console.print(f"route {route_code}: {added} deliveries added")


COMMANDS: list[click.Command] = [worker_cmd, status_cmd, deliveries_group, dead_letters_group]
