"""``iu-core report show | build | list``: per-IU structure reports (tree, history, relations)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from iu_core.cli._common import AppContext, console, err_console, json_option, pass_app, print_json
from iu_core.cli.show import as_of_option
from iu_core.domain import get_unit
from iu_core.errors import IuCoreError
from iu_core.report import bulk
from iu_core.report.collect import collect
from iu_core.report.model import build
from iu_core.report.render import generation_time, render
from iu_core.report.store import list_reports, report_by_code
from iu_core.report.target import ReportRef

# Builds of more IUs than this show a progress bar (on stderr).
PROGRESS_FROM = 5


@click.group("report")
def report_group() -> None:
    """Structure reports: one document per information unit (tree, change history, relations)."""


@report_group.command("show")
@click.argument("code")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "json"]),
    default="md",
    show_default=True,
    help="Markdown, the self-contained HTML page, or the JSON document.",
)
@as_of_option
@json_option
@pass_app
def show_cmd(app: AppContext, code: str, fmt: str, as_of: dt.datetime | None, as_json: bool) -> None:
    """Print the stored report of CODE (`--json` is `--format json`); `--as-of` builds one of the past."""
    with app.connection() as conn:
        if as_of is None:
            stored = report_by_code(conn, code)
            markdown, html, document = stored.markdown, stored.html, stored.json
        else:
            data = collect(conn, get_unit(conn, code).iu_id, as_of)
            if data is None or not data.pieces:
                raise IuCoreError(f"information unit {code!r} had no recorded tree at {as_of.isoformat()}")
            past = render(build(data, generation_time()))
            markdown, html, document = past.markdown, past.html, past.json
    if as_json or fmt == "json":
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "html":
        sys.stdout.write(html)
    else:
        sys.stdout.write(markdown)


@report_group.command("build")
@click.option("--iu", "iu_code", default=None, help="Only this information unit (by code). Default: all.")
@click.option("--route", "route_code", default=None, help="Write where this report route writes.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write CODE.md and CODE.html into this existing directory.",
)
@json_option
@pass_app
def build_cmd(
    app: AppContext, iu_code: str | None, route_code: str | None, directory: Path | None, as_json: bool
) -> None:
    """Regenerate reports now, from each IU's newest event (a current report is left as it is)."""
    if route_code and directory:
        raise IuCoreError("give --route or --dir, not both")
    with app.connection(autocommit=True) as conn:
        if route_code:
            directory = bulk.route_ref(conn, route_code).directory
        elif directory is not None:
            directory = ReportRef.parse(f"dir:{directory.resolve()}").directory
        targets = bulk.units(conn, iu_code)
        progress = Progress(
            TextColumn("reports"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json or len(targets) < PROGRESS_FROM,
        )
        task = progress.add_task("build", total=len(targets))
        with progress:
            done = bulk.build_reports(
                conn, targets, directory=directory, on_done=lambda _r: progress.advance(task)
            )
    if as_json:
        print_json({"directory": directory, "reports": [r.as_dict() for r in done]})
        return
    table = Table("code", "event_seq", "row", "files")
    for r in done:
        files = "-" if directory is None else ("written" if r.files_written else "current")
        table.add_row(escape(r.code), str(r.event_seq), "written" if r.row_written else "current", files)
    console.print(table)
    written = sum(1 for r in done if r.written)
    console.print(f"{len(done)} report(s): {written} written, {len(done) - written} already current")


@report_group.command("list")
@json_option
@pass_app
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Every information unit with the event its report reflects and its newest event."""
    with app.connection() as conn:
        rows = list_reports(conn)
    if as_json:
        print_json(rows)
        return
    table = Table("code", "title", "reflects", "newest event", "generation", "generated at")
    for r in rows:
        reflects = "-" if r["event_seq"] is None else str(r["event_seq"])
        generated = "-" if r["generated_at"] is None else r["generated_at"].isoformat(timespec="seconds")
        table.add_row(
            escape(r["code"]),
            escape(r["title"]),
            reflects,
            str(r["latest_event_seq"] or "-"),
            str(r["generation"] or "-"),
            generated,
        )
    console.print(table)


COMMANDS: list[click.Command] = [report_group]
