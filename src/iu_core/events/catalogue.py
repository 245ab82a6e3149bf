"""Loading, validating against, and comparing the event schemas (see ``iu_core.events``)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from iu_core.errors import IuCoreError

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
VERSION_KEY = "x-version"  # the schema's current version, "MAJOR.MINOR"
_VERSION = re.compile(r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)")


class UnknownEventType(IuCoreError):
    """An event type with no schema in the catalogue."""


def _folder() -> Any:
    return resources.files("iu_core").joinpath("events/schemas")


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in _folder().iterdir():
        if entry.name.endswith(".json"):
            found[entry.name.removesuffix(".json")] = json.loads(entry.read_text(encoding="utf-8"))
    return found


def event_types() -> tuple[str, ...]:
    """Every event type that has a schema, sorted."""
    return tuple(sorted(_schemas()))


def schema(event_type: str) -> dict[str, Any]:
    """A copy of the schema of ``event_type``; UnknownEventType when it has none."""
    try:
        return copy.deepcopy(_schemas()[event_type])
    except KeyError:
        known = ", ".join(event_types())
        raise UnknownEventType(f"unknown event type {event_type!r}; known types: {known}") from None


def schema_version(event_type: str) -> str:
    """The current version of the schema of ``event_type`` ("MAJOR.MINOR")."""
    return str(schema(event_type)[VERSION_KEY])


def with_schema_version(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with ``schema_version`` set to the current version of its type's schema.

    A type with no schema (yet) gets "1.0": the write goes on, and the test
    suite's outbox check reports the missing schema.
    """
    try:
        version = schema_version(event_type)
    except UnknownEventType:
        version = "1.0"
    return {**payload, "schema_version": version}


