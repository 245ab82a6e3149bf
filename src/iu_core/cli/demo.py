"""``iu-core demo``: the whole story on the embedded database, step by step."""

from __future__ import annotations

import click

from iu_core import migrations
from iu_core.cli._common import AppContext, console, pass_app


@click.command("demo")
@pass_app
def demo_cmd(app: AppContext) -> None:
    """Walk IU Core's story on the configured database (safe to run again)."""
    with app.connection(autocommit=True) as conn:
        applied = migrations.migrate(conn)
        console.print(f"migrations applied: {len(applied)}")


COMMANDS: list[click.Command] = [demo_cmd]
