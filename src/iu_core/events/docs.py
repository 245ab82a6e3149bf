"""``docs/events.md``, written from the event schemas: ``python -m iu_core.events.docs > docs/events.md``."""

from __future__ import annotations

import sys
from typing import Any

from iu_core.events.catalogue import VERSION_KEY, event_types, schema

_INTRO = """\
# Events

<!-- Written by `python -m iu_core.events.docs > docs/events.md` from
     src/iu_core/events/schemas/*.json; edit the schemas, not this page. -->

Every event IU Core writes to `event_outbox` has a type, and every type has a
JSON Schema (draft 2020-12) shipped inside the package,
`iu_core/events/schemas/<event_type>.json`. Routes, targets and receivers can
rely on the fields below.

```sh
iu-core events schema                       # every event type with its schema version
iu-core events schema structure_op_applied  # one type's schema, as JSON
iu-core events list --type iu_created       # the newest events of one type
```

## Versions

Every payload carries `schema_version`, `MAJOR.MINOR`: the version of its
type's schema it was written against.

- An **additive** change (a new optional field, a wider type, a new enum
  value, a better description) bumps the minor: `1.0` becomes `1.1`. A
  receiver written for `1.0` keeps working: every schema accepts fields it
  does not name (`additionalProperties: true`), so ignore the ones you do not
  know.
- A **breaking** change (a field removed, renamed or retyped, a new required
  field) is not made to an existing type: it becomes a new event type. Within
  a type the major stays, and each schema's `schema_version` pattern accepts
  any minor of it.

The test suite holds the released schemas (`tests/data/event-schemas/1.0/`)
and refuses a change that breaks them, and validates every event its tests
write against its type's schema.

## Adding an event type

1. Write `src/iu_core/events/schemas/<event_type>.json`: `$schema` draft
   2020-12, `$id` `urn:iu-core:events:<event_type>`, `title`, `description`,
   `x-version` `"1.0"`, `x-aggregate-type`, `type` `object`,
   `additionalProperties` `true`, a `description` on every field, and a
   required `schema_version` field with the pattern `^1\\.[0-9]+$`.
2. Write `schema_version` into the payload: `domain.store.emit` adds it; SQL
   that inserts into `event_outbox` writes `'schema_version', '1.0'` itself.
3. Regenerate this page: `python -m iu_core.events.docs > docs/events.md`.

## Event types

| type | version | aggregate | what happened |
|---|---|---|---|
"""


def _type_text(field: dict[str, Any]) -> str:
    if "const" in field:
        return f"`{field['const']}`"
    if "enum" in field:
        return " \\| ".join(f"`{v}`" for v in field["enum"])
    kinds = field.get("type", "any")
    text = " or ".join(kinds) if isinstance(kinds, list) else str(kinds)
    if field.get("format"):
        text += f" ({field['format']})"
    items = field.get("items")
    if text == "array" and isinstance(items, dict):
        inner = items.get("type", "any")
        inner_text = " or ".join(inner) if isinstance(inner, list) else str(inner)
        text = f"array of {inner_text}" + (f" ({items['format']})" if items.get("format") else "")
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    """The whole page."""
    parts = [_INTRO]
    for name in event_types():
        doc = schema(name)
        parts.append(
            f"| [`{name}`](#{name}) | {doc[VERSION_KEY]} | `{doc.get('x-aggregate-type', '')}` "
            f"| {_cell(doc['title'])} |\n"
        )
    for name in event_types():
        doc = schema(name)
        required = set(doc.get("required", []))
        parts.append(f"\n### {name}\n\n")
        parts.append(f"{doc['title']} (schema {doc[VERSION_KEY]}, `{doc['$id']}`). {doc['description']}\n\n")
        parts.append(f"Aggregate: `{doc.get('x-aggregate-type', '')}`.\n\n")
        parts.append("| field | type | required | meaning |\n|---|---|---|---|\n")
        for field_name, field in doc.get("properties", {}).items():
            needed = "yes" if field_name in required else "no"
            parts.append(
                f"| `{field_name}` | {_cell(_type_text(field))} | {needed} "
                f"| {_cell(field.get('description', ''))} |\n"
            )
    return "".join(parts)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
