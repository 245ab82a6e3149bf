"""Test harness: one real PostgreSQL per session, a migrated template, a fresh database per test.

The tests are in layers, one folder each, and every test gets its layer's
marker from its folder: ``unit`` (pure functions, no database), ``integration``
(the real PostgreSQL, in-process), ``e2e`` (the CLI and the worker as
processes, real HTTP receivers, Directus, the demo) and ``contract`` (the
suite every delivery target passes). Helpers live in ``tests/support``.

The server is the embedded one from the wheel, in a temporary data directory,
unless ``IU_CORE_TEST_DATABASE_URL`` names another server (its maintenance
database; the tests create and drop their own databases there). Durability is
switched off on the embedded test server only: tests assert behaviour, the
benchmarks measure speed on a durable server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import psycopg
import pytest
from bench.procs import die_with_parent, guard_server, release_guard
from psycopg import sql

from iu_core import migrations
from tests.support.event_schemas import outbox_problems
from tests.support.leftovers import pytest_configure, pytest_sessionfinish  # noqa: F401  (a server left running fails the run)

# No shared example database: parallel test processes (pytest-xdist) writing one
# .hypothesis directory at once corrupt each other's replays.
hypothesis.settings.register_profile("iu_core", database=None)
hypothesis.settings.load_profile("iu_core")

if TYPE_CHECKING:
    from tests.support.directus import Directus

TEMPLATE = "iu_core_test_template"


LAYERS = ("unit", "integration", "e2e", "contract")
_TESTS_DIR = Path(__file__).resolve().parent
# A unit test runs without a server: none of these may reach it.
_DATABASE_FIXTURES = {"pg_admin_url", "template_db", "database_url", "empty_database_url", "conn", "cli"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the layer its folder names (``-m unit``, ``-m "not e2e"``, ...)."""
    for item in items:
        try:
            layer = item.path.resolve().relative_to(_TESTS_DIR).parts[0]
        except ValueError:
            continue
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))
        if item.get_closest_marker("directus") is not None:
            item.add_marker(pytest.mark.slow)  # a Directus server starts once per session: ~15 s
            item.add_marker(pytest.mark.xdist_group("directus"))  # ... so on one xdist worker only
        if layer == "unit":
            wanted = set(getattr(item, "fixturenames", ())) & _DATABASE_FIXTURES
            if wanted:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {sorted(wanted)}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install Directus before the first directus test, outside any test's timeout."""
    if any(item.get_closest_marker("directus") for item in session.items):
        from tests.support.directus_install import ensure_installed

        problem = ensure_installed()
        if problem:  # the directus fixture fails each of its tests with this reason
            sys.stderr.write(f"Directus is not available: {problem}\n")


def _with_db(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def _memory_dir() -> str | None:
    """/dev/shm when it is a tmpfs with room, else the default temporary directory.

    Every test clones the template database: about 2,000 file creations, which take
    30 ms on tmpfs and 50-500 ms on a busy virtual disk. The test data need not last.
    """
    shm = Path("/dev/shm")
    try:
        room = shutil.disk_usage(shm).free
    except OSError:
        return None
    return str(shm) if room > 4 * 1024**3 and os.access(shm, os.W_OK) else None


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of the test server's maintenance database."""
    external = os.environ.get("IU_CORE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from iu_core.embedded import _wheel, stop_server

    # Not under pytest's basetemp: pytest prunes older basetemp folders when
    # another session starts, which would pull a live server's files away.
    base = Path(tempfile.mkdtemp(prefix="iu_core_pg_", dir=_memory_dir()))
    data_dir = base / "data"
    server = _wheel().get_server(data_dir, cleanup_mode=None)
    # Stops it, and deletes its files, should this process be killed before the teardown.
    guard = guard_server(data_dir, remove=base)
    url = str(server.get_uri())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("ALTER SYSTEM SET max_wal_size = '256MB'")  # in memory: keep the WAL small
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield url
    finally:
        stop_server(data_dir)
        release_guard(guard)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> str:
    """A database migrated once per session; every test clones it."""
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(_with_db(pg_admin_url, TEMPLATE), autocommit=True) as conn:
        migrations.migrate(conn)
    return TEMPLATE


def create_database(admin_url: str, template: str | None) -> tuple[str, str]:
    name = f"iu_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, _with_db(admin_url, name)


def check_events(request: pytest.FixtureRequest, url: str) -> None:
    """Fail the test when an event it left in the outbox does not match its type's schema.

    Skipped for a test marked ``foreign_events`` (it writes events IU Core
    never writes, on purpose).
    """
    if request.node.get_closest_marker("foreign_events") is not None:
        return
    with psycopg.connect(url, autocommit=True, options="-c statement_timeout=10000") as conn:
        problems = outbox_problems(conn)
    if problems:
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        shown = "\n".join(problems[:20]) + more
        pytest.fail(f"events that do not match the event catalogue (docs/events.md):\n{shown}", pytrace=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test; its events are checked against their schemas."""
    name, url = create_database(pg_admin_url, template_db)
    try:
        yield url
        check_events(request, url)
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def other_database_url(request: pytest.FixtureRequest, pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A second fresh, fully migrated database for this test (another installation)."""
    name, url = create_database(pg_admin_url, template_db)
    try:
        yield url
        check_events(request, url)
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name, url = create_database(pg_admin_url, None)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to this test's database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def run_iu_core(
    args: list[str],
    *,
    database_url: str | None,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``iu-core`` CLI in a subprocess, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    if database_url:
        full_env["IU_CORE_DATABASE_URL"] = database_url
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iu_core", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
        check=False,
        preexec_fn=die_with_parent,  # SIGTERM should the test process die while it runs
    )


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    """Run ``iu-core ARGS…`` against this test's database in a subprocess."""

    def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_iu_core(list(args), database_url=database_url, **kwargs)

    return run


@pytest.fixture(scope="session")
def directus(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> Iterator[Directus]:
    """A real Directus on 127.0.0.1 for the whole session (started on first use), its
    database on the session's PostgreSQL."""
    from tests.support.directus import running_directus

    with running_directus(tmp_path_factory.mktemp("directus"), pg_admin_url) as server:
        yield server
