"""``iu-core gate``: the global kill switch of every live delivery."""

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
from iu_core.ops import gate as gate_ops
from iu_core.ops.change import Changed
from iu_core.ops.gate import GateState


def print_gate(state: GateState) -> None:
    gate = "[green]OPEN[/green]" if state.gate_open else "[red]CLOSED[/red]"
    console.print(f"delivery gate: {gate}")
    console.print(f"live allowlist: {', '.join(state.allowlist) if state.allowlist else '(empty)'}")


def _print_change(changed: Changed, as_json: bool) -> None:
    print_changed(changed, as_json)
    if not as_json:
        print_gate(GateState(bool(changed.data["gate_open"]), tuple(changed.data["allowlist"])))


@click.group("gate")
def gate_group() -> None:
    """The delivery gate: the global kill switch of every live delivery."""


@gate_group.command("open")
@json_option
@pass_app
def gate_open_cmd(app: AppContext, as_json: bool) -> None:
    """Open the gate: live, allowlisted routes deliver."""
    with operator_connection(app) as conn:
        changed = gate_ops.set_gate(conn, True)
    _print_change(changed, as_json)


@gate_group.command("close")
@json_option
@pass_app
def gate_close_cmd(app: AppContext, as_json: bool) -> None:
    """Close the gate: every delivery is refused at once (nothing is lost; the worker pauses)."""
    with operator_connection(app) as conn:
        changed = gate_ops.set_gate(conn, False)
    _print_change(changed, as_json)


@gate_group.command("show")
@json_option
@pass_app
def gate_show_cmd(app: AppContext, as_json: bool) -> None:
    """Show the gate and the live allowlist."""
    with operator_connection(app) as conn:
        state = gate_ops.gate_state(conn)
    if as_json:
        print_json(state.as_dict())
    else:
        print_gate(state)


COMMANDS: list[click.Command] = [gate_group]
