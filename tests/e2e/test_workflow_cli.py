"""The workflow commands as a user types them: install, status, route checks of ``pgqueuer:`` refs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CliRunner

ROUTE = "reindex"
ADD = ("route", "add", ROUTE, "--event-type", "structure_op_applied", "--target-kind", "workflow")


@pytest.mark.slow
def test_refs_are_checked_and_live_waits_for_pgqueuer(cli: CliRunner) -> None:
    bad = cli(*ADD, "--target-ref", "celery:reindex")
    assert bad.returncode == 1 and "unknown workflow engine 'celery'" in bad.stderr
    malformed = cli(*ADD, "--target-ref", "pgqueuer:")
    assert malformed.returncode == 1 and "malformed entrypoint" in malformed.stderr
    assert cli(*ADD, "--target-ref", "pgqueuer:iu_structure").returncode == 0
    assert cli("gate", "open").returncode == 0
    assert cli("allowlist", "add", ROUTE).returncode == 0
    refused = cli("route", "set", ROUTE, "--live")
    assert refused.returncode == 1
    assert "pgqueuer is not installed in this database: run iu-core workflow install" in refused.stderr
    assert "Traceback" not in refused.stderr

    status = json.loads(cli("workflow", "status", "--json").stdout)
    assert status["engines"][0]["installed"] is False
    assert {r["route_code"]: r["queued"] for r in status["routes"]}[ROUTE] is None

    migrated = cli("db", "migrate", "--with", "pgqueuer", "--json")
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["engines"] == {"pgqueuer": "installed"}
    again = cli("workflow", "install")
    assert again.returncode == 0 and "pgqueuer: up to date" in again.stdout
    assert cli("route", "set", ROUTE, "--live").returncode == 0

    table = cli("workflow", "status")
    assert table.returncode == 0, table.stderr
    assert (
        "pgqueuer: installed" in table.stdout
        and ROUTE in table.stdout
        and "pgqueuer:iu_structure" in table.stdout
    )


def test_event_outbox_route_keeps_its_meaning(cli: CliRunner) -> None:
    assert cli(*ADD, "--target-ref", "event_outbox").returncode == 0
    status = json.loads(cli("workflow", "status", "--json").stdout)
    (route,) = [r for r in status["routes"] if r["route_code"] == ROUTE]
    assert route["engine"] is None and route["queued"] is None and route["mode"] == "dry-run"
