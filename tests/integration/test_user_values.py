"""Durations and times a user types reach the database only within range: else one ``error:`` line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]
ROUTE = "structure_op_applied.workflow"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("prune", "--older-than", "999999999d"), "--older-than '999999999d' is too long: at most 36500d"),
        (("prune", "--older-than", "999999999999999w", "--dry-run"), "too long"),
        (("prune", "--older-than", "10m"), "too short: at least 1h"),
        (("route", "set", ROUTE, "--disable-after-failing-hours", "1e12"), "out of range"),
        (("route", "set", ROUTE, "--disable-after-failing-hours", "nan"), "not a number of hours"),
        (("route", "set", ROUTE, "--circuit-cooldown", "99999999999"), "out of range"),
        (("route", "set", ROUTE, "--timeout", "0"), "--timeout: 0 s is out of range"),
        (("route", "secret", "rotate", ROUTE, "--window-hours", "1e9"), "out of range"),
        (("worker", "--once", "--poll-interval", "1e300"), "out of range"),
        (("dead-letters", "replay", "--since", "last tuesday"), "--since: cannot read 'last tuesday'"),
        (("route", "backfill", ROUTE, "--since", "2026-02-30"), "--since: cannot read"),
    ],
)
def test_absurd_values_are_one_error_line_and_change_nothing(
    cli: Runner, conn: psycopg.Connection[Any], args: tuple[str, ...], message: str
) -> None:
    before = conn.execute("SELECT count(*) FROM iu_operator_audit").fetchone()
    assert message in one_error_line(cli(*args))
    assert conn.execute("SELECT count(*) FROM iu_operator_audit").fetchone() == before


@pytest.mark.parametrize("keep_for", ["5000 years", "101 years", "59 minutes", "-1 day"])
def test_retention_settings_out_of_range_are_refused_by_the_database(
    conn: psycopg.Connection[Any], keep_for: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation, match="keep_for_must_be_between_1_hour_and_100_years"):
        conn.execute(
            "UPDATE iu_retention_setting SET keep_for = %s::interval WHERE table_name = 'iu_route_attempt'",
            (keep_for,),
        )
    conn.execute(
        "UPDATE iu_retention_setting SET keep_for = interval '100 years' WHERE table_name = 'iu_delivery'"
    )


def test_since_takes_every_time_the_tool_prints(cli: Runner, conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts, created_at)"
        " VALUES (%s, gen_random_uuid(), 'old', 5, '2026-12-01T00:00:00Z'),"
        "        (%s, gen_random_uuid(), 'new', 5, '2026-12-07T11:09:15Z')",
        (ROUTE, ROUTE),
    )
    listed = json.loads(cli("dead-letters", "list", "--json").stdout)
    printed = [row["created_at"] for row in listed]  # as --json prints it: 2026-12-07T11:09:15+00:00
    assert printed[1] == "2026-12-07T11:09:15+00:00"
    table = cli("dead-letters", "list").stdout
    assert "2026-12-07T11:09:15+00:00" in table
    for since in (printed[1], "2026-12-07T11:09:15Z", "2026-12-07T12:09:15+01:00", "2026-12-07 11:09:15 UTC"):
        result = cli("dead-letters", "discard", "--since", since, "--reason", "x", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["count"] in (0, 1)
    remaining = conn.execute("SELECT reason FROM iu_route_dead_letter WHERE status = 'open'").fetchall()
    assert remaining == [("old",)]
    backfill = cli("route", "backfill", ROUTE, "--since", "2026-12-07T11:09:15Z", "--json")
    assert backfill.returncode == 0, backfill.stderr
