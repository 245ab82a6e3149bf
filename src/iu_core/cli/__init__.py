"""The ``iu-core`` command line.

Every option has an environment fallback shown in ``--help``. A user's mistake
(bad value, unknown name, unreachable server, refused operation) prints one
line on stderr and exits non-zero; only a bug prints a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import psycopg
from rich.markup import escape

from iu_core import __version__
from iu_core.actor import ACTOR_ENV, name_actor
from iu_core.cli import (
    allowlist,
    audit,
    citations,
    console,
    db,
    dead_letters,
    deliver,
    deliveries,
    demo,
    events,
    export,
    gate,
    ingest,
    op,
    prune,
    relations,
    report,
    route,
    seam,
    show,
    status,
    tree,
    vector,
    worker,
    workflow,
)
from iu_core.cli._common import AppContext, err_console
from iu_core.errors import IuCoreError, describe_database_error
from iu_core.settings import DATA_DIR_ENV, DATABASE_URL_ENV, Settings, default_data_dir


class IuCoreGroup(click.Group):
    """The top-level group: turns expected errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IuCoreError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False)
            sys.exit(exc.exit_code)
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction) as exc:
            # A command that needs IU Core's schema on a database without it.
            err_console.print(
                f"[red]error:[/red] database not migrated ({describe_database_error(exc)}): "
                "run iu-core db migrate",
                markup=True,
                highlight=False,
            )
            sys.exit(1)
        except psycopg.OperationalError as exc:
            err_console.print(f"[red]error:[/red] database unavailable: {describe_database_error(exc)}")
            sys.exit(1)
        except psycopg.Error as exc:
            err_console.print(f"[red]error:[/red] {describe_database_error(exc)}")
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)
        finally:
            name_actor(None)


@click.group(cls=IuCoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iu-core")
@click.option(
    "--database-url",
    envvar=DATABASE_URL_ENV,
    show_envvar=True,
    default=None,
    help="PostgreSQL 15+ URL. Default: the embedded server in --data-dir.",
)
@click.option(
    "--data-dir",
    envvar=DATA_DIR_ENV,
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Data directory of the embedded server. Default: {default_data_dir()}",
)
@click.option(
    "--actor",
    envvar=ACTOR_ENV,
    show_envvar=True,
    default=None,
    help="Who the audit trail records for every change. Default: the operating-system user.",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, data_dir: Path | None, actor: str | None) -> None:
    """IU Core: deliver a knowledge hub's outbox events to downstream targets, safely."""
    # Every layer (operator actions, structure operations, macros) reads the
    # actor through iu_core.actor.default_actor.
    name_actor(actor)
    ctx.obj = AppContext(Settings(database_url or None, data_dir or default_data_dir()))


# Every noun of the command line, one module each.
NOUNS = (
    db,
    ingest,
    op,
    tree,
    show,
    export,
    relations,
    citations,
    events,
    seam,
    gate,
    allowlist,
    route,
    status,
    deliveries,
    dead_letters,
    deliver,
    audit,
    worker,
    demo,
    workflow,
    vector,
    report,
    console,
    prune,
)
for module in NOUNS:
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="iu-core")
