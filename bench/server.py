"""One dedicated, durable embedded PostgreSQL for a whole benchmark run.

The server lives in a temporary data directory, is started with
``iu_core.embedded.ensure_server`` and stopped with ``stop_server`` at the end
(or, when the benchmark dies first, by its guard: ``procs.guard_server``).
Durability stays ON (fsync, synchronous_commit, full_page_writes): a delivery
system is measured as it would run. Every measurement gets a fresh database
cloned from a template migrated once per run, so repetitions do not see each
other's rows, dead tuples or caches of table bloat.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import procs
from iu_core import migrations
from iu_core.embedded import ensure_server, stop_server

TEMPLATE = "iu_bench_template"

# Settings recorded in the results (and asserted for durability).
REPORTED_SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "max_connections",
    "autovacuum",
    "jit",
)
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def with_db(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@dataclass
class BenchServer:
    data_dir: Path
    admin_url: str
    settings: dict[str, str] = field(default_factory=dict)
    _owned_tmp: Path | None = None
    _data_templates: dict[int, str] = field(default_factory=dict)
    _guard: subprocess.Popen[bytes] | None = None

    def fresh_database(self, template: str = TEMPLATE) -> tuple[str, str]:
        """A new database cloned from TEMPLATE (default: freshly migrated, empty): (name, url).

        FILE_COPY copies the template's files after a checkpoint: a clone of a
        template that holds N events costs about a second instead of
        regenerating them, and starts with clean buffers (nothing dirty left
        over from the previous measurement).
        """
        name = f"iu_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return name, with_db(self.admin_url, name)

    def data_template(self, n: int) -> str:
        """A template database with N generated events and their (dry-run) deliveries; once per run."""
        if n in self._data_templates:
            return self._data_templates[n]
        from bench import events  # late: events imports nothing from here, but keep layers one-way

        name = f"iu_bench_data_{n}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE)
                )
            )
        with psycopg.connect(with_db(self.admin_url, name), autocommit=True) as conn:
            events.generate(conn, n)
            events.analyze(conn)
        self._data_templates[n] = name
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    @contextmanager
    def database(self, template: str = TEMPLATE) -> Iterator[str]:
        name, url = self.fresh_database(template)
        try:
            yield url
        finally:
            self.drop_database(name)

    def checkpoint(self) -> None:
        """Flush dirty buffers between measurements so one does not pay for the previous one."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def _read_settings(conn: psycopg.Connection[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in REPORTED_SETTINGS:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        out[name] = str(row[0]) if row else ""
    return out


def start(data_dir: Path | None = None) -> BenchServer:
    """Start a dedicated server (in a new temporary directory unless one is given)."""
    owned: Path | None = None
    if data_dir is None:
        owned = Path(tempfile.mkdtemp(prefix="iu-bench-pg-"))
        data_dir = owned / "data"
    admin_url = ensure_server(data_dir, database="postgres")
    guard = procs.guard_server(data_dir)  # stops the server if this process dies first
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for key, value in DURABLE.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(key), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")
        settings = _read_settings(conn)
        for key, value in DURABLE.items():
            if settings.get(key) != value:
                raise RuntimeError(f"benchmark server is not durable: {key} = {settings.get(key)}")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(with_db(admin_url, TEMPLATE), autocommit=True) as conn:
        migrations.migrate(conn)
    return BenchServer(
        data_dir=data_dir, admin_url=admin_url, settings=settings, _owned_tmp=owned, _guard=guard
    )


def stop(server: BenchServer) -> None:
    stop_server(server.data_dir)
    if server._guard is not None:
        procs.release_guard(server._guard)
    if server._owned_tmp is not None:
        shutil.rmtree(server._owned_tmp, ignore_errors=True)
