"""What an operator types is checked before anything is written, and every command tells the truth.

The CLI runs in-process here (tests.support.cli.invoke) against a real database.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core.delivery_seam import UnbuiltDeliveryTarget
from iu_core.ops import status as status_ops

Runner = Callable[..., subprocess.CompletedProcess[str]]
ROUTE = "structure_op_applied.workflow"


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def routes(conn: psycopg.Connection[Any]) -> int:
    (n,) = conn.execute("SELECT count(*) FROM iu_outbound_route").fetchone() or (0,)
    return int(n)


def add(
    cli: Runner, code: str, kind: str, ref: str, event_type: str = "structure_op_applied", *extra: str
) -> Any:
    return cli(
        "route", "add", code, "--event-type", event_type, "--target-kind", kind, "--target-ref", ref, *extra
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.test/hook", "scheme must be http or https"),
        ("http:///hook", "has no host"),
        ("http://example.test:99999/hook", "port must be a number from 1 to 65535"),
        ("http://example.test:0/hook", "port must be a number from 1 to 65535"),
        ("http://exa mple.test/hook", "space, a control character or a line break"),
        ("http://example.test/ho\r\nok", "space, a control character or a line break"),
        ("http://user:pw@example.test/hook", "holds credentials"),
    ],
)
def test_a_bad_endpoint_url_is_refused_before_it_is_stored(
    cli: Runner, conn: psycopg.Connection[Any], url: str, words: str
) -> None:
    before = routes(conn)
    assert words in error_line(add(cli, "hook", "external_endpoint", url))
    assert routes(conn) == before


def test_unknown_event_types_unregistered_consumers_and_bad_codes_are_refused(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    before = routes(conn)
    assert "unknown event type 'structure_op_aplied'" in error_line(
        add(cli, "r1", "sql_function", "fn_iu_structure_consumer", "structure_op_aplied")
    )
    assert "not a registered internal consumer" in error_line(add(cli, "r2", "sql_function", "pg_sleep"))
    assert "route code 'r\\u202e1' holds '\\u202e'" in error_line(add(cli, "r\u202e1", "report", "table"))
    assert "route code" in error_line(add(cli, "x" * 65, "report", "table"))
    assert routes(conn) == before
    # Deliberately routing a type nothing writes yet is possible, and said.
    assert add(cli, "custom", "report", "table", "my_event", "--allow-unknown-event-type").returncode == 0


def test_a_token_with_control_characters_is_refused(cli: Runner, conn: psycopg.Connection[Any]) -> None:
    flow = "http://127.0.0.1:8055/flows/trigger/0b6c5f47-8d4e-4f5c-9d0c-6a8a3e0f1b2c"
    assert add(cli, "flow", "directus_flow", flow).returncode == 0
    refused = cli("route", "token", "set", "flow", env={"IU_CORE_ROUTE_TOKEN": "abc\x1b[31mdef"})
    assert "one line of printable characters" in error_line(refused)
    assert conn.execute("SELECT count(*) FROM iu_route_credential").fetchone() == (0,)


def test_route_remove_takes_the_route_off_the_allowlist_and_respects_in_flight_work(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    assert add(cli, "gone", "report", "table").returncode == 0
    assert cli("allowlist", "add", "gone").returncode == 0
    conn.execute(
        "INSERT INTO iu_delivery (route_code, event_id, event_seq, aggregate_id, state)"
        " VALUES ('gone', gen_random_uuid(), 1, gen_random_uuid(), 'inflight')"
    )
    assert "1 deliveries in flight" in error_line(cli("route", "remove", "gone"))
    assert cli("route", "remove", "gone", "--force").returncode == 0
    allowlist = json.loads(cli("allowlist", "show", "--json").stdout)
    assert "gone" not in allowlist
    # Added again, it is not live-able without a new allowlist entry.
    assert add(cli, "gone", "report", "table").returncode == 0
    assert cli("gate", "open").returncode == 0
    assert "not on the live allowlist" in error_line(cli("route", "set", "gone", "--live"))


def test_replaying_a_dead_letter_of_a_removed_route_says_so(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    assert add(cli, "old", "report", "table").returncode == 0
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts)"
        " VALUES ('old', gen_random_uuid(), 'boom', 5)"
    )
    assert cli("route", "remove", "old").returncode == 0
    replayed = json.loads(cli("dead-letters", "replay", "--route", "old", "--json").stdout)
    assert replayed["count"] == 0 and replayed["of_removed_routes"] == 1 and replayed["changed"] is False
    text = cli("dead-letters", "replay", "--all").stdout
    assert "nothing replayed" in text and "belong to removed routes" in text


def test_backfill_delivers_what_the_route_saw_in_dry_run_once_it_is_live(
    cli: Runner, conn: psycopg.Connection[Any], database_url: str
) -> None:
    assert add(cli, "proj", "sql_function", "fn_iu_structure_consumer").returncode == 0
    assert cli("samples", "seed").returncode == 0
    assert cli("worker", "--once").returncode == 0  # dry-cli: decisions only
    decided = conn.execute("SELECT count(*) FROM iu_delivery WHERE route_code = 'proj'").fetchone()
    assert decided is not None and decided[0] > 0
    for args in (("gate", "open"), ("allowlist", "add", "proj"), ("route", "set", "proj", "--live")):
        assert cli(*args).returncode == 0
    backfilled = json.loads(cli("route", "backfill", "proj", "--json").stdout)
    assert backfilled["added"] == decided[0] and backfilled["changed"] is True
    assert cli("worker", "--once").returncode == 0
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == decided


def test_no_ops_exit_zero_and_say_nothing_changed(cli: Runner) -> None:
    assert "already closed; nothing changed" in cli("gate", "close").stdout
    assert cli("allowlist", "add", ROUTE).returncode == 0
    again = cli("allowlist", "add", ROUTE, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] is False
    nothing = cli("dead-letters", "replay", "--all", "--json")
    assert nothing.returncode == 0 and json.loads(nothing.stdout) == {
        "changed": False,
        "summary": "no open dead letter matched; nothing replayed",
        "count": 0,
        "of_removed_routes": 0,
    }
    assert "already enabled; nothing changed" in cli("route", "enable", ROUTE).stdout


def test_the_actor_named_on_the_command_line_or_environment_is_recorded(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    assert cli("--actor", "carol", "gate", "open").returncode == 0
    assert cli("gate", "close", env={"IU_CORE_ACTOR": "dave"}).returncode == 0
    assert cli("--actor", "erin", "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    actors = [r[0] for r in conn.execute("SELECT actor FROM iu_operator_audit ORDER BY audit_id")]
    assert actors == ["carol", "dave"]
    op_actors = {r[0] for r in conn.execute("SELECT actor FROM iu_structure_operation")}
    assert op_actors == {"erin"}
    # Without either, the operating-system user is recorded, never the database role.
    assert cli("gate", "open", env={"IU_CORE_ACTOR": "", "USER": "frank", "LOGNAME": "frank"}).returncode == 0
    last = conn.execute("SELECT actor FROM iu_operator_audit ORDER BY audit_id DESC LIMIT 1").fetchone()
    assert last == ("frank",)


def test_deliveries_show_the_attempt_history_and_list_by_state(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    assert add(cli, "proj", "sql_function", "fn_iu_structure_consumer").returncode == 0
    for args in (("gate", "open"), ("allowlist", "add", "proj"), ("route", "set", "proj", "--live")):
        assert cli(*args).returncode == 0
    assert cli("ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    assert cli("worker", "--once").returncode == 0
    sent = json.loads(cli("deliveries", "list", "--route", "proj", "--state", "sent", "--json").stdout)
    assert sent and {d["state"] for d in sent} == {"sent"}
    shown = json.loads(cli("deliveries", "show", str(sent[0]["delivery_id"]), "--json").stdout)
    assert [(a["attempt_no"], a["status"]) for a in shown["attempts_history"]] == [(1, "sent")]
    assert shown["attempts_history"][0]["latency_ms"] is not None
    text = cli("deliveries", "show", str(sent[0]["delivery_id"])).stdout
    assert "attempt" in text and "sent" in text
    assert "no delivery with id 999999" in error_line(cli("deliveries", "show", "999999"))
    events = cli("events", "list").stdout
    assert "20" in events and ":" in events  # the date and the time of day


def test_status_reports_the_database_health(conn: psycopg.Connection[Any], database_url: str) -> None:
    with psycopg.connect(database_url) as idle:
        idle.execute("SELECT 1")  # now idle in transaction
        health = status_ops.health(conn)
        assert health.oldest_idle_in_transaction is not None
        assert health.oldest_idle_in_transaction["pid"] == idle.info.backend_pid
        assert health.xid_age > 0
        assert {t["table"] for t in health.tables} >= {"event_outbox", "iu_delivery", "iu_route_attempt"}
        old, status_ops.OLD_TRANSACTION_S = status_ops.OLD_TRANSACTION_S, -1.0
        try:
            warnings = status_ops.health(conn).warnings
        finally:
            status_ops.OLD_TRANSACTION_S = old
        assert any("idle in transaction" in w and "holds back vacuum" in w for w in warnings)


def test_a_data_directory_that_is_not_postgresql_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = subprocess.run(
        ["iu-core", "--data-dir", str(tmp_path), "status"], capture_output=True, text=True, check=False,
        env={"PATH": str(Path(__import__("sys").executable).parent), "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "is not empty and is not a PostgreSQL data directory" in result.stderr
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_the_unbuilt_target_constructs_without_a_kind() -> None:
    target = UnbuiltDeliveryTarget()
    assert target.target_kind is None


def test_payload_limit_and_failing_window_are_route_settings(cli: Runner) -> None:
    assert add(cli, "hook", "external_endpoint", "https://hooks.example.test/iu").returncode == 0
    assert cli("route", "set", "hook", "--max-payload-bytes", "2048",
               "--disable-after-failing-hours", "1.5").returncode == 0  # fmt: skip
    shown = json.loads(cli("route", "show", "hook", "--json").stdout)
    assert shown["max_payload_bytes"] == 2048 and float(shown["disable_after_failing_hours"]) == 1.5
    refused = cli("route", "set", "hook", "--max-payload-bytes", "0")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
