"""``iu-core db``: migrations and the embedded server."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from iu_core import migrations
from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.cli.workflow import install_engines
from iu_core.embedded import server_status, stop_server
from iu_core.errors import IuCoreError


@click.group("db")
def db_group() -> None:
    """Schema migrations and the embedded PostgreSQL server."""


@db_group.command("migrate")
@click.option(
    "--with",
    "engines",
    multiple=True,
    type=click.Choice(["pgqueuer"]),
    help="Also install (or bring up to date) this job engine's schema with its own installer.",
)
@json_option
@pass_app
def migrate_cmd(app: AppContext, engines: tuple[str, ...], as_json: bool) -> None:
    """Apply every pending migration (safe to run concurrently and repeatedly)."""
    app.auto_migrate = False
    with app.connection(autocommit=True, migrated=False) as conn:
        fresh = migrations.is_fresh(conn)
        applied = migrations.migrate(conn)
    installed = {name: result.value for name, result in install_engines(app.url, engines).items()}
    if as_json:
        print_json(
            {
                "installed_schema": fresh,
                "applied": [m.filename for m in applied],
                **({"engines": installed} if engines else {}),
            }
        )
        return
    if fresh:
        console.print("installed the schema (the baseline, the functions and the triggers)")
    elif not applied:
        console.print("Schema is up to date; nothing to apply.")
    for m in applied:
        console.print(f"applied {m.filename}")
    for name, result in installed.items():
        console.print(f"{name}: {result}")


@db_group.command("status")
@json_option
@pass_app
def status_cmd(app: AppContext, as_json: bool) -> None:
    """List migrations and whether each is applied."""
    with app.connection(autocommit=True, migrated=False) as conn:
        states = migrations.status(conn)
    if as_json:
        print_json([s.as_dict() for s in states])
        return
    table = Table("version", "name", "applied", "checksum")
    for s in states:
        checksum = "-" if s.checksum_ok is None else ("ok" if s.checksum_ok else "DIFFERS")
        table.add_row(f"{s.version:03d}", s.name, s.applied_at or "pending", checksum)
    console.print(table)


@db_group.command("sql")
@pass_app
def sql_cmd(app: AppContext) -> None:
    """Print the SQL that `db migrate` would apply now."""
    app.auto_migrate = False
    with app.connection(autocommit=True, migrated=False) as conn:
        sys.stdout.write(migrations.pending_sql(conn))


@db_group.command("verify")
@json_option
@pass_app
def verify_cmd(app: AppContext, as_json: bool) -> None:
    """Exit 1 when migrations are pending or the schema diverges from this version."""
    with app.connection(autocommit=True, migrated=False) as conn:
        # A database never migrated is one problem, not one per missing object.
        fresh = migrations.is_fresh(conn)
        problems = (
            ["database not migrated (every migration is pending): run iu-core db migrate"]
            if fresh
            else migrations.verify(conn)
        )
    if as_json:
        print_json({"ok": not problems, "problems": problems})
    elif problems:
        for p in problems:
            console.print(f"[red]✗[/red] {p}")
    else:
        console.print("Schema verified: every migration applied and unchanged.")
    if problems:
        sys.exit(1)


@db_group.group("server")
def server_group() -> None:
    """The embedded server (used when no --database-url is given)."""


@server_group.command("status")
@json_option
@pass_app
def server_status_cmd(app: AppContext, as_json: bool) -> None:
    """Show whether the embedded server for the data directory is running."""
    if not app.settings.embedded:
        raise IuCoreError("a --database-url is set: there is no embedded server in use")
    st = server_status(app.settings.data_dir)
    data = {
        "data_dir": str(st.data_dir),
        "initialized": st.initialized,
        "running": st.running,
        "pid": st.pid,
        "url": st.url,
    }
    if as_json:
        print_json(data)
        return
    state = f"running (pid {st.pid})" if st.running else "stopped"
    console.print(f"embedded server: {state}\ndata directory: {st.data_dir}")
    if st.url:
        console.print(f"url: {st.url}")


@server_group.command("stop")
@pass_app
def server_stop_cmd(app: AppContext) -> None:
    """Stop the embedded server (waits for connections to close)."""
    if not app.settings.embedded:
        raise IuCoreError("a --database-url is set: there is no embedded server in use")
    if stop_server(app.settings.data_dir):
        console.print("embedded server stopped")
    else:
        console.print("embedded server was not running")


COMMANDS = [db_group]
