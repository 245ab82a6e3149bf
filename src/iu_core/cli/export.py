"""``iu-core export CODE --format akn``: an information unit as an Akoma Ntoso 3.0 document."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from iu_core.cli._common import AppContext, pass_app
from iu_core.cli.show import as_of_option
from iu_core.domain import get_unit
from iu_core.domain.akn import to_akn
from iu_core.domain.provisions import tree_at
from iu_core.errors import IuCoreError


@click.command("export")
@click.argument("code")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["akn"]),
    default="akn",
    show_default=True,
    help="akn: Akoma Ntoso 3.0 XML (OASIS LegalDocML).",
)
@as_of_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@pass_app
def export_cmd(app: AppContext, code: str, fmt: str, as_of: dt.datetime | None, output: Path | None) -> None:
    """Export the active tree of CODE (or the tree as it stood at --as-of) as Akoma Ntoso XML."""
    del fmt  # one format for now
    with app.connection() as conn:
        unit = get_unit(conn, code)
        document = to_akn(unit, tree_at(conn, code, as_of), as_of=as_of)
    if output is None:
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        raise IuCoreError(f"cannot write {output}: {exc.strerror or exc}") from exc


COMMANDS: list[click.Command] = [export_cmd]
