"""``iu-core gate``, ``allowlist``, ``route list|show|add|remove|set``, ``audit``: the operator's controls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg
from rich.table import Column, Table

from iu_core import operator as ops
from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json, route_group
from iu_core.delivery_seam import DELIVERY_TARGET_KINDS


@contextmanager
def _connect(app: AppContext) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a database whose schema is up to date."""
    with app.connection(autocommit=True) as conn:
        ops.require_schema(conn)
        yield conn


def _table(first: str, *headers: str, first_width: int = 0) -> Table:
    """A table whose first column (a route code, an id) is never cut; the others fold."""
    return Table(
        Column(first, no_wrap=True, min_width=max(first_width, len(first))),
        *(Column(h, overflow="fold") for h in headers),
    )


def _print_gate(state: ops.GateState) -> None:
    gate = "[green]OPEN[/green]" if state.gate_open else "[red]CLOSED[/red]"
    console.print(f"delivery gate: {gate}")
    console.print(f"live allowlist: {', '.join(state.allowlist) if state.allowlist else '(empty)'}")


# ---------------------------------------------------------------------------- gate
@click.group("gate")
def gate_group() -> None:
    """The delivery gate: the global kill switch of every live delivery."""


@gate_group.command("open")
@pass_app
def gate_open_cmd(app: AppContext) -> None:
    """Open the gate: live, allowlisted routes deliver."""
    with _connect(app) as conn:
        _print_gate(ops.set_gate(conn, True))


@gate_group.command("close")
@pass_app
def gate_close_cmd(app: AppContext) -> None:
    """Close the gate: every delivery is refused at once (nothing is lost; the worker pauses)."""
    with _connect(app) as conn:
        _print_gate(ops.set_gate(conn, False))


@gate_group.command("show")
@json_option
@pass_app
def gate_show_cmd(app: AppContext, as_json: bool) -> None:
    """Show the gate and the live allowlist."""
    with _connect(app) as conn:
        state = ops.gate_state(conn)
    if as_json:
        print_json(state.as_dict())
    else:
        _print_gate(state)


# ---------------------------------------------------------------------------- allowlist
@click.group("allowlist")
def allowlist_group() -> None:
    """The live allowlist: the routes that may be live (dry_run = false)."""


@allowlist_group.command("add")
@click.argument("routes", nargs=-1, required=True)
@pass_app
def allowlist_add_cmd(app: AppContext, routes: tuple[str, ...]) -> None:
    """Put ROUTES on the live allowlist."""
    with _connect(app) as conn:
        _print_gate(ops.allowlist_add(conn, routes))


@allowlist_group.command("remove")
@click.argument("routes", nargs=-1, required=True)
@pass_app
def allowlist_remove_cmd(app: AppContext, routes: tuple[str, ...]) -> None:
    """Take ROUTES off the allowlist: their deliveries are refused from now on."""
    with _connect(app) as conn:
        state = ops.allowlist_remove(conn, routes)
        live = [r.route_code for r in ops.list_routes(conn) if r.route_code in routes and not r.dry_run]
    _print_gate(state)
    for code in live:
        console.print(f"note: {code} is still live but no longer allowlisted: its deliveries are refused")


@allowlist_group.command("show")
@json_option
@pass_app
def allowlist_show_cmd(app: AppContext, as_json: bool) -> None:
    """Show the live allowlist."""
    with _connect(app) as conn:
        state = ops.gate_state(conn)
    if as_json:
        print_json(list(state.allowlist))
    else:
        for code in state.allowlist:
            console.print(code)
        if not state.allowlist:
            console.print("(the live allowlist is empty)")


# ---------------------------------------------------------------------------- routes
def _route_detail(route: ops.Route) -> Table:
    table = Table("field", "value", title=route.route_code, title_justify="left")
    for key, value in route.as_dict().items():
        if isinstance(value, list):
            value = ", ".join(value) or "—"
        table.add_row(key, "—" if value is None else str(value))
    return table


@route_group.command("list")
@json_option
@pass_app
def route_list_cmd(app: AppContext, as_json: bool) -> None:
    """List the routes: event type, target, mode, allowlisted."""
    with _connect(app) as conn:
        routes = ops.list_routes(conn)
    if as_json:
        print_json([r.as_dict() for r in routes])
        return
    width = max((len(r.route_code) for r in routes), default=0)
    table = _table(
        "route", "event type", "target kind", "target ref", "mode", "allowlisted", first_width=width
    )
    for r in routes:
        table.add_row(
            r.route_code, r.event_type, r.target_kind, r.target_ref, r.mode, "yes" if r.allowlisted else "no"
        )
    console.print(table)


@route_group.command("show")
@click.argument("route")
@json_option
@pass_app
def route_show_cmd(app: AppContext, route: str, as_json: bool) -> None:
    """Show every setting of ROUTE."""
    with _connect(app) as conn:
        found = ops.get_route(conn, route)
    if as_json:
        print_json(found.as_dict())
    else:
        console.print(_route_detail(found))


KIND = click.Choice(sorted(DELIVERY_TARGET_KINDS))


