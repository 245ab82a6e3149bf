"""``iu-core ingest | op | tree | units | relate | relations | events | samples``: the knowledge domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree as RichTree

from iu_core import domain
from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.domain.model import Piece, Tree

actor_option = click.option(
    "--actor",
    envvar="IU_CORE_ACTOR",
    show_envvar=True,
    default=None,
    help="Who is recorded as applying the change. Default: the database user.",
)


def _source(path: str) -> Path:
    if path.startswith("sample:"):
        return domain.sample_path(path.removeprefix("sample:"))
    return Path(path)


# ---------------------------------------------------------------------------
# ingest, samples
# ---------------------------------------------------------------------------
@click.command("ingest")
@click.argument("path")
@click.option("--code", required=True, help="Code of the information unit (unique).")
@click.option("--title", default=None, help="Title. Default: the document's first heading or line.")
@click.option("--replace", is_flag=True, help="Re-ingest an existing code; the difference becomes events.")
@actor_option
@json_option
@pass_app
def ingest_cmd(
    app: AppContext, path: str, code: str, title: str | None, replace: bool, actor: str | None, as_json: bool
) -> None:
    """Ingest a UTF-8 Markdown or text document at PATH and autocut it into pieces.

    PATH may be `sample:NAME` for a document shipped with IU Core (see `iu-core samples list`).
    """
    with app.connection() as conn:
        result = domain.ingest_document(
            conn, _source(path), code=code, title=title, replace=replace, actor=actor
        )
    if as_json:
        print_json(result.as_dict())
        return
    op = result.operation
    if not result.changed:
        console.print(f"{escape(code)}: unchanged; nothing written.")
    elif result.created and op is not None:
        console.print(
            f"ingested {escape(code)} ({escape(result.unit.title)}): {len(op.created)} pieces, "
            f"operation {op.operation_id}, {len(result.event_ids)} events"
        )
    elif op is not None:
        console.print(
            f"re-ingested {escape(code)}: {len(op.created)} pieces created, {len(op.deprecated)} deprecated, "
            f"{len(op.pieces) - len(op.created) - len(op.deprecated)} changed; operation {op.operation_id}, "
            f"{len(op.event_ids)} events"
        )


@click.group("samples")
def samples_group() -> None:
    """The sample documents shipped with IU Core, and the demo corpus built from them."""


@samples_group.command("list")
@json_option
def samples_list_cmd(as_json: bool) -> None:
    """List the sample documents (ingest one with `iu-core ingest sample:NAME --code CODE`)."""
    rows = [{"name": name, "path": str(domain.sample_path(name))} for name in domain.SAMPLES]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['name']}  {row['path']}")


@samples_group.command("seed")
@actor_option
@json_option
@pass_app
def samples_seed_cmd(app: AppContext, actor: str | None, as_json: bool) -> None:
    """Ingest the samples as REG-EN and QC-VI and apply the demo story of structure operations.

    Writes exactly 56 structure events; does nothing when REG-EN or QC-VI exists already.
    """
    with app.connection() as conn:
        result = domain.build_demo_corpus(conn, actor=actor or "demo")
    if as_json:
        print_json(
            {
                "seeded": result.seeded,
                "operations": result.operations,
                "structure_events": result.structure_events,
            }
        )
    elif result.seeded:
        console.print(
            f"seeded {', '.join(domain.DEMO_CODES)}: {result.operations} operations, "
            f"{result.structure_events} structure events"
        )
    else:
        console.print(f"{' or '.join(domain.DEMO_CODES)} exists already; nothing written.")


# ---------------------------------------------------------------------------
# op: structure operations
# ---------------------------------------------------------------------------
@click.group("op")
def op_group() -> None:
    """Structure operations on a piece tree (PIECE: an id or a unique prefix of it, see `iu-core tree`)."""


def _report(result: domain.OperationResult, as_json: bool) -> None:
    if as_json:
        print_json(result.as_dict())
        return
    extra = f", {len(result.deprecated)} deprecated" if result.deprecated else ""
    extra += f", new piece {result.created[0]}" if result.created else ""
    console.print(
        f"{result.operation_type}: operation {result.operation_id}, {len(result.pieces)} piece(s) touched"
        f"{extra}, {len(result.event_ids)} event(s)"
    )


@op_group.command("split")
@click.argument("piece")
@click.option("--offset", type=int, default=None, help="Split at this character offset of the text.")
@click.option("--paragraph", type=int, default=None, help="Split before this paragraph (2 = the second).")
@actor_option
@json_option
@pass_app
def split_cmd(
    app: AppContext, piece: str, offset: int | None, paragraph: int | None, actor: str | None, as_json: bool
) -> None:
    """Split PIECE in two; the second part follows it and takes its sub-pieces.

    The root piece (the document itself) cannot be split: split a piece under it.
    """
    with app.connection() as conn:
        _report(domain.split_piece(conn, piece, offset=offset, paragraph=paragraph, actor=actor), as_json)


@op_group.command("merge")
@click.argument("first")
@click.argument("second")
@actor_option
@json_option
@pass_app
def merge_cmd(app: AppContext, first: str, second: str, actor: str | None, as_json: bool) -> None:
    """Merge two adjacent sibling pieces into the earlier one.

    FIRST and SECOND may be given in either order: `op merge B A` is the same merge,
    with the same result and journal entry, as `op merge A B`.
    """
    with app.connection() as conn:
        _report(domain.merge_pieces(conn, first, second, actor=actor), as_json)


@op_group.command("move")
@click.argument("piece")
@click.option("--parent", required=True, help="The new parent piece.")
@click.option(
    "--position", type=int, default=None, help="Position among its new siblings (0 = first). Default: last."
)
@actor_option
@json_option
@pass_app
def move_cmd(
    app: AppContext, piece: str, parent: str, position: int | None, actor: str | None, as_json: bool
) -> None:
    """Move PIECE and its subtree under a new parent."""
    with app.connection() as conn:
        _report(domain.move_piece(conn, piece, parent=parent, position=position, actor=actor), as_json)


@op_group.command("rename")
@click.argument("piece")
@click.option("--label", default=None, help='New label, e.g. "Article 4".')
@click.option("--heading", default=None, help="New heading.")
@actor_option
@json_option
@pass_app
def rename_cmd(
    app: AppContext, piece: str, label: str | None, heading: str | None, actor: str | None, as_json: bool
) -> None:
    """Give PIECE a new label and/or heading."""
    with app.connection() as conn:
        _report(domain.rename_piece(conn, piece, label=label, heading=heading, actor=actor), as_json)


@op_group.command("deprecate")
@click.argument("piece")
@actor_option
@json_option
@pass_app
def deprecate_cmd(app: AppContext, piece: str, actor: str | None, as_json: bool) -> None:
    """Withdraw PIECE and its subtree (one structure_piece_deprecated event per piece)."""
    with app.connection() as conn:
        _report(domain.deprecate_piece(conn, piece, actor=actor), as_json)


@op_group.command("restore")
@click.argument("piece")
@actor_option
@json_option
@pass_app
def restore_cmd(app: AppContext, piece: str, actor: str | None, as_json: bool) -> None:
    """Bring back a deprecated PIECE and what was deprecated with it."""
    with app.connection() as conn:
        _report(domain.restore_piece(conn, piece, actor=actor), as_json)


@op_group.command("list")
@click.option("--iu", "code", default=None, help="Only operations on this information unit.")
@json_option
@pass_app
def op_list_cmd(app: AppContext, code: str | None, as_json: bool) -> None:
    """The journal of structure operations, oldest first."""
    with app.connection() as conn:
        rows = domain.list_operations(conn, code)
    if as_json:
        print_json(rows)
        return
    table = Table("seq", "unit", "operation", "id", "pieces", "actor", "applied at")
    for r in rows:
        table.add_row(
            str(r["operation_seq"]),
            escape(r["code"]),
            r["operation_type"],
            str(r["operation_id"]),
            str(len(r["parameters"].get("pieces", []))),
            escape(r["actor"]),
            r["applied_at"].isoformat(timespec="seconds"),
        )
    console.print(table)


# ---------------------------------------------------------------------------
# tree, units
# ---------------------------------------------------------------------------
def _node_label(piece: Piece) -> str:
    label = f"[bold]{escape(piece.label)}[/bold]" if piece.label else ""
    name = " ".join(p for p in (label, escape(piece.heading)) if p)
    if not name:  # an unnamed piece (a paragraph, the preamble): the start of its text
        preview = " ".join(piece.text.split())
        preview = preview[:48] + "…" if len(preview) > 48 else preview
        name = f"[italic]{escape(preview) or '(empty)'}[/italic]"
    # The id first: a long heading may be cut at the terminal's edge, the id never.
    ident, kind = f"[cyan]{str(piece.piece_id)[:8]}[/cyan]", f"[dim]{piece.kind}[/dim]"
    if not piece.active:
        return f"{ident} [strike dim]{name}[/strike dim] [red]deprecated[/red] {kind}"
    return f"{ident} {name} {kind}"


def _render(tree: Tree, include_deprecated: bool, title: str) -> RichTree:
    root = RichTree(f"[bold cyan]{escape(title)}[/bold cyan] {_node_label(tree.root)}")

    def add(branch: RichTree, piece: Piece) -> None:
        for kid in tree.children(piece.piece_id, active_only=not include_deprecated):
            add(branch.add(_node_label(kid)), kid)

    add(root, tree.root)
    return root


@click.command("tree")
@click.argument("code")
@click.option("--active", "active_only", is_flag=True, help="Hide deprecated pieces.")
@json_option
@pass_app
def tree_cmd(app: AppContext, code: str, active_only: bool, as_json: bool) -> None:
    """Show the piece tree of an information unit: labels, headings, kinds, status and ids."""
    with app.connection() as conn:
        unit = domain.get_unit(conn, code)
        tree = domain.get_tree(conn, code)
    if as_json:
        print_json(
            {
                "iu_id": unit.iu_id,
                "code": unit.code,
                "title": unit.title,
                "status": unit.status,
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


# ---------------------------------------------------------------------------
# relations
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------
@click.group("events")
def events_group() -> None:
    """Events in the outbox."""


@events_group.command("list")
@click.option("--iu", "code", default=None, help="Only events of this information unit.")
@click.option("--type", "event_type", default=None, help="Only events of this type.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True, help="The newest N.")
@json_option
@pass_app
def events_list_cmd(
    app: AppContext, code: str | None, event_type: str | None, limit: int, as_json: bool
) -> None:
    """The newest events in the outbox, oldest first."""
    with app.connection() as conn:
        rows = domain.list_events(conn, code=code, event_type=event_type, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("seq", "type", "unit", "operation", "pieces", "event", "at")
    table.columns[1].no_wrap = True
    for r in rows:
        payload: dict[str, Any] = r["payload"] if isinstance(r["payload"], dict) else {}
        table.add_row(
            str(r["event_seq"]),
            r["event_type"],
            escape(r["code"] or ""),
            str(payload.get("operation_type", "")),
            str(len(payload.get("pieces", []))) if "pieces" in payload else "",
            str(r["event_id"])[:8],
            r["occurred_at"].strftime("%H:%M:%S"),
        )
    console.print(table)


COMMANDS: list[click.Command] = [
    ingest_cmd,
    samples_group,
    op_group,
    tree_cmd,
    units_group,
    relate_cmd,
    relations_cmd,
    events_group,
]
