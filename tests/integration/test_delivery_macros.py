"""The delivery macros 220 (one event) and 300 (the batch), their rollback and the projection rebuild."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core import macros
from tests.conftest import CliRunner
from tests.support.cli import invoke
from tests.support.psql import psql_clients, run_psql
from tests.support.routes import DEPRECATED_ROUTE, add_route, set_policy
from tests.support.seam import fingerprint

RUNTIME = Path(macros.__file__).parent
MACRO_300 = RUNTIME / macros.MACROS["300"]
MACRO_220 = RUNTIME / macros.MACROS["220"]
ROLLBACK_300 = RUNTIME / macros.ROLLBACKS["300"]

# Tables a macro may write durably: the projection, and the audit of its arm/restore.
WRITABLE = ("iu_tree_change_log", "iu_operator_audit")
PROJECTION_COLUMNS = "event_ref, event_type, iu_id, operation_id, operation_type, piece_id, delivered_by"


def write_structure_backlog(conn: psycopg.Connection[Any], events: int = 56) -> list[uuid.UUID]:
    """Three units with root pieces and a relation, and ``events`` well-formed structure events."""
    units = []
    for i in range(3):
        (iu_id,) = conn.execute(
            "INSERT INTO information_unit (code, title, body) VALUES (%s, %s, 'text') RETURNING iu_id",
            (f"story-{i}", f"Story unit {i}"),
        ).fetchone() or (None,)
        conn.execute(
            "INSERT INTO iu_piece (iu_id, position, kind, label) VALUES (%s, 0, 'document', 'root')", (iu_id,)
        )
        units.append(iu_id)
    conn.execute(
        "INSERT INTO iu_relation (from_iu_id, to_iu_id, relation_type) VALUES (%s, %s, 'cites')",
        (units[0], units[1]),
    )
    ids = []
    for i in range(events):
        iu_id = units[i % 3]
        event_type = "structure_piece_deprecated" if i % 7 == 6 else "structure_op_applied"
        payload: dict[str, Any] = {
            "schema_version": "1.0",
            "iu_id": str(iu_id),
            "operation_id": str(uuid.uuid4()),
            "operation_type": "deprecate" if event_type == "structure_piece_deprecated" else "split",
            "event_type": event_type,
            "pieces": [str(uuid.uuid4())],
            "eids": [None],
        }
        if event_type == "structure_piece_deprecated":
            payload["piece_id"] = payload["pieces"][0]
            payload["eid"] = None
        else:
            payload["previous_eids"] = {}
        row = conn.execute(
            "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
            "VALUES (%s, 'information_unit', %s, %s) RETURNING event_id",
            (event_type, iu_id, Jsonb(payload)),
        ).fetchone()
        assert row is not None
        ids.append(row[0])
    # A non-structure event the macros must leave alone.
    conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
        "VALUES ('iu_created', 'information_unit', %s, %s)",
        (
            units[0],
            Jsonb(
                {
                    "schema_version": "1.0",
                    "event_type": "iu_created",
                    "iu_id": str(units[0]),
                    "code": "story-0",
                    "title": "Story unit 0",
                }
            ),
        ),
    )
    return ids


def projection(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {PROJECTION_COLUMNS} FROM iu_tree_change_log ORDER BY event_ref").fetchall()


def figures(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def psql_figures(client: str, url: str, path: Path) -> dict[str, str]:
    result = run_psql(client, url, path, "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1, result.stdout
    return rows[0]


def as_psql_text(data: dict[str, Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        if value is True:
            return "t"
        if value is False:
            return "f"
        return "" if value is None else str(value)

    return {k: text(v) for k, v in data.items() if k != "macro"}


def test_220_delivers_one_then_300_the_rest_and_redelivery_adds_nothing(
    cli: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    events = write_structure_backlog(conn)
    assert len(events) == 56
    before = fingerprint(conn)

    single = figures(cli("runtime", "run", "220", "--json"))
    assert single["undelivered_before"] == 56
    assert single["delivered"] == 1
    assert (single["projection_before"], single["projection_after"]) == (0, 1)
    assert single["event_ref"] == str(events[0])  # the oldest
    assert single["idempotent_ok"] is True and single["delivery_ok"] is True

    batch = figures(cli("runtime", "run", "300", "--json"))
    assert batch == {
        "macro": "300",
        "undelivered_before": 55,
        "delivered": 55,
        "projection_before": 1,
        "projection_after": 56,
        "redelivery_added": 0,
        "idempotent_ok": True,
        "dead_letter_open": 0,
        "via_consumer": 56,
        "delivery_ok": True,
    }

    after = fingerprint(conn)
    # Routes, gate, allowlist equal P0; no attempt row; no domain, outbox or route row mutated.
    for table, print_ in before.items():
        if table not in WRITABLE:
            assert after[table] == print_, table
    for table in (
        "information_unit",
        "iu_relation",
        "iu_piece",
        "event_outbox",
        "iu_outbound_route",
        "dot_config",
    ):
        assert after[table][0] > 0, table  # the checksums above compared real rows
    assert after["iu_route_attempt"] == (0, "")
    # Exactly one projection row per structure event, and nothing else.
    rows = projection(conn)
    assert sorted(r[0] for r in rows) == sorted(events)
    assert {r[6] for r in rows} == {"fn_iu_structure_consumer"}


def test_table_output(database_url: str, conn: psycopg.Connection[Any]) -> None:
    write_structure_backlog(conn, 5)
    result = invoke(database_url, "runtime", "run", "300")
    assert result.returncode == 0, result.stderr
    for name in macros.REPORT_COLUMNS:
        assert name in result.stdout
    assert "runtime/300: committed" in result.stdout


@pytest.mark.foreign_events  # a malformed structure event, on purpose
def test_success_gate_failure_rolls_back_everything(
    cli: CliRunner, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn, 55)
    (bad,) = conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
        "VALUES ('structure_op_applied', 'information_unit', gen_random_uuid(), "
        '\'{"iu_id": "not-a-uuid", "operation_type": "split"}\') RETURNING event_id'
    ).fetchone() or (None,)
    assert figures(cli("runtime", "run", "220", "--json"))["delivered"] == 1
    before = fingerprint(conn)
    result = cli("runtime", "run", "300")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "delivery success gate failed" in lines[0]
    assert str(bad) in lines[0] and "IU006" in lines[0]
    assert "Traceback" not in result.stderr
    # Everything as before: projection, routes, gate, allowlist, even the audit.
    assert fingerprint(conn) == before
    for client in psql_clients():
        psql = run_psql(client, database_url, MACRO_300)
        assert psql.returncode != 0
        assert "delivery success gate failed" in psql.stderr
        assert fingerprint(conn) == before


def test_empty_backlog_is_a_clean_no_op(database_url: str, conn: psycopg.Connection[Any]) -> None:
    before = fingerprint(conn)
    batch = figures(invoke(database_url, "runtime", "run", "300", "--json"))
    assert batch["undelivered_before"] == 0 and batch["delivered"] == 0
    assert batch["redelivery_added"] == 0 and batch["idempotent_ok"] is True
    assert batch["delivery_ok"] is True and batch["projection_after"] == 0
    single = figures(invoke(database_url, "runtime", "run", "220", "--json"))
    assert single["delivered"] == 0 and single["event_ref"] is None and single["delivery_ok"] is True
    after = fingerprint(conn)
    assert {t: p for t, p in after.items() if t != "iu_operator_audit"} == {
        t: p for t, p in before.items() if t != "iu_operator_audit"
    }


def test_300_twice_adds_nothing_the_second_time(database_url: str, conn: psycopg.Connection[Any]) -> None:
    write_structure_backlog(conn, 20)
    first = figures(invoke(database_url, "runtime", "run", "300", "--json"))
    assert first["delivered"] == 20
    rows = projection(conn)
    second = figures(invoke(database_url, "runtime", "run", "300", "--json"))
    assert second["undelivered_before"] == 0 and second["delivered"] == 0
    assert second["projection_before"] == second["projection_after"] == 20
    assert second["redelivery_added"] == 0 and second["via_consumer"] == 20 and second["delivery_ok"]
    assert projection(conn) == rows


@pytest.mark.parametrize("client", psql_clients())
def test_psql_and_cli_give_the_same_result(
    client: str, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn, 30)
    via_psql_220 = psql_figures(client, database_url, MACRO_220)
    via_psql_300 = psql_figures(client, database_url, MACRO_300)
    rows_psql = projection(conn)
    assert via_psql_300["delivered"] == "29" and via_psql_300["delivery_ok"] == "t"

    rollback = psql_figures(client, database_url, ROLLBACK_300)
    assert rollback == {"projection_before": "30", "removed": "30", "projection_after": "0"}

    via_cli_220 = as_psql_text(figures(invoke(database_url, "runtime", "run", "220", "--json")))
    via_cli_300 = as_psql_text(figures(invoke(database_url, "runtime", "run", "300", "--json")))
    assert via_cli_220 == via_psql_220
    assert via_cli_300 == via_psql_300
    assert projection(conn) == rows_psql


def test_rollback_then_rebuild_gives_the_same_projection(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn)
    figures(invoke(database_url, "runtime", "run", "220", "--json"))
    figures(invoke(database_url, "runtime", "run", "300", "--json"))
    original = projection(conn)
    assert len(original) == 56

    undone = figures(invoke(database_url, "runtime", "rollback", "300", "--json"))
    assert undone == {"projection_before": 56, "removed": 56, "projection_after": 0}
    assert projection(conn) == []

    rebuilt = figures(invoke(database_url, "projection", "rebuild", "--json"))
    assert rebuilt["truncated"] == 0
    assert rebuilt["runtime_220"]["delivered"] == 1
    assert rebuilt["runtime_300"]["undelivered_before"] == 55
    assert rebuilt["projection_after"] == 56
    assert projection(conn) == original

    # Rebuild over a full projection: truncated, then the same rows again.
    again = figures(invoke(database_url, "projection", "rebuild", "--json"))
    assert again["truncated"] == 56 and again["projection_after"] == 56
    assert projection(conn) == original


def test_restore_puts_back_any_p0_state(database_url: str, conn: psycopg.Connection[Any]) -> None:
    write_structure_backlog(conn, 10)
    # A P0 that is not the freshly migrated one: gate open, another route live and
    # allowlisted, a structure route disabled with custom policy.
    add_route(conn, "reports.live", kind="report", ref="tree", live=True)
    set_policy(
        conn,
        DEPRECATED_ROUTE,
        enabled=False,
        disabled_reason="HTTP 410",
        max_attempts=3,
        ordering_policy="relaxed",
        allow_networks=["10.0.0.0/8"],
    )
    before = fingerprint(conn)
    report = macros.run_macro(database_url, "300")
    assert report.delivery_ok and report.figures["delivered"] == 10
    after = fingerprint(conn)
    for table in ("iu_outbound_route", "dot_config", "event_outbox", "iu_route_attempt"):
        assert after[table] == before[table], table


def test_missing_key_in_p0_stays_missing(database_url: str, conn: psycopg.Connection[Any]) -> None:
    write_structure_backlog(conn, 3)
    conn.execute("DELETE FROM dot_config WHERE key = 'iu_core.delivery_live_routes'")
    before = fingerprint(conn)
    assert macros.run_macro(database_url, "300").figures["delivered"] == 3
    assert fingerprint(conn)["dot_config"] == before["dot_config"]


def test_open_dead_letter_on_a_structure_route_fails_the_gate(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn, 5)
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts) "
        "VALUES ('structure_op_applied.workflow', gen_random_uuid(), 'boom', 5)"
    )
    before = fingerprint(conn)
    result = invoke(database_url, "runtime", "run", "300")
    assert result.returncode == 1
    assert "open dead letter" in result.stderr
    assert fingerprint(conn) == before


def test_missing_structure_route_is_a_clear_error(database_url: str, conn: psycopg.Connection[Any]) -> None:
    write_structure_backlog(conn, 2)
    conn.execute("DELETE FROM iu_outbound_route WHERE event_type = 'structure_piece_deprecated'")
    result = invoke(database_url, "runtime", "run", "300")
    assert result.returncode == 1
    assert "no route for structure event type(s) structure_piece_deprecated" in result.stderr


def test_two_batches_at_once_deliver_each_event_once(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn, 40)
    reports: list[macros.MacroReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            reports.append(macros.run_macro(database_url, "300"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(r.figures["delivered"] for r in reports) == [0, 40]
    assert all(r.delivery_ok for r in reports)
    assert len(projection(conn)) == 40


def test_show_prints_the_packaged_sql(database_url: str) -> None:
    for name in ("220", "300"):
        result = invoke(database_url, "runtime", "show", name)
        assert result.returncode == 0
        assert result.stdout == (RUNTIME / macros.MACROS[name]).read_text(encoding="utf-8")
    rollback = invoke(database_url, "runtime", "show", "300", "--rollback")
    assert rollback.stdout == ROLLBACK_300.read_text(encoding="utf-8")
    assert invoke(database_url, "runtime", "run", "999").returncode == 2  # click: not a choice


def test_a_non_idempotent_consumer_fails_the_success_gate(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    write_structure_backlog(conn, 6)
    # Writes a fresh row on every call: re-delivery would add rows.
    conn.execute(
        """CREATE OR REPLACE FUNCTION fn_iu_structure_consumer(event_ref uuid, payload jsonb)
           RETURNS integer LANGUAGE sql SET search_path = pg_catalog, public AS $$
             INSERT INTO iu_tree_change_log
                    (event_ref, event_type, iu_id, operation_id, operation_type, delivered_by)
             VALUES (CASE WHEN EXISTS (SELECT 1 FROM iu_tree_change_log c WHERE c.event_ref = $1)
                          THEN gen_random_uuid() ELSE $1 END,
                     $2 ->> 'event_type', ($2 ->> 'iu_id')::uuid, ($2 ->> 'operation_id')::uuid,
                     $2 ->> 'operation_type', 'fn_iu_structure_consumer')
             RETURNING 1 $$"""
    )
    before = fingerprint(conn)
    with pytest.raises(macros.ScriptFailed, match="delivery success gate failed") as info:
        macros.run_macro(database_url, "300")
    assert "re-delivery added 6 row(s)" in str(info.value)
    assert "projection_after 12 <> projection_before + undelivered_before (0 + 6)" in str(info.value)
    assert fingerprint(conn) == before
