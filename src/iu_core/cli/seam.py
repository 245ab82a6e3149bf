"""``iu-core probe``, ``iu-core runtime …``, ``iu-core projection rebuild``: the seam's SQL scripts."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from iu_core import macros
from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.errors import IuCoreError

MACRO_NAMES = click.Choice(sorted(macros.MACROS))
ROLLBACK_NAMES = click.Choice(sorted(macros.ROLLBACKS))


def _cell(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "—" if value is None else str(value)


def _figures_table(title: str, figures: dict[str, Any]) -> Table:
    table = Table("figure", "value", title=title, title_justify="left")
    for key, value in figures.items():
        table.add_row(key, _cell(value))
    return table


@click.command("probe")
@json_option
@pass_app
def probe_cmd(app: AppContext, as_json: bool) -> None:
    """Run the fail-closed probe sandbox/150 (S1-S9, always rolled back); exit 0 only at 9/9 PASS."""
    report = macros.run_probe(app.url)
    if as_json:
        print_json(report.as_dict())
    else:
        table = Table("#", "probe", "result")
        for row in report.rows:
            colour = "green" if row.result == "PASS" else "red"
            table.add_row(row.n, row.probe, f"[{colour}]{row.result}[/{colour}]")
        console.print(table)
        console.print(f"{report.passed}/{macros.PROBE_COUNT} PASS — the probe's transaction was rolled back")
    if not report.ok:
        if not as_json:
            click.echo(f"error: {report.error or 'probe failed'}", err=True)
        sys.exit(1)


@click.group("runtime")
def runtime_group() -> None:
    """The runtime macros 220 (one event) and 300 (the batch) of the internal delivery seam."""


@runtime_group.command("run")
@click.argument("macro", type=MACRO_NAMES)
@json_option
@pass_app
def runtime_run_cmd(app: AppContext, macro: str, as_json: bool) -> None:
    """Run runtime macro 220 or 300 in one transaction and print its figures.

    A failed success gate rolls back everything and exits 1 with the reason.
    """
    report = macros.run_macro(app.url, macro)
    if as_json:
        print_json(report.as_dict())
        return
    console.print(_figures_table(f"runtime/{macro}: committed", report.figures))


@runtime_group.command("rollback")
@click.argument("macro", type=ROLLBACK_NAMES)
@json_option
@pass_app
def runtime_rollback_cmd(app: AppContext, macro: str, as_json: bool) -> None:
    """Undo macro 300 (and 220): remove the projection rows of fn_iu_structure_consumer."""
    report = macros.rollback(app.url, macro)
    if as_json:
        print_json(report.as_dict())
        return
    console.print(_figures_table(f"runtime/rollback/{macro}: committed", report.as_dict()))


@runtime_group.command("show")
@click.argument("macro", type=MACRO_NAMES)
@click.option("--rollback", "show_rollback", is_flag=True, help="Print the macro's rollback script instead.")
def runtime_show_cmd(macro: str, show_rollback: bool) -> None:
    """Print the SQL of a macro (what psql -f would run)."""
    if show_rollback:
        if macro not in macros.ROLLBACKS:
            raise IuCoreError(
                f"macro {macro} has no rollback script of its own; use: runtime show 300 --rollback"
            )
        sys.stdout.write(macros.rollback_sql(macro))
    else:
        sys.stdout.write(macros.macro_sql(macro))


@click.group("projection")
def projection_group() -> None:
    """The internal projection iu_tree_change_log."""


@projection_group.command("rebuild")
@json_option
@pass_app
def projection_rebuild_cmd(app: AppContext, as_json: bool) -> None:
    """Truncate the projection and rebuild it by running runtime 220 then 300."""
    report = macros.rebuild(app.url)
    if as_json:
        print_json(report.as_dict())
        return
    console.print(f"truncated {report.truncated} projection row(s)")
    console.print(_figures_table("runtime/220", report.single.figures))
    console.print(_figures_table("runtime/300", report.batch.figures))
    console.print(f"projection rebuilt: {report.projection_after} row(s)")


COMMANDS: list[click.Command] = [probe_cmd, runtime_group, projection_group]
