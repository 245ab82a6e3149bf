"""``iu-core prune``: remove finished delivery history older than a given age."""

from __future__ import annotations

import click

from iu_core import retention
from iu_core.cli._common import AppContext, console, err_console, json_option, pass_app, print_json
from iu_core.ops.times import parse_duration


@click.command("prune")
@click.option(
    "--older-than",
    "older_than",
    default=None,
    metavar="AGE",
    help="Prune finished rows older than AGE in every history table (30d, 12h, 2w). "
    "Default: each table's keep_for in iu_retention_setting.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; delete nothing.")
@click.option(
    "--batch-size",
    default=retention.DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows per batch; each batch is its own short transaction.",
)
@json_option
@pass_app
def prune_command(
    app: AppContext, older_than: str | None, dry_run: bool, batch_size: int, as_json: bool
) -> None:
    """Prune finished events, deliveries, attempts, dry-run decisions and resolved dead letters.

    Unfinished work is never pruned: an event stays while any delivery of it is
    pending, in flight, retrying, held or dead; open dead letters stay. The
    projection and the structure journal are never pruned. Backfill cannot
    reach events before the retention horizon this advances.
    """
    age = (
        parse_duration(older_than, "--older-than", minimum=retention.MIN_AGE)
        if older_than is not None
        else None
    )

    def progress(table: retention.HistoryTable, pruned: int, scanned: int) -> None:
        if not as_json:
            verb = "would prune" if dry_run else "pruned"
            err_console.print(f"{table.value}: {verb} {pruned} of {scanned} scanned", highlight=False)

    with app.connection(autocommit=True) as conn:
        report = retention.prune(conn, age, dry_run, batch_size, progress=progress)
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would prune" if dry_run else "pruned"
    for t in report.tables:
        console.print(
            f"{t.table.value:<22} {verb} {t.pruned:>9}  (older than {t.cutoff:%Y-%m-%d %H:%M:%S %Z})"
        )
    if not report.tables:
        console.print("nothing to prune: every table's retention is disabled")
    horizon = report.horizon_at.isoformat() if report.horizon_at else "none"
    console.print(f"retention horizon: {horizon} (backfill does not reach before it)")


COMMANDS: list[click.Command] = [prune_command]
