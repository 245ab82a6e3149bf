"""Operator commands: gate, allowlist, routes, and the audit of every change."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg

from tests.conftest import CliRunner
from tests.support.routes import set_gate

ROUTE = "structure_op_applied.workflow"
ALICE = {"LOGNAME": "alice", "USER": "alice"}


Runner = Callable[..., subprocess.CompletedProcess[str]]


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def audit(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT actor, context, object_type, object_key, action, before, after"
        " FROM iu_operator_audit ORDER BY audit_id"
    ).fetchall()


def test_gate_open_close_show(cli: Runner) -> None:
    assert ok(cli("gate", "show", "--json")) == {"gate_open": False, "allowlist": []}
    assert "OPEN" in ok(cli("gate", "open"))
    assert ok(cli("gate", "show", "--json"))["gate_open"] is True
    assert "CLOSED" in ok(cli("gate", "close"))
    assert ok(cli("gate", "show", "--json"))["gate_open"] is False


def test_allowlist_add_remove_show(cli: Runner) -> None:
    other = "structure_piece_deprecated.workflow"
    ok(cli("allowlist", "add", ROUTE, other))
    ok(cli("allowlist", "add", ROUTE))  # twice: no duplicate
    assert ok(cli("allowlist", "show", "--json")) == sorted([ROUTE, other])
    ok(cli("allowlist", "remove", ROUTE))
    assert ok(cli("allowlist", "show", "--json")) == [other]
    assert ok(cli("allowlist", "show")).strip() == other
    error = one_line_error(cli("allowlist", "add", "no.such.route"))
    assert "no such route: no.such.route" in error
    assert ok(cli("allowlist", "show", "--json")) == [other]


def test_going_live_needs_the_gate_then_the_allowlist(cli: CliRunner) -> None:
    error = one_line_error(cli("route", "set", ROUTE, "--live"))
    assert "delivery gate is closed" in error and "gate open" in error
    ok(cli("gate", "open"))
    error = one_line_error(cli("route", "set", ROUTE, "--live"))
    assert "not on the live allowlist" in error and "allowlist add" in error
    ok(cli("allowlist", "add", ROUTE))
    assert "(live)" in ok(cli("route", "set", ROUTE, "--live"))
    shown = ok(cli("route", "show", ROUTE, "--json"))
    assert shown["dry_run"] is False and shown["mode"] == "live" and shown["allowlisted"] is True
    assert "(dry-run)" in ok(cli("route", "set", ROUTE, "--dry-run"))


def test_route_set_every_policy_option(cli: Runner) -> None:
    ok(
        cli(
            "route", "set", ROUTE,
            "--target-kind", "external_endpoint", "--target-ref", "https://hooks.example.test/in",
            "--max-attempts", "7", "--base-delay-ms", "250", "--ordering", "relaxed",
            "--allow-network", "127.0.0.0/8", "--allow-network", "::1/128",
            "--timeout", "2.5", "--connect-timeout", "1", "--max-in-flight", "3",
            "--rate-limit", "4.5", "--circuit-threshold", "9", "--circuit-cooldown", "60",
        )
    )  # fmt: skip
    route = ok(cli("route", "show", ROUTE, "--json"))
    assert route["target_kind"] == "external_endpoint"
    assert route["target_ref"] == "https://hooks.example.test/in"
    assert (route["max_attempts"], route["base_delay_ms"], route["ordering_policy"]) == (7, 250, "relaxed")
    assert route["allow_networks"] == ["127.0.0.0/8", "::1/128"]
    assert (route["timeout_s"], route["connect_timeout_s"], route["max_in_flight"]) == (2.5, 1, 3)
    assert route["rate_limit_per_s"] == 4.5
    assert (route["circuit_failure_threshold"], route["circuit_cooldown_s"]) == (9, 60)
    assert route["dry_run"] is True  # untouched

    ok(cli("route", "set", ROUTE, "--rate-limit", "0", "--clear-allow-networks"))
    route = ok(cli("route", "show", ROUTE, "--json"))
    assert route["rate_limit_per_s"] is None and route["allow_networks"] == []
    assert route["max_attempts"] == 7  # kept


def test_route_set_mistakes_are_one_line(cli: Runner) -> None:
    assert "nothing to change" in one_line_error(cli("route", "set", ROUTE))
    assert "no such route" in one_line_error(cli("route", "set", "nope", "--max-attempts", "2"))
    assert "cidr" in one_line_error(cli("route", "set", ROUTE, "--allow-network", "not-a-net"))
    bad_kind = cli("route", "set", ROUTE, "--target-kind", "ftp")
    assert bad_kind.returncode == 2 and "Traceback" not in bad_kind.stderr


def test_route_add_list_show_remove(cli: Runner) -> None:
    added = ok(
        cli("route", "add", "vector.pieces", "--event-type", "structure_op_applied",
            "--target-kind", "vector", "--target-ref", "piece_embedding")
    )  # fmt: skip
    assert "dry-run" in added
    codes = [r["route_code"] for r in ok(cli("route", "list", "--json"))]
    assert codes == sorted([ROUTE, "structure_piece_deprecated.workflow", "vector.pieces"])
    assert "vector.pieces" in ok(cli("route", "list"))
    duplicate = cli(
        "route", "add", "vector.pieces", "--event-type", "x", "--target-kind", "vector", "--target-ref", "y"
    )
    assert "already exists" in one_line_error(duplicate)
    invalid = cli(
        "route", "add", "bad code!", "--event-type", "x", "--target-kind", "vector", "--target-ref", "y"
    )
    assert "route code 'bad code!' holds ' '" in one_line_error(invalid)
    ok(cli("route", "remove", "vector.pieces"))
    assert "no such route" in one_line_error(cli("route", "show", "vector.pieces"))
    assert "no such route" in one_line_error(cli("route", "remove", "vector.pieces"))


def test_every_change_is_audited_with_who_when_before_after(
    cli: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    ok(cli("gate", "open", env=ALICE))
    ok(cli("allowlist", "add", ROUTE, env=ALICE))
    ok(cli("route", "set", ROUTE, "--live", env=ALICE))
    ok(
        cli(
            "route",
            "add",
            "r.new",
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "report",
            "--target-ref",
            "table",
            env=ALICE,
        )
    )
    ok(cli("route", "remove", "r.new", env=ALICE))
    rows = audit(conn)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("alice", "gate open", "config", "iu_core.delivery_enabled", "update"),
        ("alice", "allowlist add", "config", "iu_core.delivery_live_routes", "update"),
        ("alice", "route set", "route", ROUTE, "update"),
        ("alice", "route add", "route", "r.new", "insert"),
        ("alice", "route remove", "route", "r.new", "delete"),
    ]
    gate_before, gate_after = rows[0][5], rows[0][6]
    assert (gate_before["value"], gate_after["value"]) == (False, True)
    assert (rows[2][5]["dry_run"], rows[2][6]["dry_run"]) == (True, False)
    assert rows[3][5] is None and rows[4][6] is None
    # A change made outside the CLI is recorded too, with the database user.
    conn.execute("UPDATE iu_outbound_route SET max_attempts = 2 WHERE route_code = %s", (ROUTE,))
    (actor, context) = conn.execute(
        "SELECT actor, context FROM iu_operator_audit ORDER BY audit_id DESC LIMIT 1"
    ).fetchone() or (None, None)
    assert actor == conn.execute("SELECT session_user").fetchone()[0] and context is None  # type: ignore[index]
    # A refused change leaves no audit row.
    count = len(audit(conn))
    one_line_error(cli("route", "set", "structure_piece_deprecated.workflow", "--live"))
    assert len(audit(conn)) == count
    shown = ok(cli("audit", "--json", "--key", ROUTE))
    assert [r["context"] for r in shown][:2] == [None, "route set"]
    assert "gate open" in ok(cli("audit"))


def test_consumer_registry_changes_are_audited(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """CREATE FUNCTION other_consumer(event_ref uuid, payload jsonb) RETURNS integer
           LANGUAGE sql SET search_path = pg_catalog, public AS $$ SELECT 0 $$"""
    )
    conn.execute(
        "INSERT INTO iu_internal_consumer (consumer_name, consumer) "
        "VALUES ('other_consumer', 'other_consumer(uuid, jsonb)'::regprocedure)"
    )
    rows = audit(conn)
    assert [(r[2], r[3], r[4]) for r in rows] == [("consumer", "other_consumer", "insert")]


def test_audit_is_append_only(conn: psycopg.Connection[Any]) -> None:
    set_gate(conn, True)
    try:
        conn.execute("UPDATE iu_operator_audit SET actor = 'mallory'")
    except psycopg.Error as exc:
        assert exc.sqlstate == "IU007"
    else:  # pragma: no cover
        raise AssertionError("UPDATE of the audit was not refused")


def test_macros_are_audited_and_leave_the_controls_as_they_were(
    cli: Runner, conn: psycopg.Connection[Any]
) -> None:
    before = conn.execute("SELECT to_jsonb(r) FROM iu_outbound_route r ORDER BY route_code").fetchall()
    gate_before = ok(cli("gate", "show", "--json"))
    ok(cli("runtime", "run", "300", "--json", env=ALICE))
    assert (
        conn.execute("SELECT to_jsonb(r) FROM iu_outbound_route r ORDER BY route_code").fetchall() == before
    )
    assert ok(cli("gate", "show", "--json")) == gate_before
    contexts = {(r[0], r[1]) for r in audit(conn)}
    assert contexts == {("alice", "runtime/300")}
    # Arm, flip, restore, disarm: each route and key changed and changed back.
    for key in (ROUTE, "iu_core.delivery_enabled", "iu_core.delivery_live_routes"):
        changes = [r for r in audit(conn) if r[3] == key]
        assert len(changes) == 2 and changes[0][5] == changes[1][6]
