"""``iu-core status``: gate, allowlist, every route's backlog and lag, and the database's health."""

from __future__ import annotations

import click

from iu_core.cli._common import (
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_json,
    wide_table,
)
from iu_core.ops import status as status_ops


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


@click.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Gate, allowlist, every route (kind, ref, mode, circuit), backlog, lag, retries, dead letters."""
    with operator_connection(app) as conn:
        state = status_ops.status(conn)
    if as_json:
        print_json(state)
        return
    gate = "[green]OPEN[/green]" if state["gate_open"] else "[red]CLOSED[/red]"
    console.print(f"delivery gate: {gate}")
    allowlist = ", ".join(state["allowlist"]) or "(empty)"
    console.print(f"live allowlist: {allowlist}")
    width = max((len(r["route_code"]) for r in state["routes"]), default=0)
    table = wide_table(
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
        first_width=width,
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
    health = state["health"]
    oldest = health["oldest_transaction"]
    console.print(
        f"database: transaction-ID age {health['xid_age']}, xmin horizon age "
        f"{health['xmin_horizon_age'] if health['xmin_horizon_age'] is not None else '-'}, "
        f"oldest open transaction {_age(oldest['age_s']) if oldest else '-'}",
        markup=False,
    )
    for warning in health["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")


COMMANDS: list[click.Command] = [status_cmd]
