"""fn_iu_route_deliver and fn_iu_structure_consumer: the SQL seam of record (migration 003)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from iu_core.delivery_seam import DELIVERY_TARGET_KINDS

CONSUMER = "fn_iu_structure_consumer"


def fingerprint(conn: psycopg.Connection[Any], exclude: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Row count and content checksum of every table in the public schema."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
        if r[0] not in exclude
    ]
    result: dict[str, tuple[int, str]] = {}
    for table in tables:
        query = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {} t"
        ).format(sql.Identifier(table))
        row = conn.execute(query).fetchone()
        assert row is not None
        result[table] = (int(row[0]), str(row[1]))
    return result


def structure_payload(event_type: str = "structure_op_applied", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "iu_id": str(uuid.uuid4()),
        "operation_id": str(uuid.uuid4()),
        "operation_type": "split",
        "event_type": event_type,
        "pieces": [],
    }
    if event_type == "structure_piece_deprecated":
        payload["piece_id"] = str(uuid.uuid4())
    payload.update(overrides)
    return payload


def arm_route(
    conn: psycopg.Connection[Any],
    route: str,
    *,
    kind: str = "sql_function",
    ref: str = CONSUMER,
    dry_run: bool = False,
    gate: bool = True,
    allowlisted: bool = True,
    enabled: bool = True,
) -> None:
    """Put ``route`` into the given state (inside the caller's transaction)."""
    conn.execute("UPDATE dot_config SET value = 'true' WHERE key = 'iu_core.delivery_enabled'")
    conn.execute(
        "UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_live_routes'", (Jsonb([route]),)
    )
    conn.execute(
        """INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run, enabled)
           VALUES (%s, 'structure_op_applied', %s, %s, %s, %s)""",
        (route, kind, ref, dry_run, enabled),
    )
    conn.execute("UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_enabled'", (Jsonb(gate),))
    conn.execute(
        "UPDATE dot_config SET value = %s WHERE key = 'iu_core.delivery_live_routes'",
        (Jsonb([route] if allowlisted else []),),
    )


def deliver(conn: psycopg.Connection[Any], route: str, event_ref: uuid.UUID, payload: Any) -> dict[str, Any]:
    row = conn.execute(
        "SELECT fn_iu_route_deliver(%s, %s, %s)", (route, event_ref, Jsonb(payload))
    ).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def expect_refusal(conn: psycopg.Connection[Any], route: str, sqlstate: str) -> str:
    """Call the seam, expect ``sqlstate``, and prove that no table changed."""
    before = fingerprint(conn)
    with pytest.raises(psycopg.Error) as info, conn.transaction():
        deliver(conn, route, uuid.uuid4(), structure_payload())
    assert info.value.sqlstate == sqlstate, str(info.value)
    assert fingerprint(conn) == before
    return str(info.value)


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


def test_seam_functions_pin_search_path(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """SELECT proname, proconfig FROM pg_proc
            WHERE proname IN ('fn_iu_route_deliver', 'fn_iu_structure_consumer',
                              'fn_iu_internal_consumer_check', 'fn_iu_operator_audit')"""
    ).fetchall()
    assert len(rows) == 4
    for name, config in rows:
        assert config == ["search_path=pg_catalog, public"], name
