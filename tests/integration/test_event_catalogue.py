"""Events IU Core writes match their schemas; the outbox check holding every test to that finds a bad one."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core import domain, events
from tests.conftest import check_events
from tests.support.event_schemas import outbox_problems
from tests.support.routes import add_route, set_gate
from tests.support.seam import structure_payload

Conn = psycopg.Connection[Any]

DOC = """# Rules

## Article 1. Scope

Text of one.

## Article 2. Terms

Text of two.
"""


def _insert(conn: Conn, event_type: str, payload: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)"
        " VALUES (%s, 'information_unit', %s, %s)",
        (event_type, uuid.uuid4(), Jsonb(payload)),
    )


def test_every_emitter_writes_events_its_schema_accepts(conn: Conn) -> None:
    domain.ingest_document(conn, DOC, code="A")
    domain.ingest_document(conn, DOC, code="B")
    tree = domain.get_tree(conn, "A")
    article = next(p for p in tree.pieces.values() if p.label.startswith("Article 2") and p.active)
    domain.deprecate_piece(conn, article.piece_id)
    domain.relate(conn, "A", "cites", "B")
    domain.unrelate(conn, "A", "cites", "B")
    set_gate(conn, True)
    set_gate(conn, False)
    add_route(conn, "hook", kind="workflow", ref="event_outbox")
    conn.execute("SELECT fn_iu_route_set_enabled('hook', false, 'maintenance')")
    written = dict(conn.execute("SELECT event_type, count(*) FROM event_outbox GROUP BY 1").fetchall())
    assert set(written) == {
        "iu_created",
        "structure_op_applied",
        "structure_piece_deprecated",
        "iu_relation_added",
        "iu_relation_removed",
        "iu_gate_opened",
        "iu_gate_closed",
        "iu_route_disabled",
    }
    versions = conn.execute("SELECT DISTINCT event_type, payload ->> 'schema_version' FROM event_outbox")
    assert all(version == events.schema_version(t) for t, version in versions)
    assert outbox_problems(conn) == []


@pytest.mark.foreign_events  # the events below are bad on purpose: the checker must name each
def test_the_outbox_check_names_each_event_that_does_not_match(conn: Conn) -> None:
    _insert(conn, "structure_op_applied", structure_payload())
    assert outbox_problems(conn) == []
    _insert(conn, "structure_op_applied", structure_payload(iu_id="nope"))
    missing = structure_payload()
    del missing["eids"]
    _insert(conn, "structure_op_applied", missing)
    _insert(conn, "structure_op_applied", structure_payload(schema_version="1.3"))
    _insert(conn, "made_up_event", {"schema_version": "1.0"})
    assert outbox_problems(conn) == [
        "event #2 structure_op_applied: iu_id: 'nope' is not a 'uuid'",
        "event #3 structure_op_applied: payload: 'eids' is a required property",
        "event #4 structure_op_applied: schema_version '1.3' is not the current '1.0'",
        "event #5 made_up_event: event type 'made_up_event' has no schema",
    ]


@pytest.mark.foreign_events  # the event below is bad on purpose
def test_a_test_database_with_a_bad_event_fails_its_test(conn: Conn, database_url: str) -> None:
    """The teardown of every test database (``check_events``) fails the test; ``foreign_events`` spares it."""

    def request(*marks: str) -> Any:
        closest = {name: getattr(pytest.mark, name).mark for name in marks}
        return SimpleNamespace(node=SimpleNamespace(get_closest_marker=closest.get))

    check_events(request(), database_url)  # nothing written yet: passes
    _insert(conn, "iu_created", {"schema_version": "1.0", "event_type": "iu_created"})
    with pytest.raises(pytest.fail.Exception, match=r"event #1 iu_created: payload: 'iu_id' is a required"):
        check_events(request(), database_url)
    check_events(request("foreign_events"), database_url)
