"""One schema check for every command and the worker: nothing runs on a database behind the code."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import migrations
from iu_core.migrations import NotMigrated
from iu_core.worker import WorkerConfig, run_worker
from tests.conftest import run_iu_core


def _stale_function_file(conn: psycopg.Connection[Any]) -> None:
    conn.execute("UPDATE iu_schema_function SET checksum = 'old' WHERE name = 'route_refusal'")
    conn.commit()


def _pending_migration(conn: psycopg.Connection[Any]) -> str:
    last = migrations.available()[-1]
    conn.execute("DELETE FROM iu_schema_migration WHERE version = %s", (last.version,))
    conn.commit()
    return last.filename


def test_a_worker_refuses_to_start_while_a_function_file_changed(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    _stale_function_file(conn)
    with pytest.raises(NotMigrated, match=r"^database not migrated .*route_refusal\.sql"):
        run_worker(database_url, WorkerConfig(), once=True)
    ran = run_iu_core(["worker", "--once"], database_url=database_url)
    assert ran.returncode == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database not migrated"), ran.stderr


def test_a_worker_refuses_to_start_while_a_migration_is_pending(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    filename = _pending_migration(conn)
    with pytest.raises(NotMigrated, match=f"pending: {filename}"):
        run_worker(database_url, WorkerConfig(), once=True)


def test_commands_refuse_with_the_same_line_and_db_migrate_brings_the_database_up(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    _stale_function_file(conn)
    ran = run_iu_core(["route", "list"], database_url=database_url)
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "error: database not migrated to this version (function files: route_refusal.sql): "
        "run iu-core db migrate"
    )
    assert run_iu_core(["db", "migrate"], database_url=database_url).returncode == 0
    assert run_iu_core(["route", "list"], database_url=database_url).returncode == 0
    stats = run_worker(database_url, WorkerConfig(), once=True)
    assert stats.reconnects == 0