def parse_version(text: str) -> tuple[int, int]:
    """("1.2") -> (1, 2); ValueError when it is not MAJOR.MINOR."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a MAJOR.MINOR version")
    return int(match["major"]), int(match["minor"])


@cache
def _validator(event_type: str) -> Any:
    import jsonschema  # only the validation needs it

    cls = jsonschema.validators.validator_for(_schemas()[event_type])
    return cls(_schemas()[event_type], format_checker=cls.FORMAT_CHECKER)


def payload_problems(event_type: str, payload: Any) -> list[str]:
    """Why ``payload`` is not a valid ``event_type`` payload ([] when it is).

    A type with no schema is one problem; so is a payload written against
    another major version of the schema.
    """
    if event_type not in _schemas():
        return [f"event type {event_type!r} has no schema"]
    problems = []
    for error in sorted(_validator(event_type).iter_errors(payload), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        problems.append(f"{where}: {error.message}")
    return problems


def schema_problems(event_type: str, document: Mapping[str, Any]) -> list[str]:
    """Why ``document`` is not a well-formed catalogue schema for ``event_type`` ([] when it is)."""
    import jsonschema

    problems = []
    if document.get("$schema") != SCHEMA_DIALECT:
        problems.append(f"$schema is not {SCHEMA_DIALECT}")
    try:
        jsonschema.Draft202012Validator.check_schema(dict(document))
    except jsonschema.SchemaError as exc:
        problems.append(f"not a valid draft 2020-12 schema: {exc.message}")
    if document.get("$id") != f"urn:iu-core:events:{event_type}":
        problems.append(f"$id is not urn:iu-core:events:{event_type}")
    for key in ("title", "description"):
        if not isinstance(document.get(key), str) or not document[key]:
            problems.append(f"{key} is missing")
    try:
        major, _ = parse_version(str(document.get(VERSION_KEY)))
    except ValueError:
        problems.append(f"{VERSION_KEY} is not a MAJOR.MINOR version")
        major = -1
    properties = document.get("properties", {})
    required = document.get("required", [])
    if document.get("type") != "object":
        problems.append("type is not object")
    if document.get("additionalProperties") is not True:
        problems.append("additionalProperties is not true (an added field would break older validators)")
    version_field = properties.get("schema_version", {})
    if "schema_version" not in required or version_field.get("pattern") != rf"^{major}\.[0-9]+$":
        problems.append(rf"schema_version is not required with pattern ^{major}\.[0-9]+$")
    for name, field in properties.items():
        if not isinstance(field.get("description"), str) or not field["description"]:
            problems.append(f"field {name} has no description")
    if "event_type" in properties and properties["event_type"].get("const") != event_type:
        problems.append(f"field event_type is not const {event_type!r}")
    return problems


def _types(field: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a field allows (None: any)."""
    if "const" in field:
        return {_json_type(field["const"])}
    if "enum" in field:
        return {_json_type(v) for v in field["enum"]}
    kind = field.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _narrowed(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Ways ``new`` accepts less than ``old`` for one field (type, values, format, items, keys)."""
    problems = []
    old_types, new_types = _types(old), _types(new)
    if old_types is not None:
        widened = {"integer"} if "number" in (new_types or set()) else set()
        if new_types is not None and not old_types <= new_types | widened:
            problems.append(f"field {path} retyped: {sorted(old_types)} -> {sorted(new_types)}")
    for key in ("const", "enum"):
        if key in new and key not in old:
            problems.append(f"field {path} now restricted by {key}")
    if (
        "enum" in old
        and "enum" in new
        and not set(map(json.dumps, old["enum"])) <= set(map(json.dumps, new["enum"]))
    ):
        problems.append(f"field {path} lost enum values")
    if "const" in old and "const" in new and old["const"] != new["const"]:
        problems.append(f"field {path} const changed")
    for key in ("format", "pattern", "minLength", "maxLength", "minimum", "maximum"):
        if key in new and new.get(key) != old.get(key):
            problems.append(f"field {path} {key} changed or added")
    if isinstance(old.get("items"), Mapping) and isinstance(new.get("items"), Mapping):
        problems += _narrowed(f"{path}[]", old["items"], new["items"])
    if isinstance(old.get("additionalProperties"), Mapping) and isinstance(
        new.get("additionalProperties"), Mapping
    ):
        problems += _narrowed(f"{path}{{}}", old["additionalProperties"], new["additionalProperties"])
    problems += _object_narrowed(f"{path}.", old, new)
    return problems


def _object_narrowed(path: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, field in old_props.items():
        if name not in new_props:
            problems.append(f"field {path}{name} removed or renamed")
        else:
            problems += _narrowed(f"{path}{name}", field, new_props[name])
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"field {path}{name} became required")
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        problems.append(f"{path.rstrip('.') or 'the payload'} no longer accepts other fields")
    return problems


def compatibility_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why ``new`` may not replace the released ``old`` schema of the same event type ([] if it may).

    Within one major version a new schema may only add: optional fields,
    wider types, more enum values; and any change bumps the minor. A
    change that could break a consumer — a field removed, renamed or
    retyped, a new required field, other fields refused — is refused, and
    so is a change of major: that is a new event type.
    """
    problems: list[str] = []
    old_version, new_version = parse_version(str(old[VERSION_KEY])), parse_version(str(new[VERSION_KEY]))
    if new_version[0] != old_version[0]:
        problems.append(
            f"major version changed {old[VERSION_KEY]} -> {new[VERSION_KEY]}: "
            "a breaking change needs a new event type"
        )
    elif new_version < old_version:
        problems.append(f"version went back {old[VERSION_KEY]} -> {new[VERSION_KEY]}")
    body_old = {k: v for k, v in old.items() if k != VERSION_KEY}
    body_new = {k: v for k, v in new.items() if k != VERSION_KEY}
    if body_old != body_new and new_version == old_version:
        problems.append(f"the schema changed but its version is still {new[VERSION_KEY]}: bump the minor")
    old_fields = {k: v for k, v in old.get("properties", {}).items() if k != "schema_version"}
    problems += _object_narrowed("", {**old, "properties": old_fields}, new)
    return problems
