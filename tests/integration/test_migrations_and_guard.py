"""Foundation: migrations, the schema contract, the guard trigger, CLI conventions."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core import migrations
from iu_core.delivery_seam import DELIVERY_TARGET_KINDS
from tests.support.seam import structure_payload


def test_migrate_empty_database_then_again_applies_nothing(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        assert migrations.verify(conn)  # pending before
        first = migrations.migrate(conn)
        assert [m.version for m in first] == [m.version for m in migrations.available()]
        assert migrations.migrate(conn) == []
        assert migrations.verify(conn) == []


def test_two_migrators_at_once_apply_once(empty_database_url: str) -> None:
    results: list[list[migrations.Migration]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with psycopg.connect(empty_database_url, autocommit=True) as conn:
                barrier.wait()
                results.append(migrations.migrate(conn))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    applied_counts = sorted(len(r) for r in results)
    assert applied_counts == [0, len(migrations.available())]
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        (n,) = conn.execute("SELECT count(*) FROM iu_schema_migration").fetchone() or (0,)
        assert n == migrations.BASELINE_VERSION + len(migrations.available())


def test_edited_applied_migration_is_reported(conn: psycopg.Connection[Any]) -> None:
    conn.execute("UPDATE iu_schema_migration SET checksum = 'edited' WHERE version = 1")
    problems = migrations.verify(conn)
    assert any("001_schema_contract differs" in p for p in problems)


def test_target_kind_check_accepts_exactly_the_six_kinds(conn: psycopg.Connection[Any]) -> None:
    for kind in sorted(DELIVERY_TARGET_KINDS):
        conn.execute(
            "INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref) "
            "VALUES (%s, 'x', %s, 'ref')",
            (f"r_{kind}", kind),
        )
    for bad in ("http", "SQL_FUNCTION", "", "webhook"):
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref) "
                "VALUES ('bad', 'x', %s, 'ref')",
                (bad,),
            )


def test_config_defaults_and_seeded_routes(conn: psycopg.Connection[Any]) -> None:
    config = dict(conn.execute("SELECT key, value FROM dot_config").fetchall())
    assert config["iu_core.delivery_enabled"] is False
    assert config["iu_core.delivery_live_routes"] == []
    routes = conn.execute(
        "SELECT event_type, target_kind, target_ref, dry_run FROM iu_outbound_route ORDER BY 1"
    ).fetchall()
    assert routes == [
        ("structure_op_applied", "workflow", "event_outbox", True),
        ("structure_piece_deprecated", "workflow", "event_outbox", True),
    ]


def _set_gate(conn: psycopg.Connection[Any], open_: bool, routes: list[str]) -> None:
    conn.execute(
        "UPDATE dot_config SET value = to_jsonb(%s::boolean) WHERE key = 'iu_core.delivery_enabled'",
        (open_,),
    )
    conn.execute(
        "UPDATE dot_config SET value = %s::jsonb WHERE key = 'iu_core.delivery_live_routes'",
        (psycopg.types.json.Jsonb(routes),),
    )


ROUTE = "structure_op_applied.workflow"


@pytest.mark.parametrize(
    ("gate", "allowlist", "sqlstate"),
    [(False, [], "IU001"), (False, [ROUTE], "IU001"), (True, [], "IU002"), (True, ["other"], "IU002")],
)
def test_guard_refuses_live_flip_and_leaves_row_unchanged(
    conn: psycopg.Connection[Any], gate: bool, allowlist: list[str], sqlstate: str
) -> None:
    _set_gate(conn, gate, allowlist)
    before = conn.execute("SELECT * FROM iu_outbound_route WHERE route_code = %s", (ROUTE,)).fetchone()
    with pytest.raises(psycopg.Error) as info:
        conn.execute("UPDATE iu_outbound_route SET dry_run = false WHERE route_code = %s", (ROUTE,))
    assert info.value.sqlstate == sqlstate
    after = conn.execute("SELECT * FROM iu_outbound_route WHERE route_code = %s", (ROUTE,)).fetchone()
    assert after == before


def test_guard_refuses_live_insert_when_gate_closed(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(
            "INSERT INTO iu_outbound_route (route_code, event_type, target_kind, target_ref, dry_run) "
            "VALUES ('new', 'x', 'sql_function', 'fn_iu_structure_consumer', false)"
        )
    assert info.value.sqlstate == "IU001"
    assert conn.execute("SELECT count(*) FROM iu_outbound_route WHERE route_code='new'").fetchone() == (0,)


def test_guard_allows_live_flip_when_gate_open_and_allowlisted(conn: psycopg.Connection[Any]) -> None:
    _set_gate(conn, True, [ROUTE])
    conn.execute("UPDATE iu_outbound_route SET dry_run = false WHERE route_code = %s", (ROUTE,))
    row = conn.execute("SELECT dry_run FROM iu_outbound_route WHERE route_code = %s", (ROUTE,)).fetchone()
    assert row == (False,)


def test_change_log_refuses_update_but_allows_delete(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO iu_tree_change_log (event_ref, event_type, iu_id, operation_type, delivered_by) "
        "VALUES (gen_random_uuid(), 'structure_op_applied', gen_random_uuid(), 'split', 'test')"
    )
    with pytest.raises(psycopg.Error) as info:
        conn.execute("UPDATE iu_tree_change_log SET delivered_by = 'x'")
    assert info.value.sqlstate == "IU007"
    conn.execute("DELETE FROM iu_tree_change_log")
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == (0,)


def _route_switch(conn: psycopg.Connection[Any]) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT enabled, dry_run, disabled_reason FROM iu_outbound_route WHERE route_code = %s", (ROUTE,)
    ).fetchone()


def _live_route_then_gate_closed(conn: psycopg.Connection[Any]) -> None:
    _set_gate(conn, True, [ROUTE])
    conn.execute("UPDATE iu_outbound_route SET dry_run = false WHERE route_code = %s", (ROUTE,))
    _set_gate(conn, False, [ROUTE])


def test_disabling_a_live_route_the_guard_refuses_forces_dry_run(conn: psycopg.Connection[Any]) -> None:
    _live_route_then_gate_closed(conn)
    forced = conn.execute("SELECT fn_iu_route_disable(%s, 'operator says stop')", (ROUTE,)).fetchone()
    assert forced == (True,)
    assert _route_switch(conn) == (False, True, "operator says stop")
    # Enabling again while the gate is closed keeps it in dry-run, and says so.
    row = conn.execute(
        "SELECT enabled, dry_run, forced_dry_run FROM fn_iu_route_set_enabled(%s, true, NULL)", (ROUTE,)
    ).fetchone()
    assert row == (True, True, False)  # already dry-run: nothing was forced


def test_disabling_a_live_route_the_guard_allows_keeps_it_live(conn: psycopg.Connection[Any]) -> None:
    _set_gate(conn, True, [ROUTE])
    conn.execute("UPDATE iu_outbound_route SET dry_run = false WHERE route_code = %s", (ROUTE,))
    assert conn.execute("SELECT fn_iu_route_disable(%s, 'pause')", (ROUTE,)).fetchone() == (False,)
    assert _route_switch(conn) == (False, False, "pause")
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT fn_iu_route_disable('no-such-route', 'x')")
    assert info.value.sqlstate == "IU004"


def test_a_410_outcome_on_a_route_the_guard_refuses_disables_it_into_dry_run(
    conn: psycopg.Connection[Any],
) -> None:
    _set_gate(conn, True, [ROUTE])
    conn.execute(
        "UPDATE iu_outbound_route SET dry_run = false, target_kind = 'external_endpoint', "
        "target_ref = 'http://127.0.0.1:9/hook' WHERE route_code = %s",
        (ROUTE,),
    )
    payload = structure_payload()
    conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
        "VALUES ('structure_op_applied', 'information_unit', %s, %s)",
        (payload["iu_id"], Jsonb(payload)),
    )
    _set_gate(conn, False, [ROUTE])
    row = conn.execute(
        "SELECT r.dead FROM iu_delivery d, fn_iu_worker_record("
        "  %s, ARRAY[d.delivery_id], ARRAY[1], ARRAY['failed'],"
        '  ARRAY[\'{"disable_route": true, "retryable": false, "reason": "HTTP 410 Gone"}\'::jsonb],'
        "  ARRAY[now()], ARRAY[now()], ARRAY[NULL::uuid]) r WHERE d.route_code = %s",
        (ROUTE, ROUTE),
    ).fetchone()
    assert row == (1,)
    assert _route_switch(conn) == (False, True, "HTTP 410 Gone")


def test_a_route_failing_too_long_the_guard_refuses_is_disabled_into_dry_run(
    conn: psycopg.Connection[Any],
) -> None:
    _set_gate(conn, True, [ROUTE])
    # Live since before the failures began (a change of the route restarts the window).
    conn.execute(
        "UPDATE iu_outbound_route SET dry_run = false, updated_at = now() - interval '200 hours' "
        "WHERE route_code = %s",
        (ROUTE,),
    )
    conn.execute(
        "INSERT INTO iu_route_circuit (route_code, consecutive_failures, failing_since) "
        "VALUES (%s, 3, now() - interval '100 hours')",
        (ROUTE,),
    )
    _set_gate(conn, False, [ROUTE])
    reason = conn.execute("SELECT fn_iu_worker_disable_failing(%s)", (ROUTE,)).fetchone()
    assert reason is not None and reason[0].startswith(
        "disabled automatically: every attempt failed for 72 hours"
    )
    enabled, dry_run, why = _route_switch(conn) or (None, None, None)
    assert (enabled, dry_run, why) == (False, True, reason[0])
