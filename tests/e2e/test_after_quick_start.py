"""The path after the quick start, as written, on a fresh embedded data directory.

No ``--database-url``: the commands use the embedded default database, which
the first command migrates. A database the user names is never migrated
behind their back: it says so in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from iu_core.embedded import server_status, stop_server
from tests.conftest import run_iu_core

ROUTE = "structure_op_applied.workflow"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory, as a new user's: outside pytest's basetemp, which only its owner may
    enter (the wheel runs the server as another user when the tests run as root)."""
    base = Path(tempfile.mkdtemp(prefix="iu_core_fresh_"))
    try:
        yield base / "pgdata"
    finally:
        stop_server(base / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow  # starts and stops an embedded server of its own
@pytest.mark.timeout(600)  # about 25 commands, each a new interpreter: not the global budget
def test_readme_commands_after_the_quick_start_work_in_order(data_dir: Path) -> None:
    env = {"IU_CORE_DATA_DIR": str(data_dir)}

    def iu_core(*args: str) -> str:
        result = run_iu_core(list(args), database_url=None, env=env, timeout=120)
        assert result.returncode == 0, f"iu-core {' '.join(args)}: {result.stdout}{result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    seeded = run_iu_core(["samples", "seed"], database_url=None, env=env, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    assert "created IU Core's schema in the embedded database" in seeded.stderr  # said once, on first use
    assert "Schema verified" in iu_core("db", "verify")
    assert "created IU Core's schema" not in run_iu_core(["status"], database_url=None, env=env).stderr

    # Going live, the way an operator does it (README), with the samples' data.
    iu_core("worker", "--once")
    dry_run = json.loads(iu_core("deliveries", "list", "--state", "dry-run", "--json"))
    assert dry_run
    iu_core("gate", "open")
    iu_core("allowlist", "add", ROUTE)
    iu_core("route", "set", ROUTE, "--target-kind", "sql_function",
            "--target-ref", "fn_iu_structure_consumer", "--live")  # fmt: skip
    iu_core("route", "backfill", ROUTE)
    iu_core("worker", "--once")
    status = json.loads(iu_core("status", "--json"))
    route = next(r for r in status["routes"] if r["route_code"] == ROUTE)
    assert route["backlog"] == 0 and route["dead_letters"] == 0
    url = server_status(data_dir).url
    assert url is not None
    with psycopg.connect(url) as conn:
        projected = conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone()
    assert projected is not None and projected[0] == len([d for d in dry_run if d["route_code"] == ROUTE])

    # The workflow story and its example consumer, on the same default database.
    iu_core("workflow", "install")
    iu_core("route", "add", "reindex", "--event-type", "structure_op_applied",
            "--target-kind", "workflow", "--target-ref", "pgqueuer:iu_structure")  # fmt: skip
    iu_core("allowlist", "add", "reindex")
    iu_core("route", "set", "reindex", "--live")
    queued = json.loads(iu_core("route", "backfill", "reindex", "--json"))["added"]
    iu_core("worker", "--once")
    consumer_env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")} | env
    consumed = subprocess.run(
        [sys.executable, str(REPO / "examples" / "workflow_consumer.py"), "--drain"],
        env=consumer_env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stdout + consumed.stderr
    lines = consumed.stdout.splitlines()
    assert queued > 0 and sum(line.startswith("recorded structure_op_applied ") for line in lines) == queued
    assert lines[-1] == f"done: {queued} job(s) recorded in workflow_consumer_event"


@pytest.mark.slow
def test_a_database_the_user_names_is_not_migrated_behind_their_back(empty_database_url: str) -> None:
    for args in (["status"], ["samples", "seed"], ["gate", "open"]):
        result = run_iu_core(args, database_url=empty_database_url)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == ["error: database not migrated: run iu-core db migrate"]
    verify = run_iu_core(["db", "verify"], database_url=empty_database_url)
    assert verify.returncode == 1
    assert verify.stdout.strip().splitlines() == [
        "✗ database not migrated (every migration is pending): run iu-core db migrate"
    ]
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('iu_schema_migration')").fetchone() == (None,)
