"""The worker's sql_function batch: one refusal check, one set-based projection, an attempt per event."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.support.routes import STRUCTURE_ROUTE, make_live, set_gate
from tests.support.worker import insert_events, scalar, states

UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def batch(conn: psycopg.Connection[Any], limit: int = 500) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT claimed, sent, retrying, dead, blocked, paused FROM fn_iu_worker_deliver_sql_batch(%s, %s)",
        (STRUCTURE_ROUTE, limit),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_batch_projects_each_event_once_with_its_own_attempt_in_event_order(
    conn: psycopg.Connection[Any],
) -> None:
    make_live(conn)
    ius = [uuid.uuid4() for _ in range(3)]
    events = insert_events(conn, 30, ius)
    assert batch(conn)[:4] == (30, 30, 0, 0)
    assert states(conn) == {"sent": 30}
    attempts = conn.execute(
        "SELECT event_ref, attempt_no, status, detail FROM iu_route_attempt WHERE route_code = %s",
        (STRUCTURE_ROUTE,),
    ).fetchall()
    assert sorted(a[0] for a in attempts) == sorted(events)  # one attempt per event, no more
    assert {(a[1], a[2]) for a in attempts} == {(1, "sent")}
    assert {a[3]["consumer"] for a in attempts} == {"fn_iu_structure_consumer"}
    assert {a[3]["rows_added"] for a in attempts} == {1}
    projected = [r[0] for r in conn.execute("SELECT event_ref FROM iu_tree_change_log ORDER BY change_id")]
    assert projected == events  # one row each, in event order
    assert batch(conn)[:2] == (0, 0)  # nothing left: nothing twice


def test_an_already_projected_event_is_sent_with_rows_added_zero(conn: psycopg.Connection[Any]) -> None:
    make_live(conn)
    first, second = insert_events(conn, 2)
    payload = scalar(conn, "SELECT payload FROM event_outbox WHERE event_id = %s", (first,))
    project = "SELECT fn_iu_structure_consumer(%s, %s)"
    assert scalar(conn, project, (first, psycopg.types.json.Jsonb(payload))) == 1
    assert batch(conn)[:2] == (2, 2)
    added = dict(
        conn.execute(
            "SELECT event_ref, (detail->>'rows_added')::int FROM iu_route_attempt WHERE route_code = %s",
            (STRUCTURE_ROUTE,),
        ).fetchall()
    )
    assert added == {first: 0, second: 1}  # what the seam answers for a re-delivery
    assert scalar(conn, "SELECT count(*) FROM iu_tree_change_log") == 2


@pytest.mark.foreign_events  # a malformed event, on purpose
def test_a_malformed_event_fails_alone_and_holds_its_iu(conn: psycopg.Connection[Any]) -> None:
    make_live(conn)
    bad_iu, good_iu = uuid.uuid4(), uuid.uuid4()
    (poison,) = insert_events(conn, 1, [bad_iu], payload={"event_type": "structure_op_applied", "iu_id": "x"})
    insert_events(conn, 2, [bad_iu])
    good = insert_events(conn, 4, [good_iu])
    claimed, sent, _retrying, dead, _blocked, paused = batch(conn)
    assert (claimed, sent, dead, paused) == (7, 4, 1, None)
    reason = scalar(conn, "SELECT reason FROM iu_route_dead_letter WHERE event_ref = %s", (poison,))
    assert "iu_id is missing or not a uuid" in reason
    assert [r[0] for r in conn.execute("SELECT event_ref FROM iu_tree_change_log ORDER BY change_id")] == good


def test_closed_gate_pauses_the_batch_before_anything_is_claimed(conn: psycopg.Connection[Any]) -> None:
    make_live(conn)
    insert_events(conn, 5)
    set_gate(conn, False)
    assert batch(conn) == (0, 0, 0, 0, 0, "paused: the delivery gate is closed")
    assert states(conn) == {"pending": 5}
    assert scalar(conn, "SELECT count(*) FROM iu_route_attempt") == 0


@pytest.mark.parametrize(
    "text",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "0F8FAD5B-D9CB-469F-A165-70867728950E",
        "{0f8fad5b-d9cb-469f-a165-70867728950e}",
        "0f8fad5bd9cb469fa16570867728950e",
        " 0f8fad5b-d9cb-469f-a165-70867728950e",
        "0f8fad5b-d9cb-469f-a165-70867728950",
        "0f8fad5b-d9cb-469f-a165-70867728950g",
        "0f8fad5bd-9cb-469f-a165-70867728950e",
        "0f8f-ad5b-d9cb-469f-a16570867728950e",
        "{f8fad5b-d9cb-469f-a165-70867728950}",
        "0f8fad5b-d9cb-469f-a165-7086772895é",
        "",
    ],
)
def test_uuid_judgement_is_the_canonical_form(conn: psycopg.Connection[Any], text: str) -> None:
    ok, canonical = conn.execute(
        "SELECT fn_iu_structure_problem(gen_random_uuid(), 'structure_op_applied',"
        " jsonb_build_object('iu_id', %s::text, 'operation_id', gen_random_uuid()::text,"
        " 'operation_type', 'move')) IS NULL, %s ~ %s",
        (text, text, UUID_RE),
    ).fetchone() or (None, None)
    assert ok is canonical
