"""An upgrade from an earlier release gives the very catalog a fresh install gives.

The first release shipped migrations 001-006 with every function inside
them (kept in tests/data/release-0.1). The previous release installed a fresh
database from the first release's tables by noun plus the deltas 007-013
(kept as one script in tests/data/release-0.2). A database made by either is
upgraded by `migrate` (its pending deltas, then every changed function file);
a fresh install is the current schema of sql/schema/ by noun, the deltas
after the fold, and the function files. The catalogs must be equal: tables,
columns, constraints, indexes, triggers, function bodies and settings, and
privileges.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import migrations

RELEASE_0_1 = Path(__file__).parents[1] / "data" / "release-0.1"
RELEASE_0_2 = Path(__file__).parents[1] / "data" / "release-0.2"

CATALOG_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
         ORDER BY 1, 2""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)
          FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2""",
    "functions": """
        SELECT p.oid::regprocedure::text, p.prosrc, p.proconfig, p.provolatile, p.proacl::text
          FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1""",
    "table_privileges": """
        SELECT c.relname, c.relacl::text FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'S') ORDER BY 1""",
    "starting_rows": """
        SELECT 'route ' || route_code || ' ' || target_kind || ' ' || target_ref || ' ' || dry_run
          FROM iu_outbound_route
        UNION ALL SELECT 'config ' || key || ' ' || value::text FROM dot_config
        UNION ALL SELECT 'consumer ' || consumer_name || ' ' || consumer::text FROM iu_internal_consumer
        ORDER BY 1""",
}


def _catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in CATALOG_QUERIES.items()}


def make_first_release_database(conn: psycopg.Connection[Any]) -> None:
    """Migrate as the first release did: each file with its ledger row, in order."""
    conn.execute(migrations.LEDGER_DDL)
    for version, (name, checksum) in migrations.FIRST_RELEASE.items():
        text = (RELEASE_0_1 / f"{version:03d}_{name}.sql").read_text(encoding="utf-8")
        with conn.transaction():
            conn.execute(text.encode("utf-8"))
            conn.execute(
                "INSERT INTO iu_schema_migration (version, name, checksum) VALUES (%s, %s, %s)",
                (version, name, checksum),
            )


def make_previous_release_database(conn: psycopg.Connection[Any]) -> None:
    """Install as the previous release did: its whole fresh install, ledger included, in one transaction."""
    with conn.transaction():
        conn.execute((RELEASE_0_2 / "install.sql").read_text(encoding="utf-8").encode("utf-8"))


def test_upgrade_from_the_first_release_equals_a_fresh_install(
    database_url: str, empty_database_url: str
) -> None:
    # database_url: a fresh install (the test template). empty: made as the first release made it.
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        make_first_release_database(conn)
        assert conn.execute("SELECT to_regclass('iu_schema_function')").fetchone() == (None,)
        assert [s.version for s in migrations.status(conn) if not s.applied] == [
            m.version for m in migrations.available()
        ]
        upgraded = migrations.migrate(conn)
        assert [m.version for m in upgraded] == [m.version for m in migrations.available()]
        assert migrations.verify(conn) == []
    fresh, upgrade = _catalog(database_url), _catalog(empty_database_url)
    for name in CATALOG_QUERIES:
        assert upgrade[name] == fresh[name], name


def test_upgrade_from_the_previous_release_equals_a_fresh_install(
    database_url: str, empty_database_url: str
) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        make_previous_release_database(conn)
        later = [m.version for m in migrations.available() if m.version > migrations.FOLDED_VERSION]
        assert [s.version for s in migrations.status(conn) if not s.applied] == later
        assert migrations.stale_functions(conn)  # this release changed some function files
        upgraded = migrations.migrate(conn)
        assert [m.version for m in upgraded] == later
        assert migrations.verify(conn) == []
    fresh, upgrade = _catalog(database_url), _catalog(empty_database_url)
    for name in CATALOG_QUERIES:
        assert upgrade[name] == fresh[name], name


def test_a_fresh_install_records_the_folded_deltas_and_applies_the_later_ones(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = migrations.Migration(
        migrations.FOLDED_VERSION + 90,
        "probe",
        "CREATE TABLE iu_probe_after_fold (route_code text REFERENCES iu_outbound_route (route_code))",
    )
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [*shipped, later])
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(migrations.LEDGER_DDL)
        script = migrations.pending_sql(conn)
        assert f"-- migrations/{later.filename}" in script
        assert "-- migrations/013_console.sql" not in script  # folded into the schema
        migrations.migrate(conn)
        ledger = conn.execute("SELECT version, checksum FROM iu_schema_migration ORDER BY version").fetchall()
        assert conn.execute("SELECT to_regclass('iu_probe_after_fold') IS NOT NULL").fetchone() == (True,)
        assert migrations.verify(conn) == []
    assert [v for v, _ in ledger] == [*migrations.FIRST_RELEASE, *(m.version for m in shipped), later.version]
    assert dict(ledger)[migrations.FOLDED_VERSION] == next(
        m.checksum for m in shipped if m.version == migrations.FOLDED_VERSION
    )


def test_a_fresh_install_is_recorded_as_the_first_release_and_verifies(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert migrations.verify(conn) == []
        versions = [s.version for s in migrations.status(conn) if s.applied and s.checksum_ok]
        assert versions[: migrations.BASELINE_VERSION] == list(range(1, migrations.BASELINE_VERSION + 1))
        conn.execute("UPDATE iu_schema_migration SET checksum = 'edited' WHERE version = 1")
        assert migrations.verify(conn) == [
            "migration 001_schema_contract differs from the one applied "
            "(edited after it was applied, or unknown to this version)"
        ]


def test_a_changed_function_file_is_applied_again(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE iu_schema_function SET checksum = 'old' WHERE name = 'route_refusal'")
        conn.execute(
            "CREATE OR REPLACE FUNCTION fn_iu_route_refusal_by_code(p_route_code text)"
            " RETURNS TABLE (reason text, sqlstate text, message text, hint text)"
            " LANGUAGE sql AS $$ SELECT NULL::text, NULL::text, NULL::text, NULL::text $$"
        )
        assert [f.name for f in migrations.stale_functions(conn)] == ["route_refusal"]
        assert migrations.verify(conn) == ["function file route_refusal.sql is not applied (new or changed)"]
        migrations.migrate(conn)
        assert migrations.stale_functions(conn) == []
        refusal = conn.execute("SELECT reason FROM fn_iu_route_refusal_by_code('nope')").fetchone()
    assert refusal == ("gate_closed",)


def test_a_second_migrate_does_nothing(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert migrations.migrate(conn) == []
        assert migrations.verify(conn) == []
