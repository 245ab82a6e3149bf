"""``iu-core op``: structure operations on a piece tree."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from iu_core import domain
from iu_core.cli._common import (
    AppContext,
    actor_option,
    console,
    json_option,
    otel_option,
    pass_app,
    print_json,
)


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
@otel_option
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
@otel_option
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
@otel_option
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
@otel_option
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
@otel_option
@json_option
@pass_app
def deprecate_cmd(app: AppContext, piece: str, actor: str | None, as_json: bool) -> None:
    """Withdraw PIECE and its subtree (one structure_piece_deprecated event per piece)."""
    with app.connection() as conn:
        _report(domain.deprecate_piece(conn, piece, actor=actor), as_json)


@op_group.command("restore")
@click.argument("piece")
@actor_option
@otel_option
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


COMMANDS: list[click.Command] = [op_group]
