"""The database defends itself: pinned search paths, no PUBLIC execute, two roles.

Each test makes a login role of its own (roles are cluster-wide) and drops it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support.routes import add_route

Conn = psycopg.Connection[Any]


@pytest.fixture
def make_role(conn: Conn, database_url: str) -> Iterator[Any]:
    made: list[str] = []

    def make(*grants: str, create_in_public: bool = False) -> str:
        name = f"iu_test_{uuid.uuid4().hex[:10]}"
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        for grant in grants:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(grant), sql.Identifier(name)))
        if create_in_public:
            conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(name)))
        made.append(name)
        return psycopg.conninfo.make_conninfo(database_url, user=name)

    yield make
    for name in made:
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_function_shadowed_in_public_never_runs_as_the_owner(conn: Conn, make_role: Any) -> None:
    """A role that may CREATE in public plants look-alikes of what the functions call."""
    mallory = make_role(create_in_public=True)
    with psycopg.connect(mallory, autocommit=True) as attacker:
        attacker.execute("CREATE TABLE public.mallory_loot (who text)")
        attacker.execute("GRANT INSERT ON public.mallory_loot TO PUBLIC")
        # A better match than pg_catalog's jsonb_build_array(VARIADIC "any") for a text argument,
        # and a text = text operator look-alike: found first if public were on the path.
        attacker.execute(
            """CREATE FUNCTION public.jsonb_build_array(text) RETURNS jsonb LANGUAGE sql AS
               $$ INSERT INTO public.mallory_loot VALUES (current_user) RETURNING '[]'::jsonb $$"""
        )
        attacker.execute(
            """CREATE FUNCTION public.coalesce_text(text) RETURNS text LANGUAGE sql AS
               $$ INSERT INTO public.mallory_loot VALUES (current_user) RETURNING $1 $$"""
        )
    add_route(conn, "hijack-probe", live=True)  # the guard trigger runs as it goes live
    with pytest.raises(psycopg.Error):  # refused for its malformed payload, after every check ran
        conn.execute("SELECT fn_iu_route_deliver('hijack-probe', gen_random_uuid(), '{}'::jsonb)")
    conn.execute("SELECT * FROM fn_iu_route_refusal_by_code('hijack-probe')")
    assert conn.execute("SELECT count(*) FROM public.mallory_loot").fetchone() == (0,)


def test_a_role_with_neither_role_can_deliver_nothing_and_open_nothing(conn: Conn, make_role: Any) -> None:
    add_route(conn, "locked")
    nobody = make_role()
    with psycopg.connect(nobody, autocommit=True) as c:
        for statement in (
            "SELECT fn_iu_route_deliver('locked', gen_random_uuid(), '{}'::jsonb)",
            "SELECT * FROM fn_iu_worker_deliver_sql_batch('locked', 10)",
            "SELECT * FROM fn_iu_route_refusal_by_code('locked')",
            "UPDATE dot_config SET value = 'true' WHERE key = 'iu_core.delivery_enabled'",
            "UPDATE iu_outbound_route SET dry_run = false",
            "INSERT INTO iu_tree_change_log (event_ref, iu_id, operation_type, delivered_by) "
            "VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 'x')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)
    assert conn.execute("SELECT value FROM dot_config WHERE key = 'iu_core.delivery_enabled'").fetchone() == (
        False,
    )


def test_the_worker_role_delivers_but_cannot_open_the_gate(conn: Conn, make_role: Any) -> None:
    add_route(conn, "w")
    worker = make_role("iu_core_worker")
    with psycopg.connect(worker, autocommit=True) as c:
        c.execute("SELECT * FROM fn_iu_worker_deliver_sql_batch('w', 10)")
        c.execute("SELECT * FROM fn_iu_route_refusal_by_code('w')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE dot_config SET value = 'true' WHERE key = 'iu_core.delivery_enabled'")


def test_the_operator_role_opens_the_gate(conn: Conn, make_role: Any) -> None:
    operator = make_role("iu_core_operator")
    with psycopg.connect(operator, autocommit=True) as c:
        c.execute("UPDATE dot_config SET value = 'true' WHERE key = 'iu_core.delivery_enabled'")
    assert conn.execute("SELECT fn_iu_delivery_gate_open()").fetchone() == (True,)
    assert conn.execute(
        "SELECT payload FROM event_outbox WHERE event_type = 'iu_gate_opened'"
    ).fetchone() == ({"schema_version": "1.0", "by": operator_name(operator)},)


def operator_name(conninfo: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(conninfo)["user"])


@pytest.mark.foreign_events  # an event with an empty payload: only its dead letter matters
def test_the_worker_role_records_a_dead_letter_and_its_event(conn: Conn, make_role: Any) -> None:
    add_route(conn, "rep", kind="report", ref="table", live=True)
    conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id) "
        "VALUES ('structure_op_applied', 'information_unit', gen_random_uuid())"
    )
    (delivery_id,) = conn.execute(
        "SELECT delivery_id FROM iu_delivery WHERE route_code = 'rep'"
    ).fetchone() or (0,)
    worker = make_role("iu_core_worker")
    with psycopg.connect(worker, autocommit=True) as c:
        c.execute(
            "SELECT * FROM fn_iu_worker_record('rep', ARRAY[%s]::bigint[], ARRAY[1], ARRAY['failed'], "
            'ARRAY[\'{"retryable": false, "reason": "refused"}\'::jsonb], ARRAY[now()], ARRAY[now()], '
            "ARRAY[NULL::uuid])",
            (delivery_id,),
        )
    assert conn.execute(
        "SELECT payload ->> 'route_code', payload ->> 'reason' FROM event_outbox "
        "WHERE event_type = 'iu_dead_lettered'"
    ).fetchall() == [("rep", "refused")]


def test_no_function_is_executable_by_public(conn: Conn) -> None:
    rows = conn.execute(
        """SELECT p.oid::regprocedure::text
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.proname LIKE 'fn\\_iu\\_%'
              AND has_function_privilege('public', p.oid, 'EXECUTE')"""
    ).fetchall()
    assert rows == []
