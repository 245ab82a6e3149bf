"""The event catalogue: a valid draft 2020-12 schema per event type, and the rule keeping them compatible."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from iu_core import events
from iu_core.domain import model
from iu_core.events import docs
from iu_core.events.catalogue import VERSION_KEY, schema_problems
from tests.support.event_schemas import event_problems

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "iu_core"
RELEASED = ROOT / "tests" / "data" / "event-schemas"


def _sql_emitted() -> set[str]:
    """Event types the SQL writes: the operational list, and every literal type inserted into the outbox."""
    text = (SRC / "sql/functions/operational_events.sql").read_text()
    listed = re.search(r"p_event_type IN \(([^)]*)\)", text)
    assert listed is not None
    found = set(re.findall(r"'([a-z_]+)'", listed.group(1)))
    for path in [*SRC.glob("sql/**/*.sql"), *SRC.glob("sandbox/*.sql")]:
        for insert in re.findall(r"INSERT INTO (?:public\.)?event_outbox[^;]*", path.read_text()):
            found |= {t for t in re.findall(r"'((?:iu|structure)_[a-z_]+)'", insert) if t not in NOT_TYPES}
    return found


# Literals in those INSERTs that are aggregate types, not event types.
NOT_TYPES = {"iu_outbound_route", "iu_id"}
PYTHON_EMITTED = {
    model.STRUCTURE_OP_APPLIED,
    model.STRUCTURE_PIECE_DEPRECATED,
    model.IU_CREATED,
    model.IU_RELATION_ADDED,
    model.IU_RELATION_REMOVED,
}


def _released() -> tuple[str, dict[str, dict[str, Any]]]:
    """The newest released catalogue under tests/data/event-schemas/<version>/."""
    newest = max(RELEASED.iterdir(), key=lambda p: tuple(int(n) for n in p.name.split(".")))
    return newest.name, {p.stem: json.loads(p.read_text()) for p in newest.glob("*.json")}


def test_every_emitted_event_type_has_a_schema() -> None:
    emitted = PYTHON_EMITTED | _sql_emitted()
    assert {"iu_route_disabled", "iu_circuit_opened", "iu_dead_lettered", "iu_gate_closed"} <= emitted
    assert emitted - set(events.event_types()) == set()


@pytest.mark.parametrize("event_type", events.event_types())
def test_each_schema_is_a_valid_draft_2020_12_catalogue_schema(event_type: str) -> None:
    assert schema_problems(event_type, events.schema(event_type)) == []


def test_a_malformed_schema_is_reported() -> None:
    doc = events.schema("iu_created")
    doc["properties"]["code"] = {"type": "no-such-type"}
    doc["additionalProperties"] = False
    problems = "\n".join(schema_problems("iu_created", doc))
    assert "not a valid draft 2020-12 schema" in problems
    assert "additionalProperties" in problems
    assert "field code has no description" in problems


@pytest.mark.parametrize("event_type", sorted(_released()[1]))
def test_the_current_schema_is_compatible_with_the_released_one(event_type: str) -> None:
    version, released = _released()
    assert event_type in events.event_types(), f"{event_type} (released in {version}) has no schema any more"
    assert events.compatibility_problems(released[event_type], events.schema(event_type)) == []


def _released_schema() -> dict[str, Any]:
    return copy.deepcopy(_released()[1]["structure_op_applied"])


def _bumped(doc: dict[str, Any], version: str = "1.1") -> dict[str, Any]:
    doc[VERSION_KEY] = version
    return doc


def test_an_additive_change_with_a_minor_bump_is_compatible() -> None:
    new = _bumped(_released_schema())
    new["properties"]["actor"] = {"type": "string", "description": "Who applied the operation."}
    new["properties"]["eids"]["items"]["type"] = ["string", "null", "integer"]  # wider
    assert events.compatibility_problems(_released_schema(), new) == []


def test_an_additive_change_without_a_bump_is_refused() -> None:
    new = _released_schema()
    new["properties"]["actor"] = {"type": "string", "description": "Who applied the operation."}
    assert events.compatibility_problems(_released_schema(), new) == [
        "the schema changed but its version is still 1.0: bump the minor"
    ]


@pytest.mark.parametrize(
    ("doctor", "expected"),
    [
        (lambda d: d["properties"].pop("operation_type"), "field operation_type removed or renamed"),
        (
            lambda d: d["properties"].__setitem__("pieces", {"type": "string", "description": "x"}),
            "field pieces retyped",
        ),
        (lambda d: d["properties"]["eids"]["items"].__setitem__("type", "string"), "field eids[] retyped"),
        (
            lambda d: d["properties"]["previous_eids"]["additionalProperties"].__setitem__("type", "integer"),
            "field previous_eids{} retyped",
        ),
        (lambda d: d["required"].append("actor"), "field actor became required"),
        (lambda d: d.__setitem__("additionalProperties", False), "payload no longer accepts other fields"),
        (lambda d: d["properties"]["operation_type"].__setitem__("enum", ["split"]), "restricted by enum"),
    ],
    ids=["removed", "retyped", "items retyped", "map values retyped", "new required", "closed", "enum"],
)
def test_a_breaking_change_is_refused_even_with_a_minor_bump(doctor: Any, expected: str) -> None:
    new = _bumped(_released_schema())
    doctor(new)
    problems = events.compatibility_problems(_released_schema(), new)
    assert any(expected in p for p in problems), problems


def test_a_major_bump_is_refused_it_needs_a_new_event_type() -> None:
    new = _bumped(_released_schema(), "2.0")
    new["properties"]["schema_version"]["pattern"] = r"^2\.[0-9]+$"
    new["properties"].pop("previous_eids")
    problems = events.compatibility_problems(_released_schema(), new)
    assert problems[0] == "major version changed 1.0 -> 2.0: a breaking change needs a new event type"


def test_a_valid_payload_passes_and_a_bad_one_says_why() -> None:
    good = {
        "schema_version": "1.0",
        "event_type": "iu_created",
        "iu_id": "0b0f8a8e-6f1a-4c55-9d1e-6a7c3f1c2d3e",
        "code": "REG-EN",
        "title": "Regulation",
        "added_later": True,  # a field a newer minor may add: accepted
    }
    assert event_problems("iu_created", good) == []
    assert event_problems("iu_created", {**good, "schema_version": "1.7"}) == [
        "schema_version '1.7' is not the current '1.0'"
    ]
    bad = {**good, "iu_id": "nope", "schema_version": "2.0"}
    del bad["code"]
    problems = events.payload_problems("iu_created", bad)
    assert "payload: 'code' is a required property" in problems
    assert any(p.startswith("iu_id: 'nope' is not a 'uuid'") for p in problems)
    assert any(p.startswith("schema_version: '2.0' does not match") for p in problems)
    assert events.payload_problems("no_such_event", {}) == ["event type 'no_such_event' has no schema"]


def test_with_schema_version_stamps_the_current_version() -> None:
    assert events.with_schema_version("iu_created", {"a": 1}) == {"a": 1, "schema_version": "1.0"}
    assert events.schema_version("structure_op_applied") == "1.0"
    with pytest.raises(events.UnknownEventType, match="unknown event type 'nope'"):
        events.schema("nope")


def test_docs_page_is_written_from_the_schemas() -> None:
    page = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert page == docs.render(), "docs/events.md is stale: python -m iu_core.events.docs > docs/events.md"
    for name in events.event_types():
        assert f"\n### {name}\n" in page
