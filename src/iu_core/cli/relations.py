"""``iu-core relate`` and ``relations``: typed links between information units."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from iu_core import domain
from iu_core.cli._common import AppContext, actor_option, console, json_option, pass_app, print_json


@click.command("relate")
@click.argument("from_code")
@click.argument("relation_type", metavar="TYPE", type=click.Choice(domain.RELATION_TYPES))
@click.argument("to_code")
@click.option("--remove", is_flag=True, help="Remove the relation instead of adding it.")
@actor_option
@json_option
@pass_app
def relate_cmd(
    app: AppContext,
    from_code: str,
    relation_type: str,
    to_code: str,
    remove: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Link FROM_CODE to TO_CODE: cites, amends, supersedes or related."""
    change = domain.unrelate if remove else domain.relate
    with app.connection() as conn:
        relation = change(conn, from_code, relation_type, to_code, actor=actor)
    if as_json:
        print_json(relation.as_dict())
        return
    verb = "removed" if remove else "added"
    console.print(
        f"{verb}: {escape(from_code)} {relation_type} {escape(to_code)} (event {relation.event_id})"
    )


@click.command("relations")
@click.argument("code", required=False)
@json_option
@pass_app
def relations_cmd(app: AppContext, code: str | None, as_json: bool) -> None:
    """List relations (all, or those from or to CODE)."""
    with app.connection() as conn:
        rows = domain.list_relations(conn, code)
    if as_json:
        print_json(rows)
        return
    table = Table("from", "type", "to", "actor", "created at")
    for r in rows:
        table.add_row(
            escape(r["from_code"]),
            r["relation_type"],
            escape(r["to_code"]),
            escape(r["actor"]),
            r["created_at"].isoformat(timespec="seconds"),
        )
    console.print(table)


COMMANDS: list[click.Command] = [relate_cmd, relations_cmd]
