"""``iu-core audit``: who changed which route, gate, allowlist, credential, dead letter or retention
setting, when."""

from __future__ import annotations

import click

from iu_core.cli._common import (
    AppContext,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_json,
    wide_table,
)
from iu_core.ops import audit as audit_ops


@click.command("audit")
@click.option("--key", "object_key", help="Only changes of this route code, config key or retention table.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    envvar="IU_CORE_AUDIT_LIMIT",
    show_envvar=True,
    help="Newest rows to show.",
)
@json_option
@pass_app
def audit_cmd(app: AppContext, object_key: str | None, limit: int, as_json: bool) -> None:
    """Who changed which route, gate, allowlist, credential, dead letter or retention setting, and how."""
    with operator_connection(app) as conn:
        rows = audit_ops.log(conn, object_key=object_key, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = wide_table("id", "when", "actor", "context", "object", "action", "changed")
    for r in rows:
        before, after = r["before"] or {}, r["after"] or {}
        changed = sorted(
            k for k in set(before) | set(after) if before.get(k) != after.get(k) and k != "updated_at"
        )
        if r["action"] in {"insert", "delete"}:
            changed = ["(whole row)"]
        elif r["action"] != "update":  # a credential, dead letters, a backfill: what it was
            changed = [f"{k}={v}" for k, v in after.items() if v is not None and k != "dead_letter_ids"]
        table.add_row(
            str(r["audit_id"]),
            r["changed_at"].isoformat(timespec="seconds"),
            r["actor"],
            r["context"] or "",
            f"{r['object_type']} {r['object_key']}",
            r["action"],
            ", ".join(changed),
        )
    console.print(table)


COMMANDS: list[click.Command] = [audit_cmd]
