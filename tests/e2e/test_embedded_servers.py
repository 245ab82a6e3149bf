"""Foundation against real servers: the shared embedded server and PostgreSQL 15."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from iu_core import migrations
from iu_core.embedded import _start_up_lock, _wheel, server_status, stop_server
from tests.conftest import run_iu_core

PG15_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.slow  # starts and stops an embedded server of its own
def test_processes_share_one_embedded_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    env = {"IU_CORE_DATA_DIR": str(data_dir)}
    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(
                pool.map(
                    lambda _: run_iu_core(["db", "migrate"], database_url=None, env=env),
                    range(3),
                )
            )
        assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
        applied = sum(r.stdout.count("applied 0") for r in results)
        assert applied == len(migrations.available())  # each migration applied by exactly one
        status = server_status(data_dir)
        assert status.running and status.pid
        shown = run_iu_core(["db", "server", "status", "--json"], database_url=None, env=env)
        assert f'"pid": {status.pid}' in shown.stdout
        verify = run_iu_core(["db", "verify"], database_url=None, env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        stopped = run_iu_core(["db", "server", "stop"], database_url=None, env=env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert not server_status(data_dir).running
    finally:
        stop_server(data_dir)


@pytest.mark.slow  # starts and stops an embedded server of its own
def test_a_data_directory_another_process_is_initialising_is_waited_for(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    env = {"IU_CORE_DATA_DIR": str(data_dir)}
    try:
        with ThreadPoolExecutor(1) as pool:
            with _start_up_lock(data_dir):
                # What another process's initdb leaves half-way: files, no PG_VERSION yet.
                (data_dir / "global").mkdir(parents=True)
                migrating = pool.submit(run_iu_core, ["db", "migrate"], database_url=None, env=env)
                time.sleep(3)
                assert not migrating.done(), migrating.result().stderr
                shutil.rmtree(data_dir)
                pid = _wheel().get_server(data_dir, cleanup_mode=None).get_pid()
            migrated = migrating.result()
        assert migrated.returncode == 0, migrated.stderr
        assert server_status(data_dir).pid == pid  # it joined the server started meanwhile
    finally:
        stop_server(data_dir)


def _pg15_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("embedded_postgres")
    except KeyError:
        return None
    return "embedded_postgres"


@pytest.fixture(scope="module")
def pg15_url() -> Iterator[str]:
    if not (PG15_BIN / "initdb").exists():
        pytest.skip("no PostgreSQL 15 installed at /usr/lib/postgresql/15 on this machine")
    user = _pg15_user()
    if os.geteuid() == 0 and user is None:
        pytest.skip("running as root without the embedded_postgres system user")
    base = Path(tempfile.mkdtemp(prefix="iu-pg15-"))
    data = base / "data"
    if user:
        shutil.chown(base, user)
    base.chmod(0o755)
    run = {"user": user} if user else {}
    subprocess.run(
        [str(PG15_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **run,  # type: ignore[arg-type]
    )
    subprocess.run(
        [
            str(PG15_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(base / "log"),
            "-o",
            f"-h '' -k {base} -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
        **run,  # type: ignore[arg-type]
    )
    try:
        yield f"postgresql://postgres@/postgres?host={base}"
    finally:
        subprocess.run(
            [str(PG15_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            **run,  # type: ignore[arg-type]
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.pg15
@pytest.mark.slow
def test_schema_migrates_cleanly_on_postgresql_15(pg15_url: str) -> None:
    with psycopg.connect(pg15_url, autocommit=True) as conn:
        assert conn.info.server_version // 10000 == 15
        applied = migrations.migrate(conn)
        assert len(applied) == len(migrations.available())
        assert migrations.migrate(conn) == []
        assert migrations.verify(conn) == []
    result = run_iu_core(["db", "verify"], database_url=pg15_url)
    assert result.returncode == 0, result.stdout + result.stderr
