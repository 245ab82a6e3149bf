"""``iu-core events``: the transactional outbox."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from iu_core import domain, events
from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json


@click.group("events")
def events_group() -> None:
    """Events in the outbox."""


@events_group.command("list")
@click.option("--iu", "code", default=None, help="Only events of this information unit.")
@click.option("--type", "event_type", default=None, help="Only events of this type.")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True, help="The newest N.")
@json_option
@pass_app
def events_list_cmd(
    app: AppContext, code: str | None, event_type: str | None, limit: int, as_json: bool
) -> None:
    """The newest events in the outbox, oldest first."""
    with app.connection() as conn:
        rows = domain.list_events(conn, code=code, event_type=event_type, limit=limit)
    if as_json:
        print_json(rows)
        return
    table = Table("seq", "type", "unit", "operation", "pieces", "event", "at")
    table.columns[1].no_wrap = True
    for r in rows:
        payload: dict[str, Any] = r["payload"] if isinstance(r["payload"], dict) else {}
        table.add_row(
            str(r["event_seq"]),
            r["event_type"],
            escape(r["code"] or ""),
            str(payload.get("operation_type", "")),
            str(len(payload.get("pieces", []))) if "pieces" in payload else "",
            str(r["event_id"])[:8],
            r["occurred_at"].isoformat(sep=" ", timespec="seconds"),
        )
    console.print(table)


@events_group.command("schema")
@click.argument("event_type", required=False)
@json_option
def events_schema_cmd(event_type: str | None, as_json: bool) -> None:
    """The JSON Schema of EVENT_TYPE's payload; without one, every event type and its schema version.

    The catalogue is docs/events.md. An unknown type is one error line.
    """
    if event_type is not None:
        print_json(events.schema(event_type))  # always JSON: it is the schema
        return
    rows = [
        {"event_type": name, "schema_version": doc["x-version"], "title": doc["title"]}
        for name, doc in ((name, events.schema(name)) for name in events.event_types())
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("type", "version", "what happened")
    table.columns[0].no_wrap = True
    for row in rows:
        table.add_row(row["event_type"], row["schema_version"], row["title"])
    console.print(table)


COMMANDS: list[click.Command] = [events_group]
