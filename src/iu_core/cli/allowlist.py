"""``iu-core allowlist``: the routes that may be live."""

from __future__ import annotations

import click

from iu_core.cli._common import (
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_changed,
    print_json,
)
from iu_core.ops import allowlist as allowlist_ops
from iu_core.ops import gate as gate_ops
from iu_core.ops import routes as route_ops


@click.group("allowlist")
def allowlist_group() -> None:
    """The live allowlist: the routes that may be live (dry_run = false)."""


@allowlist_group.command("add")
@click.argument("routes", nargs=-1, required=True)
@json_option
@pass_app
def allowlist_add_cmd(app: AppContext, routes: tuple[str, ...], as_json: bool) -> None:
    """Put ROUTES on the live allowlist."""
    with operator_connection(app) as conn:
        print_changed(allowlist_ops.add(conn, routes), as_json)


@allowlist_group.command("remove")
@click.argument("routes", nargs=-1, required=True)
@json_option
@pass_app
def allowlist_remove_cmd(app: AppContext, routes: tuple[str, ...], as_json: bool) -> None:
    """Take ROUTES off the allowlist: their deliveries are refused from now on."""
    with operator_connection(app) as conn:
        changed = allowlist_ops.remove(conn, routes)
        live = [r.route_code for r in route_ops.list_routes(conn) if r.route_code in routes and not r.dry_run]
    print_changed(changed, as_json)
    if not as_json:
        for code in live:
            console.print(f"note: {code} is still live but no longer allowlisted: its deliveries are refused")


@allowlist_group.command("show")
@json_option
@pass_app
def allowlist_show_cmd(app: AppContext, as_json: bool) -> None:
    """Show the live allowlist."""
    with operator_connection(app) as conn:
        state = gate_ops.gate_state(conn)
    if as_json:
        print_json(list(state.allowlist))
    else:
        for code in state.allowlist:
            console.print(code)
        if not state.allowlist:
            console.print("(the live allowlist is empty)")


COMMANDS: list[click.Command] = [allowlist_group]
