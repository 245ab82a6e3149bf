"""The outbox check every test database gets at teardown: each event matches its type's schema.

``outbox_problems(conn)`` lists, one line per event, why an event in
``event_outbox`` does not match the event catalogue (``iu_core.events``): a
type with no schema, a payload its schema refuses, or a ``schema_version``
other than the current version of its type (an emitter that was not bumped
with its schema). ``tests/conftest.py`` runs it on every test database before
dropping it; a test that writes events IU Core never writes (malformed on
purpose, a type of its own) carries ``@pytest.mark.foreign_events``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core import events

CHECK = """
SELECT event_seq, event_type, payload FROM public.event_outbox ORDER BY event_seq
"""


def event_problems(event_type: str, payload: Any) -> list[str]:
    """Why one event does not match the catalogue ([] when it does)."""
    problems = events.payload_problems(event_type, payload)
    if problems or event_type not in events.event_types():
        return problems
    current = events.schema_version(event_type)
    if payload.get("schema_version") != current:
        return [f"schema_version {payload.get('schema_version')!r} is not the current {current!r}"]
    return []


def outbox_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """One line per event of ``event_outbox`` that does not match its schema ([] when all do)."""
    found = conn.execute("SELECT to_regclass('public.event_outbox') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        return []  # a database without the schema (an upgrade test's, say) has no events to check
    lines = []
    for seq, event_type, payload in conn.execute(CHECK):
        for problem in event_problems(event_type, payload):
            lines.append(f"event #{seq} {event_type}: {problem}")
    return lines
