"""The event catalogue: one versioned JSON Schema (draft 2020-12) per event type IU Core writes.

The schemas are package data, ``iu_core/events/schemas/<event_type>.json``. API::

    event_types() -> tuple[str, ...]            # every type with a schema, sorted
    schema(event_type) -> dict                  # its schema (UnknownEventType if none)
    schema_version(event_type) -> str           # its current version, "MAJOR.MINOR"
    payload_problems(event_type, payload) -> list[str]   # [] when the payload is valid
    compatibility_problems(old, new) -> list[str]        # [] when new may replace old

Every payload carries ``schema_version``: the version of its type's schema it
was written against. An additive change (a new optional field, a looser type)
bumps the minor; a change that can break a consumer (a field removed,
renamed or retyped, a new required field) is refused: it needs a new event
type. ``python -m iu_core.events.docs`` writes ``docs/events.md`` from the schemas.
"""

from __future__ import annotations

from iu_core.events.catalogue import (
    UnknownEventType,
    compatibility_problems,
    event_types,
    payload_problems,
    schema,
    schema_version,
    with_schema_version,
)

__all__ = [
    "UnknownEventType",
    "compatibility_problems",
    "event_types",
    "payload_problems",
    "schema",
    "schema_version",
    "with_schema_version",
]
