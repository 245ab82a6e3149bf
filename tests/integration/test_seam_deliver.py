"""fn_iu_route_deliver and fn_iu_structure_consumer: the SQL seam of record."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core.delivery_seam import DELIVERY_TARGET_KINDS
from tests.support.seam import CONSUMER, arm_route, deliver, expect_refusal, fingerprint, structure_payload

MATRIX = list(
    itertools.product(
        [True, False],  # gate open
        [True, False],  # allowlisted
        [False, True],  # dry_run
        ["sql_function", "workflow", "external_endpoint"],
        [CONSUMER, "not_a_consumer"],
    )
)


def expected_sqlstate(gate: bool, allowlisted: bool, dry_run: bool, kind: str, ref: str) -> str | None:
    if not gate:
        return "IU001"
    if not allowlisted:
        return "IU002"
    if dry_run:
        return "IU003"
    if kind != "sql_function":
        return "0A000"
    if ref != CONSUMER:
        return "IU005"
    return None


@pytest.mark.parametrize(("gate", "allowlisted", "dry_run", "kind", "ref"), MATRIX)
def test_refusal_matrix(
    conn: psycopg.Connection[Any], gate: bool, allowlisted: bool, dry_run: bool, kind: str, ref: str
) -> None:
    with conn.transaction(force_rollback=True):
        arm_route(conn, "m.route", kind=kind, ref=ref, dry_run=dry_run, gate=gate, allowlisted=allowlisted)
        state = expected_sqlstate(gate, allowlisted, dry_run, kind, ref)
        if state is None:
            before = fingerprint(conn, exclude=("iu_tree_change_log",))
            result = deliver(conn, "m.route", uuid.uuid4(), structure_payload())
            assert result == {
                "status": "sent",
                "delivered": True,
                "target_kind": "sql_function",
                "detail": {"consumer": CONSUMER, "rows_added": 1},
            }
            # The consumer touched nothing but the projection.
            assert fingerprint(conn, exclude=("iu_tree_change_log",)) == before
        else:
            expect_refusal(conn, "m.route", state)


@pytest.mark.parametrize("kind", sorted(DELIVERY_TARGET_KINDS - {"sql_function"}))
def test_every_non_internal_kind_is_feature_not_supported(conn: psycopg.Connection[Any], kind: str) -> None:
    with conn.transaction(force_rollback=True):
        arm_route(conn, "k.route", kind=kind, ref=CONSUMER)
        message = expect_refusal(conn, "k.route", "0A000")
        assert kind in message


def test_unknown_and_disabled_routes_are_refused(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction(force_rollback=True):
        arm_route(conn, "d.route", enabled=False)
        assert "disabled" in expect_refusal(conn, "d.route", "IU008")
        assert "unknown route" in expect_refusal(conn, "no.such.route", "IU004")


def test_gate_is_checked_before_the_route_exists(conn: psycopg.Connection[Any]) -> None:
    # Closed gate: refused before anything else is looked at.
    expect_refusal(conn, "no.such.route", "IU001")


@pytest.mark.parametrize(
    "target_ref",
    [
        '"fn_iu_structure_consumer"',
        "public.fn_iu_structure_consumer",
        "FN_IU_STRUCTURE_CONSUMER",
        " fn_iu_structure_consumer",
        "fn_iu_structure_consumer(uuid, jsonb)",
        "fn_iu_structure_consumer; DROP TABLE iu_tree_change_log",
        "fn_iu_structure_consumer'); DROP TABLE iu_tree_change_log; --",
        "pg_catalog.pg_sleep",
        "fn_iu_route_deliver",
        "fn_iu_refuse_update",
    ],
)
def test_injection_through_target_ref_is_refused(conn: psycopg.Connection[Any], target_ref: str) -> None:
    with conn.transaction(force_rollback=True):
        arm_route(conn, "i.route", ref=target_ref)
        message = expect_refusal(conn, "i.route", "IU005")
        assert "not a registered internal consumer" in message
    assert conn.execute("SELECT to_regclass('iu_tree_change_log') IS NOT NULL").fetchone() == (True,)


def test_a_registered_consumer_is_reached_only_through_the_registry(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(
            """CREATE FUNCTION counting_consumer(event_ref uuid, payload jsonb) RETURNS integer
               LANGUAGE sql SET search_path = pg_catalog, public AS $$ SELECT 7 $$"""
        )
        arm_route(conn, "c.route", ref="counting_consumer")
        expect_refusal(conn, "c.route", "IU005")  # exists, but is not registered
        conn.execute(
            "INSERT INTO iu_internal_consumer (consumer_name, consumer) "
            "VALUES ('counting_consumer', 'counting_consumer(uuid, jsonb)'::regprocedure)"
        )
        result = deliver(conn, "c.route", uuid.uuid4(), {})
        assert result["detail"] == {"consumer": "counting_consumer", "rows_added": 7}


def test_registry_refuses_a_function_of_the_wrong_shape(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "INSERT INTO iu_internal_consumer (consumer_name, consumer) "
            "VALUES ('sleep', 'pg_catalog.pg_sleep(double precision)'::regprocedure)"
        )
    assert info.value.sqlstate == "IU005"


def test_registry_is_seeded_with_the_structure_consumer(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute("SELECT consumer_name, consumer::text FROM iu_internal_consumer").fetchall()
    assert rows == [(CONSUMER, "fn_iu_structure_consumer(uuid,jsonb)")]


def test_consumer_is_idempotent_and_fills_every_column(conn: psycopg.Connection[Any]) -> None:
    event = uuid.uuid4()
    payload = structure_payload("structure_piece_deprecated", operation_type="deprecate")
    with conn.transaction(force_rollback=True):
        arm_route(conn, "p.route")
        assert deliver(conn, "p.route", event, payload)["detail"]["rows_added"] == 1
        assert deliver(conn, "p.route", event, payload)["detail"]["rows_added"] == 0
        row = conn.execute(
            "SELECT event_type, iu_id::text, operation_id::text, operation_type, piece_id::text, delivered_by"
            " FROM iu_tree_change_log WHERE event_ref = %s",
            (event,),
        ).fetchall()
        assert row == [
            (
                "structure_piece_deprecated",
                payload["iu_id"],
                payload["operation_id"],
                "deprecate",
                payload["piece_id"],
                CONSUMER,
            )
        ]


@pytest.mark.foreign_events  # a payload without event_type, on purpose
def test_consumer_takes_event_type_from_the_outbox_when_payload_has_none(
    conn: psycopg.Connection[Any],
) -> None:
    payload = structure_payload()
    del payload["event_type"]
    with conn.transaction(force_rollback=True):
        (event,) = conn.execute(
            "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
            "VALUES ('structure_op_applied', 'information_unit', %s, %s) RETURNING event_id",
            (payload["iu_id"], Jsonb(payload)),
        ).fetchone() or (None,)
        assert conn.execute(
            "SELECT fn_iu_structure_consumer(%s, %s)", (event, Jsonb(payload))
        ).fetchone() == (1,)
        assert conn.execute(
            "SELECT event_type FROM iu_tree_change_log WHERE event_ref = %s", (event,)
        ).fetchone() == ("structure_op_applied",)


MALFORMED: list[tuple[str, Any]] = [
    ("not an object", ["a"]),
    ("null payload", None),
    ("no event type", {k: v for k, v in structure_payload().items() if k != "event_type"}),
    ("not a structure event", structure_payload(event_type="iu_created")),
    ("iu_id missing", {k: v for k, v in structure_payload().items() if k != "iu_id"}),
    ("iu_id not a uuid", structure_payload(iu_id="IU-1")),
    ("iu_id a number", structure_payload(iu_id=7)),
    ("operation_id missing", {k: v for k, v in structure_payload().items() if k != "operation_id"}),
    ("operation_id not a uuid", structure_payload(operation_id="op-1")),
    ("operation_type missing", {k: v for k, v in structure_payload().items() if k != "operation_type"}),
    ("operation_type empty", structure_payload(operation_type="  ")),
    ("operation_type not text", structure_payload(operation_type=["split"])),
    (
        "deprecated without piece_id",
        {k: v for k, v in structure_payload("structure_piece_deprecated").items() if k != "piece_id"},
    ),
    ("piece_id not a uuid", structure_payload(piece_id="p-1")),
]


@pytest.mark.parametrize(("case", "payload"), MALFORMED, ids=[c for c, _ in MALFORMED])
def test_malformed_payload_is_iu006_and_writes_nothing(
    conn: psycopg.Connection[Any], case: str, payload: Any
) -> None:
    before = fingerprint(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "SELECT fn_iu_structure_consumer(%s, %s)",
            (uuid.uuid4(), None if payload is None else Jsonb(payload)),
        )
    assert info.value.sqlstate == "IU006", case
    assert "malformed structure event" in str(info.value)
    assert fingerprint(conn) == before


def test_null_event_ref_is_iu006(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT fn_iu_structure_consumer(NULL, %s)", (Jsonb(structure_payload()),))
    assert info.value.sqlstate == "IU006"


def test_every_function_pins_a_safe_search_path(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proname LIKE 'fn\\_iu\\_%'"""
    ).fetchall()
    assert len(rows) > 20
    for name, config in rows:
        assert config == ["search_path=pg_catalog, pg_temp"], name
