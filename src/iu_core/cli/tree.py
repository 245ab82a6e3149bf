"""``iu-core tree`` and ``units``: the piece trees and the information units."""

from __future__ import annotations

import datetime as dt

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree as RichTree

from iu_core import domain
from iu_core.cli._common import (
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_changed,
    print_json,
)
from iu_core.cli.show import as_of_option
from iu_core.domain.eid import piece_eids
from iu_core.domain.model import Piece, Tree
from iu_core.domain.provisions import tree_at
from iu_core.ops import unit_tags


def _node_label(piece: Piece, eid: str | None) -> str:
    label = f"[bold]{escape(piece.label)}[/bold]" if piece.label else ""
    name = " ".join(p for p in (label, escape(piece.heading)) if p)
    if not name:  # an unnamed piece (a paragraph, the preamble): the start of its text
        preview = " ".join(piece.text.split())
        preview = preview[:48] + "…" if len(preview) > 48 else preview
        name = f"[italic]{escape(preview) or '(empty)'}[/italic]"
    # The id first: a long heading may be cut at the terminal's edge, the id never.
    ident, kind = f"[cyan]{str(piece.piece_id)[:8]}[/cyan]", f"[dim]{piece.kind}[/dim]"
    if eid and piece.parent_piece_id is not None:
        kind = f"{kind} [green]{escape(eid)}[/green]"
    if not piece.active:
        return f"{ident} [strike dim]{name}[/strike dim] [red]deprecated[/red] {kind}"
    return f"{ident} {name} {kind}"


def _render(tree: Tree, include_deprecated: bool, title: str) -> RichTree:
    eids = piece_eids(tree)
    root = RichTree(
        f"[bold cyan]{escape(title)}[/bold cyan] {_node_label(tree.root, eids[tree.root.piece_id])}"
    )

    def add(branch: RichTree, piece: Piece) -> None:
        for kid in tree.children(piece.piece_id, active_only=not include_deprecated):
            add(branch.add(_node_label(kid, eids.get(kid.piece_id))), kid)

    add(root, tree.root)
    return root


@click.command("tree")
@click.argument("code")
@click.option("--active", "active_only", is_flag=True, help="Hide deprecated pieces.")
@as_of_option
@json_option
@pass_app
def tree_cmd(app: AppContext, code: str, active_only: bool, as_of: dt.datetime | None, as_json: bool) -> None:
    """Show the piece tree of an information unit: labels, headings, kinds, eids, status and ids."""
    with app.connection() as conn:
        unit = domain.get_unit(conn, code)
        tree = tree_at(conn, code, as_of)
    if as_json:
        print_json(
            {
                "iu_id": unit.iu_id,
                "code": unit.code,
                "title": unit.title,
                "status": unit.status,
                "as_of": as_of,
                "root": domain.tree_as_dict(tree, include_deprecated=not active_only),
            }
        )
        return
    console.print(_render(tree, not active_only, unit.code))


@click.group("units")
def units_group() -> None:
    """Information units (ingested documents)."""


@units_group.command("list")
@json_option
@pass_app
def units_list_cmd(app: AppContext, as_json: bool) -> None:
    """List information units with their piece and operation counts."""
    with app.connection() as conn:
        rows = domain.list_units(conn)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No information units yet (iu-core ingest PATH --code CODE).")
        return
    table = Table("code", "title", "status", "active pieces", "deprecated", "operations", "id")
    for r in rows:
        table.add_row(
            escape(r["code"]),
            escape(r["title"]),
            r["status"],
            str(r["active_pieces"]),
            str(r["deprecated_pieces"]),
            str(r["operations"]),
            str(r["iu_id"]),
        )
    console.print(table)


@units_group.command("tag")
@click.argument("code")
@click.argument("tags", nargs=-1, required=True)
@json_option
@pass_app
def units_tag_cmd(app: AppContext, code: str, tags: tuple[str, ...], as_json: bool) -> None:
    """Give unit CODE one or more TAGS (route filters match them with tag:NAME)."""
    with operator_connection(app) as conn:
        print_changed(unit_tags.tag(conn, code, tags), as_json)


@units_group.command("untag")
@click.argument("code")
@click.argument("tags", nargs=-1, required=True)
@json_option
@pass_app
def units_untag_cmd(app: AppContext, code: str, tags: tuple[str, ...], as_json: bool) -> None:
    """Take TAGS off unit CODE."""
    with operator_connection(app) as conn:
        print_changed(unit_tags.untag(conn, code, tags), as_json)


@units_group.command("tags")
@click.argument("code")
@json_option
@pass_app
def units_tags_cmd(app: AppContext, code: str, as_json: bool) -> None:
    """Show the tags of unit CODE, and its language."""
    with app.connection() as conn:
        tags = unit_tags.tags_of(conn, code)
        language = unit_tags.language_of(conn, code)
    if as_json:
        print_json({"code": code, "tags": tags, "language": language})
        return
    console.print(f"{code}: {' '.join(tags) if tags else 'no tags'} (language {language})", markup=False)


COMMANDS: list[click.Command] = [tree_cmd, units_group]
