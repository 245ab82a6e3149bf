"""``iu-core demo`` as a new user runs it: the whole story, in a database of its own, twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import CliRunner

DEMO_DATABASE = "iu_core_demo"


def _figure(output: str, name: str) -> str:
    match = re.search(rf"│ {name}\s+│ (\S+)", output)
    assert match, f"figure {name} not shown"
    return match.group(1)


@pytest.fixture
def demo_url(database_url: str, pg_admin_url: str) -> Iterator[str]:
    yield psycopg.conninfo.make_conninfo(database_url, dbname=DEMO_DATABASE)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DEMO_DATABASE))
        )


def _users_live_route(cli: CliRunner) -> None:
    """A user's own setup: gate open, a live route to the internal consumer."""
    for args in (
        ("gate", "open"),
        ("route", "add", "mine", "--event-type", "structure_op_applied",
         "--target-kind", "sql_function", "--target-ref", "fn_iu_structure_consumer"),
        ("allowlist", "add", "mine"),
        ("route", "set", "mine", "--live"),
    ):  # fmt: skip
        assert cli(*args).returncode == 0


def _demo_state(url: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as demo:
        gate = demo.execute("SELECT value FROM dot_config WHERE key = 'iu_core.delivery_enabled'").fetchone()
        allowlist = demo.execute(
            "SELECT value FROM dot_config WHERE key = 'iu_core.delivery_live_routes'"
        ).fetchone()
        routes = demo.execute(
            "SELECT DISTINCT target_kind, target_ref, dry_run FROM iu_outbound_route"
        ).fetchall()
        projection = demo.execute("SELECT count(*) FROM iu_tree_change_log").fetchone()
    return gate, allowlist, routes, projection


@pytest.mark.slow
@pytest.mark.timeout(420)  # two demo runs of up to 180 s each (their own limits), never the global 120 s
def test_demo_walks_the_story_in_its_own_database_and_can_run_again(
    cli: CliRunner, conn: psycopg.Connection[Any], demo_url: str
) -> None:
    _users_live_route(cli)
    first = cli("demo", timeout=180)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert f"in its own database {DEMO_DATABASE}" in out
    assert "20 operations wrote 56 structure events" in out
    assert "decisions recorded: 56; sent: 0; projection rows: 0 -> 0" in out
    assert "9/9 PASS" in out
    assert "cannot be live: the delivery gate is closed" in out
    assert "worker sent 1; projection rows: 56 -> 57" in out
    assert "demo complete" in out
    # The macros' figures: 220 delivers one, 300 the other 55, re-delivery adds nothing.
    assert out.count("delivery_ok        │ True") == 2
    assert _figure(out, "redelivery_added") == "0"
    assert "undelivered_before │ 55" in out
    # Everything the demo armed is disarmed again, in its own database.
    assert _demo_state(demo_url) == (
        (False,),
        ([],),
        [("workflow", "event_outbox", True)],
        (57,),
    )
    # The user's database is untouched: the live route stays live, the gate open, nothing delivered.
    route = conn.execute(
        "SELECT dry_run, enabled FROM iu_outbound_route WHERE route_code = 'mine'"
    ).fetchone()
    assert route == (False, True)
    assert conn.execute("SELECT fn_iu_delivery_gate_open()").fetchone() == (True,)
    assert conn.execute("SELECT count(*) FROM information_unit").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == (0,)

    second = cli("demo", timeout=180)
    assert second.returncode == 0, second.stderr
    assert "20 operations wrote 56 structure events" in second.stdout
    assert "demo complete" in second.stdout
    # The second run tells the same story afresh.
    assert _demo_state(demo_url)[3] == (57,)
