"""``iu-core demo`` as a new user runs it: the whole story, twice on the same database."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from .conftest import CliRunner


def _figure(output: str, name: str) -> str:
    match = re.search(rf"│ {name}\s+│ (\S+)", output)
    assert match, f"figure {name} not shown"
    return match.group(1)


def test_demo_walks_the_story_and_can_run_again(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    first = cli("demo", timeout=180)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "20 operations wrote 56 structure events" in out
    assert "decisions recorded: 56; sent: 0; projection rows: 0 -> 0" in out
    assert "9/9 PASS" in out
    assert "cannot be live: the delivery gate is closed" in out
    assert "worker sent 1; projection rows: 56 -> 57" in out
    assert "demo complete" in out
    # The seeds' figures: 220 delivers one, 300 the other 55, re-delivery adds nothing.
    assert out.count("delivery_ok        │ True") == 2
    assert _figure(out, "redelivery_added") == "0"
    assert "undelivered_before │ 55" in out
    # Everything the demo armed is disarmed again.
    gate = conn.execute("SELECT value FROM dot_config WHERE key = 'iu_core.delivery_enabled'").fetchone()
    allowlist = conn.execute(
        "SELECT value FROM dot_config WHERE key = 'iu_core.delivery_live_routes'"
    ).fetchone()
    assert gate == (False,) and allowlist == ([],)
    routes = conn.execute(
        "SELECT DISTINCT target_kind, target_ref, dry_run FROM iu_outbound_route"
    ).fetchall()
    assert routes == [("workflow", "event_outbox", True)]
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == (57,)

    second = cli("demo", timeout=180)
    assert second.returncode == 0, second.stderr
    assert "there already" in second.stdout
    assert "demo complete" in second.stdout
    # Second run: one more live rename, nothing lost or doubled.
    assert conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone() == (58,)
