"""The fail-closed probe (sandbox/150), through psql and through `iu-core probe`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core import macros
from iu_core.sqlfiles import read_sql
from tests.conftest import CliRunner, run_iu_core
from tests.support.psql import psql_clients, run_psql
from tests.support.routes import set_gate
from tests.support.seam import fingerprint

PROBE_PATH = Path(macros.__file__).parent / macros.PROBE_FILE


def add_structure_events(conn: psycopg.Connection[Any], count: int) -> None:
    for i in range(count):
        iu_id = str(uuid.uuid4())
        event_type = "structure_piece_deprecated" if i % 8 == 7 else "structure_op_applied"
        payload: dict[str, Any] = {
            "schema_version": "1.0",
            "iu_id": iu_id,
            "operation_id": str(uuid.uuid4()),
            "operation_type": "split",
            "event_type": event_type,
            "pieces": [],
            "eids": [],
        }
        if event_type == "structure_piece_deprecated":
            payload["piece_id"] = str(uuid.uuid4())
            payload["eid"] = None
        else:
            payload["previous_eids"] = {}
        conn.execute(
            "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
            "VALUES (%s, 'information_unit', %s, %s)",
            (event_type, iu_id, Jsonb(payload)),
        )


def break_consumer(conn: psycopg.Connection[Any]) -> None:
    """A consumer that claims success and writes nothing."""
    conn.execute(
        """CREATE OR REPLACE FUNCTION fn_iu_structure_consumer(event_ref uuid, payload jsonb)
           RETURNS integer LANGUAGE sql SET search_path = pg_catalog, public AS $$ SELECT 1 $$"""
    )


def test_probe_cli_passes_nine_and_changes_nothing(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    before = fingerprint(conn)
    result = cli("probe")
    assert result.returncode == 0, result.stderr
    for n in range(1, 10):
        assert f"S{n}" in result.stdout
    assert result.stdout.count("PASS") == 10  # nine rows and the summary
    assert "9/9 PASS" in result.stdout
    assert "FAIL" not in result.stdout
    assert fingerprint(conn) == before


def test_probe_json(cli: CliRunner) -> None:
    result = cli("probe", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["passed"] == 9 and data["error"] is None
    assert [p["#"] for p in data["probes"]] == [f"S{n}" for n in range(1, 10)]
    assert {p["result"] for p in data["probes"]} == {"PASS"}
    assert data["probes"][2]["probe"].endswith("(feature_not_supported)")


@pytest.mark.parametrize("client", psql_clients())
def test_probe_psql_passes_nine_and_changes_nothing(
    client: str, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    before = fingerprint(conn)
    result = run_psql(client, database_url, PROBE_PATH)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.strip().startswith("S")]
    assert len(rows) == 9 and all(line.rstrip().endswith("PASS") for line in rows), result.stdout
    assert fingerprint(conn) == before


def test_probe_on_a_full_database(cli: CliRunner, database_url: str, conn: psycopg.Connection[Any]) -> None:
    add_structure_events(conn, 40)
    assert macros.run_macro(database_url, "300").delivery_ok
    # Open dead letters from elsewhere do not make the probe fail; it proves it added none.
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts) "
        "VALUES ('structure_op_applied.workflow', gen_random_uuid(), 'earlier failure', 5)"
    )
    set_gate(conn, True)
    before = fingerprint(conn)
    result = cli("probe")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fingerprint(conn) == before


def test_broken_consumer_makes_the_probe_fail(
    cli: CliRunner, database_url: str, conn: psycopg.Connection[Any]
) -> None:
    break_consumer(conn)
    before = fingerprint(conn)
    result = cli("probe")
    assert result.returncode == 1
    assert "FAIL" in result.stdout
    assert "error: fail-closed probe:" in result.stderr
    assert "S4 FAIL" in result.stderr and "S8 FAIL" in result.stderr
    data = json.loads(cli("probe", "--json").stdout)
    assert data["ok"] is False and data["passed"] < 9
    failed = {p["#"] for p in data["probes"] if p["result"] == "FAIL"}
    assert {"S4", "S6", "S8"} <= failed
    for client in psql_clients():
        psql = run_psql(client, database_url, PROBE_PATH)
        assert psql.returncode != 0
        assert "fail-closed probe" in psql.stderr
    assert fingerprint(conn) == before


def test_a_seam_that_ignores_the_gate_fails_s1(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    # Rewrite the route's refusal (the check the seam asks) so that it skips the gate.
    row = conn.execute(
        "SELECT pg_get_functiondef('fn_iu_route_refusal(iu_outbound_route)'::regprocedure)"
    ).fetchone()
    assert row is not None
    definition = str(row[0])
    broken = definition.replace("IF v_gate IS DISTINCT FROM 'true'::jsonb THEN", "IF false THEN")
    assert broken != definition
    conn.execute(broken)
    result = cli("probe", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [p["result"] for p in data["probes"] if p["#"] == "S1"] == ["FAIL"]


def test_the_cli_runs_the_packaged_text(database_url: str) -> None:
    # The file psql runs and the text the CLI runs are the same bytes.
    assert PROBE_PATH.read_text(encoding="utf-8") == read_sql(macros.PROBE_FILE)
    report = macros.run_probe(database_url)
    assert report.ok and report.passed == 9


@pytest.mark.slow
def test_unmigrated_database_is_one_clear_line(empty_database_url: str) -> None:
    for args in (
        ["probe"],
        ["runtime", "run", "300"],
        ["gate", "show"],
        ["status"],
        ["route", "list"],
        ["deliveries", "list"],
        ["tree", "REG-EN"],
        ["ingest", "sample:regulation_en.md", "--code", "REG-EN"],
        ["worker", "--once"],
    ):
        result = run_iu_core(args, database_url=empty_database_url)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert "not migrated" in lines[0] and "run iu-core db migrate" in lines[0], (args, result.stderr)
