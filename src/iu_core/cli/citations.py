"""``iu-core citations`` and ``cited-by``: the references stored between provisions."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Column, Table

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.domain import citation_store


def _target(row: dict[str, object], code: str) -> str:
    """What a citation names: its eid, ``CODE:eid`` in another unit."""
    unit = row.get("to_code")
    eid = row.get("to_eid") or row.get("cited_eid") or ""
    return f"{unit}:{eid}" if unit and unit != code else str(eid)


@click.command("citations")
@click.argument("code")
@click.option("--eid", default=None, metavar="EID", help="Only the citations written in this provision.")
@click.option("--unresolved", "unresolved_only", is_flag=True, help="Only the citations that do not resolve.")
@json_option
@pass_app
def citations_cmd(app: AppContext, code: str, eid: str | None, unresolved_only: bool, as_json: bool) -> None:
    """List the references written in unit CODE and what each resolves to."""
    with app.connection() as conn:
        rows = citation_store.citations_of(conn, code, eid=eid, unresolved_only=unresolved_only)
    if as_json:
        print_json(rows)
        return
    table = Table(
        Column("eid", no_wrap=True),
        Column("text", overflow="fold"),
        Column("cites", no_wrap=True),
        Column("resolved", overflow="fold"),
    )
    for r in rows:
        table.add_row(
            escape(r["eid"] or ""),
            escape(" ".join(r["matched_text"].split())),
            escape(_target(r, code)),
            "yes" if r["unresolved"] is None else escape(r["unresolved_detail"] or r["unresolved"]),
        )
    console.print(table)
    console.print(f"{len(rows)} citation(s)")


@click.command("cited-by")
@click.argument("code")
@click.argument("eid")
@json_option
@pass_app
def cited_by_cmd(app: AppContext, code: str, eid: str, as_json: bool) -> None:
    """List the provisions, of any unit, whose text cites provision EID of unit CODE."""
    with app.connection() as conn:
        rows = citation_store.cited_by(conn, code, eid)
    if as_json:
        print_json(rows)
        return
    table = Table(Column("unit", no_wrap=True), Column("eid", no_wrap=True), Column("text", overflow="fold"))
    for r in rows:
        table.add_row(
            escape(r["from_code"]), escape(r["from_eid"] or ""), escape(" ".join(r["matched_text"].split()))
        )
    console.print(table)
    console.print(f"{len(rows)} citation(s)")


COMMANDS: list[click.Command] = [citations_cmd, cited_by_cmd]
