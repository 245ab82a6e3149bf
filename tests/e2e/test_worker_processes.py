"""The real ``iu-core worker`` in processes: kill -9, two workers, SIGTERM, a database restart."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import migrations
from iu_core.embedded import ensure_server, stop_server
from tests.support.routes import make_live
from tests.support.worker import insert_events, projection_count, scalar, states, wait_until, worker_process

pytestmark = pytest.mark.slow


def _stop(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _worker_sessions(conn: psycopg.Connection[Any]) -> int:
    return int(
        scalar(
            conn,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'iu-core worker' AND datname = current_database()",
        )
    )


def _audit_consistent(conn: psycopg.Connection[Any]) -> None:
    """Every projected event has exactly one sent delivery and one attempt, and nothing else exists."""
    assert scalar(conn, "SELECT count(*) FROM iu_delivery WHERE state = 'sent'") == projection_count(conn)
    assert conn.execute(
        "SELECT count(*), count(DISTINCT event_ref), coalesce(max(attempt_no), 1) FROM iu_route_attempt"
    ).fetchone() == (projection_count(conn), projection_count(conn), 1)
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM iu_delivery d WHERE d.state = 'sent' AND NOT EXISTS "
            "(SELECT 1 FROM iu_tree_change_log l WHERE l.event_ref = d.event_id)",
        )
        == 0
    )


def test_kill_9_mid_batch_then_another_worker_delivers_every_event_exactly_once(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    make_live(conn)
    total = 8000
    insert_events(conn, total, [uuid.uuid4() for _ in range(40)])
    proc = worker_process(database_url, "--batch-size", "1000", "--log-level", "warning")
    try:
        assert wait_until(lambda: projection_count(conn) > 0, 60, 0.01), "the worker delivered nothing"
        time.sleep(0.1)  # inside the next batch's transaction
    finally:
        proc.kill()  # SIGKILL: no drain, no cleanup
        proc.communicate(timeout=30)
    # Its server sessions end when they notice the client is gone (a batch
    # they were running commits or rolls back as a whole).
    assert wait_until(lambda: _worker_sessions(conn) == 0, 30)
    delivered_before = projection_count(conn)
    assert 0 < delivered_before < total
    _audit_consistent(conn)  # a batch is all or nothing
    second = worker_process(database_url, "--once", "--batch-size", "1000", "--json")
    out, err = second.communicate(timeout=110)
    assert second.returncode == 0, err
    assert json.loads(out)["sent"] == total - delivered_before
    assert projection_count(conn) == total
    assert scalar(conn, "SELECT count(DISTINCT event_ref) FROM iu_tree_change_log") == total
    assert states(conn) == {"sent": total}
    _audit_consistent(conn)


def test_two_worker_processes_split_the_backlog_without_double_delivery(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    make_live(conn)
    args = ("--batch-size", "50", "--poll-interval", "0.2", "--json", "--log-level", "warning")
    procs = [worker_process(database_url, *args) for _ in range(2)]
    try:
        time.sleep(3)  # both started and listening
        total = 3000
        insert_events(conn, total, [uuid.uuid4() for _ in range(300)])
        assert wait_until(lambda: projection_count(conn) == total, 90, 0.05)
    finally:
        results = [_stop(p) for p in procs]
    for code, _out, err in results:
        assert code == 0, err
    sent = [json.loads(out)["sent"] for _code, out, _err in results]
    assert sum(sent) == total
    assert all(n > 0 for n in sent), f"work was not split: {sent}"
    assert scalar(conn, "SELECT count(DISTINCT event_ref) FROM iu_tree_change_log") == total
    _audit_consistent(conn)


def test_sigterm_drains_and_exits_zero(conn: psycopg.Connection[Any], database_url: str) -> None:
    make_live(conn)
    insert_events(conn, 6000, [uuid.uuid4() for _ in range(30)])
    proc = worker_process(database_url, "--batch-size", "500")
    assert wait_until(lambda: projection_count(conn) > 0, 60, 0.01)
    started = time.monotonic()
    code, _out, err = _stop(proc, 30)
    assert code == 0, err
    assert time.monotonic() - started < 15
    assert "worker stopped" in err
    _audit_consistent(conn)
    # what was left is still there for the next worker
    pending = states(conn).get("pending", 0)
    assert pending + projection_count(conn) == 6000


@pytest.fixture
def own_server() -> Iterator[Path]:
    """A dedicated embedded server (short path: the Unix socket lives in it)."""
    data_dir = Path(tempfile.mkdtemp(prefix="iuw-")) / "pg"
    try:
        yield data_dir
    finally:
        try:
            stop_server(data_dir)
        finally:
            shutil.rmtree(data_dir.parent, ignore_errors=True)


def _start_server_elsewhere(data_dir: Path) -> str:
    """Start the embedded server from another process (the wheel caches its server per process)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from iu_core.embedded import ensure_server; "
            "print(ensure_server(Path(sys.argv[1])))",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_worker_recovers_by_itself_when_the_database_restarts(own_server: Path) -> None:
    url = ensure_server(own_server)
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn)
        make_live(conn)
    proc = worker_process(url, "--poll-interval", "0.2")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            insert_events(conn, 10)
            assert wait_until(lambda: projection_count(conn) == 10, 30)
        assert stop_server(own_server)
        time.sleep(1.5)  # the worker sees the database gone and keeps retrying
        assert proc.poll() is None, "the worker exited while the database was down"
        url_again = _start_server_elsewhere(own_server)
        with psycopg.connect(url_again, autocommit=True) as conn:
            insert_events(conn, 10)
            assert wait_until(lambda: projection_count(conn) == 20, 45)
            assert states(conn) == {"sent": 20}
    finally:
        code, _out, err = _stop(proc)
    assert code == 0, err
    assert "database unavailable" in err
