"""``iu-core ingest`` and ``samples``: documents into information units."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from iu_core import domain
from iu_core.cli._common import AppContext, actor_option, console, json_option, pass_app, print_json


def _source(path: str) -> Path:
    if path.startswith("sample:"):
        return domain.sample_path(path.removeprefix("sample:"))
    return Path(path)


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
    """Ingest the document at PATH and autocut it into pieces.

    PATH is Markdown or plain text (UTF-8), a Word document (.docx), an HTML page, or a PDF with
    a text layer; the format is read from the file's content. Every piece records where it came
    from (PDF page and line, Word paragraph, HTML element, text line): `iu-core tree CODE --json`.
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
    fmt = result.source.get("format", "text")
    units = {"pdf": "pages", "docx": "paragraphs", "html": "blocks"}
    read = f" from {fmt.upper()}, {result.source.get('units', 0)} {units[fmt]}" if fmt in units else ""
    if not result.changed:
        console.print(f"{escape(code)}: unchanged; nothing written.")
    elif result.created and op is not None:
        console.print(
            f"ingested {escape(code)} ({escape(result.unit.title)}){read}: {len(op.created)} pieces, "
            f"operation {op.operation_id}, {len(result.event_ids)} events"
        )
    elif op is not None:
        c = result.counts  # the figures the operation's journal entry and the report give
        console.print(
            f"re-ingested {escape(code)}{read}: {c.get('created', 0)} created, "
            f"{c.get('changed', 0)} changed, {c.get('moved', 0)} moved, {c.get('deprecated', 0)} deprecated; "
            f"operation {op.operation_id}, {len(op.event_ids)} events"
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


COMMANDS: list[click.Command] = [ingest_cmd, samples_group]
