"""``iu-core demo``: IU Core's whole story, step by step, in a database of its own.

The demo never touches the user's data: it (re)creates the database
``iu_core_demo`` on the configured server and works only there, so running it
again starts the same story afresh and no user route is flipped or delivered to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import psycopg
from psycopg import sql
from rich.panel import Panel
from rich.table import Table

from iu_core import domain, macros, migrations
from iu_core.cli._common import AppContext, console, pass_app
from iu_core.cli.seam import probe_cmd
from iu_core.cli.status import status_cmd
from iu_core.errors import IuCoreError
from iu_core.ops import allowlist as allowlist_ops
from iu_core.ops import gate as gate_ops
from iu_core.ops import routes as route_ops

if TYPE_CHECKING:
    from iu_core.worker import WorkerStats

ACTOR = "demo"
DEMO_DATABASE = "iu_core_demo"
LIVE_ROUTE = "structure_op_applied.workflow"
CONSUMER = "fn_iu_structure_consumer"


def _run_worker_once(url: str) -> WorkerStats:
    from iu_core.worker import WorkerConfig, run_worker  # the worker's stack: only when the demo runs

    return run_worker(url, WorkerConfig(), once=True)


def _step(number: int, title: str, why: str) -> None:
    console.print()
    console.print(Panel(f"[bold]{title}[/bold]\n{why}", title=f"step {number}", expand=False))


def _figures(figures: dict[str, Any]) -> Table:
    table = Table("figure", "value")
    for key, value in figures.items():
        table.add_row(key, str(value))
    return table


def _count(app: AppContext, sql: str) -> int:
    with app.connection() as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _projection(app: AppContext) -> int:
    return _count(app, "SELECT count(*) FROM iu_tree_change_log")


@click.command("demo")
@click.pass_context
@pass_app
def demo_cmd(app: AppContext, ctx: click.Context) -> None:
    """Walk IU Core's story in its own database iu_core_demo (your data is never touched)."""
    url = _fresh_demo_database(app.url)
    app = AppContext(app.settings, _url=url)
    ctx.obj = app
    console.print(
        f"[bold]IU Core demo[/bold] in its own database {DEMO_DATABASE} "
        "(created afresh; no other database is touched)"
    )

    _step(1, "Migrate", "Numbered SQL migrations, each with its ledger row in one transaction.")
    with app.connection(autocommit=True, migrated=False) as conn:
        applied = migrations.migrate(conn)
    console.print(f"migrations applied now: {len(applied)} (of {len(migrations.available())})")

    _step(
        2,
        "Ingest two documents and edit their structure",
        "Autocut cuts each sample into a piece tree; split, merge, move, rename, deprecate and\n"
        "restore write their rows and their events into event_outbox in one transaction.",
    )
    with app.connection() as conn:
        corpus = domain.build_demo_corpus(conn, actor=ACTOR)
        units = domain.list_units(conn)
        events = conn.execute(
            "SELECT event_type, count(*) FROM event_outbox GROUP BY 1 ORDER BY 1"
        ).fetchall()
    if corpus.seeded:
        console.print(f"{corpus.operations} operations wrote {corpus.structure_events} structure events")
    else:
        console.print("the demo documents are there already (from an earlier run): nothing written")
    table = Table("code", "title", "active pieces", "deprecated", "operations")
    for unit in units:
        table.add_row(
            str(unit["code"]),
            str(unit["title"]),
            str(unit["active_pieces"]),
            str(unit["deprecated_pieces"]),
            str(unit["operations"]),
        )
    console.print(table)
    table = Table("event type", "events in the outbox")
    for event_type, count in events:
        table.add_row(event_type, str(count))
    console.print(table)

    _step(
        3,
        "Run the worker with the seeded dry-run routes",
        "Both structure routes start dry-run: the worker records what it WOULD deliver, and\n"
        "delivers nothing.",
    )
    before = _projection(app)
    stats = _run_worker_once(url)
    console.print(
        f"decisions recorded: {stats.decided}; sent: {stats.sent}; "
        f"projection rows: {before} -> {_projection(app)}"
    )

    _step(
        4,
        "runtime/220: deliver exactly one event through the internal seam",
        "Arms the gate and allowlist inside one transaction, delivers the oldest undelivered\n"
        "structure event through fn_iu_route_deliver, restores everything.",
    )
    console.print(_figures(macros.run_macro(url, "220", actor=ACTOR).figures))

    _step(
        5,
        "runtime/300: deliver the rest as one batch, and prove idempotency",
        "P0-P5: live discovery, arm, flip, deliver, re-deliver everything (adds 0 rows), restore;\n"
        "the success gate rolls the whole transaction back unless the figures add up.",
    )
    console.print(_figures(macros.run_macro(url, "300", actor=ACTOR).figures))

    _step(6, "The fail-closed probe", "Nine probes in one transaction that is rolled back.")
    try:
        ctx.invoke(probe_cmd, as_json=False)
    except SystemExit as exc:
        if exc.code:
            raise IuCoreError("the fail-closed probe did not pass 9/9") from exc

    _step(
        7,
        "Go live through the guard, the way an operator does",
        f"Open the gate, allowlist {LIVE_ROUTE}, point it at the internal consumer and flip it\n"
        "live; one new operation is delivered by the worker; then everything is put back.",
    )
    _live_round_trip(app, url)

    _step(8, "Status", "Gate, allowlist, routes, backlog, lag and dead letters.")
    ctx.invoke(status_cmd, as_json=False)

    _step(9, "Roll back, then rebuild the projection", "The projection is truncatable and rebuildable.")
    undone = macros.rollback(url, "300", actor=ACTOR)
    console.print(f"rollback removed {undone.removed} rows ({undone.projection_before} -> 0)")
    rebuilt = macros.rebuild(url, actor=ACTOR)
    console.print(
        f"rebuild re-ran 220 then 300: projection {rebuilt.projection_after} rows "
        f"(delivery_ok={rebuilt.batch.delivery_ok})"
    )
    console.print("\n[bold green]demo complete[/bold green]")
    console.print(
        f"The demo's data stays in its own database {DEMO_DATABASE}; look around with:\n"
        f"  iu-core --database-url '{url}' status",
        markup=False,
    )