@route_group.command("add")
@click.argument("route")
@click.option("--event-type", required=True, help="Event type the route carries, e.g. structure_op_applied.")
@click.option("--target-kind", required=True, type=KIND, help="Kind of target.")
@click.option("--target-ref", required=True, help="The target: consumer name, URL, flow id, ...")
@pass_app
def route_add_cmd(app: AppContext, route: str, event_type: str, target_kind: str, target_ref: str) -> None:
    """Add ROUTE in dry-run (make it live later with `route set ROUTE --live`)."""
    with _connect(app) as conn:
        added = ops.add_route(
            conn, route, event_type=event_type, target_kind=target_kind, target_ref=target_ref
        )
    console.print(
        f"route {added.route_code} added ({added.mode}): "
        f"{added.event_type} → {added.target_kind} {added.target_ref}"
    )


@route_group.command("remove")
@click.argument("route")
@pass_app
def route_remove_cmd(app: AppContext, route: str) -> None:
    """Remove ROUTE."""
    with _connect(app) as conn:
        ops.remove_route(conn, route)
    console.print(f"route {route} removed")


@route_group.command("set")
@click.argument("route")
@click.option("--target-kind", type=KIND, help="Kind of target.")
@click.option("--target-ref", help="The target: consumer name, URL, flow id, ...")
@click.option("--live/--dry-run", "live", default=None, help="Deliver for real, or only record decisions.")
@click.option("--max-attempts", type=click.IntRange(1, 100), help="Attempts before a dead letter.")
@click.option(
    "--base-delay-ms", type=click.IntRange(0, 3_600_000), help="First retry delay (doubles, jittered)."
)
@click.option(
    "--ordering", type=click.Choice(["strict", "relaxed"]), help="strict: a dead letter holds its IU."
)
@click.option(
    "--allow-network",
    "allow_networks",
    multiple=True,
    metavar="CIDR",
    help="Network the address policy lets through (repeatable; replaces the list).",
)
@click.option("--clear-allow-networks", is_flag=True, help="Empty the list of allowed networks.")
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(0, 300, min_open=True), help="Request timeout, s."
)
@click.option(
    "--connect-timeout",
    "connect_timeout_s",
    type=click.FloatRange(0, 300, min_open=True),
    help="Connect timeout, s.",
)
@click.option("--max-in-flight", type=click.IntRange(1, 1000), help="Concurrent deliveries of this route.")
@click.option(
    "--rate-limit",
    "rate_limit",
    type=click.FloatRange(0, min_open=False),
    help="Deliveries per second (0 removes the limit).",
)
@click.option("--circuit-threshold", type=click.IntRange(1), help="Failures in a row that open the circuit.")
@click.option("--circuit-cooldown", type=click.IntRange(1), help="Seconds the circuit stays open.")
@pass_app
def route_set_cmd(app: AppContext, /, route: str, **options: Any) -> None:
    """Change ROUTE's target, mode (--live needs the gate open and the route allowlisted) or policy."""
    networks: tuple[str, ...] | None = tuple(options["allow_networks"]) or None
    if options["clear_allow_networks"]:
        networks = ()
    rate = options["rate_limit"]
    changes = ops.RouteChanges(
        target_kind=options["target_kind"],
        target_ref=options["target_ref"],
        dry_run=None if options["live"] is None else not options["live"],
        max_attempts=options["max_attempts"],
        base_delay_ms=options["base_delay_ms"],
        ordering_policy=options["ordering"],
        allow_networks=networks,
        timeout_s=options["timeout_s"],
        connect_timeout_s=options["connect_timeout_s"],
        max_in_flight=options["max_in_flight"],
        set_rate_limit=rate is not None,
        rate_limit_per_s=rate if rate else None,
        circuit_failure_threshold=options["circuit_threshold"],
        circuit_cooldown_s=options["circuit_cooldown"],
    )
    with _connect(app) as conn:
        updated = ops.set_route(conn, route, changes)
    console.print(f"route {updated.route_code} updated ({updated.mode})")


# ---------------------------------------------------------------------------- audit
@click.command("audit")
@click.option("--key", "object_key", help="Only changes of this route code or config key.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    envvar="IU_CORE_AUDIT_LIMIT",
    show_envvar=True,
    help="Newest rows to show.",
)
@json_option
@pass_app
def audit_cmd(app: AppContext, object_key: str | None, limit: int, as_json: bool) -> None:
    """Who changed which route, gate or allowlist, when, from what to what."""
    with _connect(app) as conn:
        rows = ops.audit_log(conn, object_key=object_key, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = _table("id", "when", "actor", "context", "object", "action", "changed")
    for r in rows:
        before, after = r["before"] or {}, r["after"] or {}
        changed = sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "updated_at"
        )
        if r["action"] != "update":
            changed = ["(whole row)"]
        when = r["changed_at"].isoformat(timespec="seconds")
        table.add_row(
            str(r["audit_id"]),
            when,
            r["actor"],
            r["context"] or "",
            f"{r['object_type']} {r['object_key']}",
            r["action"],
            ", ".join(changed),
        )
    console.print(table)


COMMANDS: list[click.Command] = [gate_group, allowlist_group, audit_cmd]
