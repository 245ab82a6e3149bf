"""``iu-core show CODE EID``: one provision, addressed by its legal identifier."""

from __future__ import annotations

import datetime as dt

import click
from rich.markup import escape

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.domain import get_unit
from iu_core.domain.provisions import find_provision, provision_as_dict, tree_at


class Instant(click.ParamType[dt.datetime]):
    """An ISO 8601 date or time (``2026-12-07T11:09:15+00:00``, ``…Z``); without an offset, UTC."""

    name = "TIMESTAMP"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            moment = value
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an ISO 8601 time (e.g. 2026-12-07T11:09:15Z)", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


INSTANT = Instant()

as_of_option = click.option(
    "--as-of",
    "as_of",
    type=INSTANT,
    default=None,
    help="Show it as it stood at this instant (ISO 8601), rebuilt from the structure history.",
)


@click.command("show")
@click.argument("code")
@click.argument("eid")
@as_of_option
@json_option
@pass_app
def show_cmd(app: AppContext, code: str, eid: str, as_of: dt.datetime | None, as_json: bool) -> None:
    """Show one provision by its legal identifier (eid): text, heading, kind, status, children."""
    with app.connection() as conn:
        unit = get_unit(conn, code)
        tree = tree_at(conn, code, as_of)
        piece = find_provision(tree, eid)
        data = provision_as_dict(tree, piece)
    if as_json:
        print_json({"code": unit.code, "iu_id": unit.iu_id, "as_of": as_of, **data})
        return
    title = " ".join(p for p in (piece.label, piece.heading) if p) or piece.kind
    console.print(f"[bold cyan]{escape(unit.code)}[/bold cyan] [bold]{escape(data['eid'] or '')}[/bold]")
    console.print(f"{escape(title)}  [dim]{piece.kind} · {piece.status} · {piece.piece_id}[/dim]")
    if as_of is not None:
        console.print(f"[dim]as of {as_of.isoformat()}[/dim]")
    console.print()
    console.print(escape(piece.text.rstrip("\n")), highlight=False)
    if data["children"]:
        console.print()
        console.print("[bold]children[/bold]")
        for kid in data["children"]:
            name = " ".join(p for p in (kid["label"], kid["heading"]) if p) or kid["kind"]
            mark = "" if kid["status"] == "active" else " [red]deprecated[/red]"
            console.print(f"  {escape(kid['eid'] or '')}  {escape(name)} [dim]{kid['kind']}[/dim]{mark}")


COMMANDS: list[click.Command] = [show_cmd]
