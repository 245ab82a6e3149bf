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
    # One block per route, one fact a line: nothing is folded, at 80 columns or piped,
    # and a long target (a URL) stays whole on its own line.
    for r in state["routes"]:
        enabled = "enabled" if r["enabled"] else f"disabled ({r['disabled_reason'] or 'no reason given'})"
        mode = r["mode"] + ("" if r["dry_run"] or r["allowlisted"] else " (not allowlisted)")
        console.print()
        console.print(r["route_code"], markup=False)
        console.print(f"  target   {r['target_kind']} {r['target_ref']}", markup=False)
        console.print(f"  mode     {mode}, {enabled}, circuit {r['circuit']}", markup=False)
        console.print(
            f"  backlog  {r['backlog']} (lag {_age(r['lag_s'])}), in flight {r['in_flight']}, "
            f"retrying {r['retrying']}, held {r['held']}, dead letters {r['dead_letters']}",
            markup=False,
        )
    if not state["routes"]:
        console.print("routes: none (iu-core route add)")
    console.print()
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
