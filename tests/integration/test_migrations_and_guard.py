"""Foundation: migrations, the schema contract, the guard trigger, CLI conventions."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from iu_core import migrations
from iu_core.delivery_seam import DELIVERY_TARGET_KINDS


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