def _fresh_demo_database(url: str) -> str:
    """Drop and create the demo's own database on the server of ``url``; return its URL."""
    current = psycopg.conninfo.conninfo_to_dict(url).get("dbname")
    if current == DEMO_DATABASE:
        raise IuCoreError(
            f"the configured database is {DEMO_DATABASE}, which the demo recreates: use another"
        )
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            name = sql.Identifier(DEMO_DATABASE)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise IuCoreError(
            f"the demo needs a database of its own and may not create {DEMO_DATABASE} here "
            "(grant CREATEDB, or run it on the embedded server)"
        ) from exc
    return psycopg.conninfo.make_conninfo(url, dbname=DEMO_DATABASE)


def _live_round_trip(app: AppContext, url: str) -> None:
    # An autocommit connection: each operator call below is its own audited transaction.
    with app.connection(autocommit=True) as conn:
        original = route_ops.get_route(conn, LIVE_ROUTE)
        gate_before = gate_ops.gate_state(conn)
        try:
            route_ops.set_route(conn, LIVE_ROUTE, route_ops.RouteChanges(dry_run=False), actor=ACTOR)
        except IuCoreError as refused:
            console.print(f"going live while the gate is closed is refused: [yellow]{refused}[/yellow]")
        try:
            gate_ops.set_gate(conn, True, actor=ACTOR)
            allowlist_ops.add(conn, [LIVE_ROUTE], actor=ACTOR)
            route_ops.set_route(
                conn,
                LIVE_ROUTE,
                route_ops.RouteChanges(target_kind="sql_function", target_ref=CONSUMER, dry_run=False),
                actor=ACTOR,
            )
            console.print(f"{LIVE_ROUTE} is live -> sql_function / {CONSUMER}")
            article = next(
                p for p in domain.get_tree(conn, "REG-EN").pieces.values() if p.active and p.kind == "article"
            )
            suffix = " (revised)"
            heading = (
                article.heading.removesuffix(suffix)
                if article.heading.endswith(suffix)
                else (article.heading + suffix)
            )
            domain.rename_piece(conn, str(article.piece_id), heading=heading, actor=ACTOR)
            before = _projection(app)
            stats = _run_worker_once(url)
            console.print(
                f"renamed {article.label or article.heading!r} -> worker sent {stats.sent}; "
                f"projection rows: {before} -> {_projection(app)}"
            )
        finally:
            route_ops.set_route(
                conn,
                LIVE_ROUTE,
                route_ops.RouteChanges(
                    target_kind=original.target_kind, target_ref=original.target_ref, dry_run=True
                ),
                actor=ACTOR,
            )
            if LIVE_ROUTE not in gate_before.allowlist:
                allowlist_ops.remove(conn, [LIVE_ROUTE], actor=ACTOR)
            gate_ops.set_gate(conn, gate_before.gate_open, actor=ACTOR)
            console.print("route back to dry-run; allowlist and gate restored")


COMMANDS: list[click.Command] = [demo_cmd]
