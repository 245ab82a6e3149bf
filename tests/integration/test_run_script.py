"""psql_script.run_script: the packaged scripts run from Python exactly as psql runs them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core.psql_script import ScriptFailed, run_script


def test_run_script_keeps_every_result_and_stops_at_the_first_error(conn: psycopg.Connection[Any]) -> None:
    run = run_script(conn, "SELECT 1 AS a; SELECT 'x' AS b, 2 AS c;", name="t")
    assert [r.columns for r in run.results] == [("a",), ("b", "c")]
    assert run.results[1].as_dicts() == [{"b": "x", "c": 2}]

    script = (
        "CREATE TABLE kept (n int); BEGIN; INSERT INTO kept VALUES (1); SELECT 7 AS seen;"
        " SELECT 1/0; INSERT INTO kept VALUES (2); COMMIT;"
    )
    with pytest.raises(ScriptFailed) as info:
        run_script(conn, script, name="div")
    assert info.value.sqlstate == "22012"
    assert [r.rows for r in info.value.partial.results] == [((7,),)]
    # The open transaction was rolled back, the connection is usable, nothing after the error ran.
    assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)


def test_run_script_needs_autocommit(database_url: str) -> None:
    with psycopg.connect(database_url) as conn, pytest.raises(ValueError, match="autocommit"):
        run_script(conn, "SELECT 1")


def test_notices_are_collected(conn: psycopg.Connection[Any]) -> None:
    run = run_script(conn, "DO $$ BEGIN RAISE NOTICE 'hello %', 1; END $$;")
    assert run.notices == ("hello 1",)
