"""``iu-core workflow``: install the job engine, and compare its queue with IU Core's backlog."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import click
from rich.table import Table

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json

if TYPE_CHECKING:
    from iu_core.workflow.engine import InstallResult


@click.group("workflow")
def workflow_group() -> None:
    """Workflow targets: events handed to a PostgreSQL job engine (pgqueuer) in the delivery's transaction."""


def install_engines(url: str, names: Iterable[str] | None = None) -> dict[str, InstallResult]:
    """Install (or bring up to date) the named engines' schemas (all when None) with their own installers."""
    # Imported here: pgqueuer takes a while to import, and most commands never need it.
    from iu_core.workflow.target import WorkflowTarget

    engines = WorkflowTarget().engines
    wanted = list(engines) if names is None else list(names)
    return {name: engines[name].install(url) for name in wanted}


@workflow_group.command("install")
@json_option
@pass_app
def install_cmd(app: AppContext, as_json: bool) -> None:
    """Install pgqueuer's schema into this database with pgqueuer's own installer (safe to repeat)."""
    results = install_engines(app.url)
    if as_json:
        print_json({prefix: result.value for prefix, result in results.items()})
        return
    for prefix, result in results.items():
        console.print(f"{prefix}: {result.value}")


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


@workflow_group.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """Each workflow route's backlog (pending, in flight, retrying, held) beside its engine's queue."""
    with app.connection(autocommit=True) as conn:
        from iu_core.workflow.status import workflow_status
        from iu_core.workflow.target import WorkflowTarget

        status = workflow_status(conn, WorkflowTarget())
    if as_json:
        print_json(status.as_dict())
        return
    for engine in status.engines:
        state = "installed" if engine.installed else f"[red]{engine.problem}[/red]"
        console.print(f"{engine.prefix}: {state}")
    table = Table(
        "route",
        "target_ref",
        "mode",
        "backlog",
        "pending",
        "in flight",
        "retrying",
        "held",
        "job queued",
        "job picked",
    )
    for r in status.routes:
        table.add_row(
            r.route_code,
            r.target_ref,
            r.mode,
            str(r.backlog),
            str(r.pending),
            str(r.inflight),
            str(r.retrying),
            str(r.held),
            _count(r.queued),
            _count(r.picked),
        )
    console.print(table)
    for engine in status.engines:
        if engine.queues:
            queues = Table(f"{engine.prefix} entrypoint", "queued", "picked")
            for q in engine.queues:
                queues.add_row(q.entrypoint, str(q.queued), str(q.picked))
            console.print(queues)


COMMANDS: list[click.Command] = [workflow_group]
