"""One audit of every change: each mutating command leaves its row, with the actor who ran it.

The table below classifies EVERY command of ``iu-core``: a new command fails
``test_every_command_is_classified`` until it is put in one of the three
tables, so nothing that changes routes, credentials, the gate, the
allowlist, dead letters or retention can be added without its audit row.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click
import psycopg
import pytest

from iu_core.cli import cli as iu_core_cli
from iu_core.ops import audit_notes as audit_ops

Runner = Callable[..., subprocess.CompletedProcess[str]]
Conn = psycopg.Connection[Any]

ROUTE = "structure_op_applied.workflow"
HOOK = "hook"
FLOW = "flow"
FLOW_REF = "http://127.0.0.1:9/flows/trigger/0b0b0b0b-0000-4000-8000-000000000001"


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def _dead_letter(cli: Runner, conn: Conn) -> None:
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts)"
        " VALUES (%s, gen_random_uuid(), 'boom', 5), (%s, gen_random_uuid(), 'boom', 5)",
        (ROUTE, ROUTE),
    )


def _hook(cli: Runner, conn: Conn) -> None:
    _ok(
        cli(
            "route",
            "add",
            HOOK,
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "external_endpoint",
            "--target-ref",
            "http://127.0.0.1:9/hook",
        )
    )


def _flow(cli: Runner, conn: Conn) -> None:
    _ok(
        cli(
            "route",
            "add",
            FLOW,
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "directus_flow",
            "--target-ref",
            FLOW_REF,
        )
    )


def _run(*args: str) -> Callable[[Runner, Conn], None]:
    def setup(cli: Runner, conn: Conn) -> None:
        _ok(cli(*args))

    return setup


def _seeded_route(cli: Runner, conn: Conn) -> None:
    _ok(cli("samples", "seed"))
    _ok(
        cli(
            "route",
            "add",
            "late",
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "report",
            "--target-ref",
            "table",
        )
    )


def _tagged(cli: Runner, conn: Conn) -> None:
    _ok(cli("samples", "seed"))
    _ok(cli("units", "tag", "REG-EN", "labour"))


PASSWORD = "correct horse battery staple"


def _console_user(cli: Runner, conn: Conn) -> None:
    _ok(cli("console", "user", "add", "ann", "--password-stdin", input=f"{PASSWORD}\n"))


@dataclass(frozen=True)
class Audited:
    """A command that changes what the operator audit covers, and the one row it must leave."""

    args: tuple[str, ...]
    object_type: str
    object_key: str
    action: str
    setup: Callable[[Runner, Conn], None] | None = None
    env: tuple[tuple[str, str], ...] = ()
    input: str | None = None


AUDITED: dict[str, Audited] = {
    "gate open": Audited(("gate", "open"), "config", "iu_core.delivery_enabled", "update"),
    "gate close": Audited(
        ("gate", "close"), "config", "iu_core.delivery_enabled", "update", _run("gate", "open")
    ),
    "allowlist add": Audited(("allowlist", "add", ROUTE), "config", "iu_core.delivery_live_routes", "update"),
    "allowlist remove": Audited(
        ("allowlist", "remove", ROUTE),
        "config",
        "iu_core.delivery_live_routes",
        "update",
        _run("allowlist", "add", ROUTE),
    ),
    "route add": Audited(
        (
            "route",
            "add",
            "new",
            "--event-type",
            "structure_op_applied",
            "--target-kind",
            "report",
            "--target-ref",
            "table",
        ),
        "route",
        "new",
        "insert",
    ),
    "route remove": Audited(("route", "remove", ROUTE), "route", ROUTE, "delete"),
    "deliveries resend": Audited(
        ("deliveries", "resend", "1", "--reason", "lost downstream"),
        "route",
        ROUTE,
        "replay",
        lambda cli, conn: _sent_delivery(cli, conn),
    ),
    "route set": Audited(("route", "set", ROUTE, "--max-attempts", "3"), "route", ROUTE, "update"),
    "route disable": Audited(
        ("route", "disable", ROUTE, "--reason", "maintenance"), "route", ROUTE, "update"
    ),
    "route enable": Audited(
        ("route", "enable", ROUTE),
        "route",
        ROUTE,
        "update",
        _run("route", "disable", ROUTE, "--reason", "maintenance"),
    ),
    "route backfill": Audited(("route", "backfill", "late"), "route", "late", "backfill", _seeded_route),
    "route secret rotate": Audited(("route", "secret", "rotate", HOOK), "credential", HOOK, "rotate", _hook),
    "route key rotate": Audited(("route", "key", "rotate", HOOK), "credential", HOOK, "rotate", _hook),
    "route token set": Audited(
        ("route", "token", "set", FLOW),
        "credential",
        FLOW,
        "set",
        _flow,
        (("IU_CORE_ROUTE_TOKEN", "tok-SECRET-123"),),
    ),
    "console user add": Audited(
        ("console", "user", "add", "ann", "--password-stdin"),
        "console_user",
        "ann",
        "insert",
        input=f"{PASSWORD}\n",
    ),
    "console user passwd": Audited(
        ("console", "user", "passwd", "ann", "--password-stdin"),
        "console_user",
        "ann",
        "update",
        _console_user,
        input=f"{PASSWORD}-2\n",
    ),
    "console user remove": Audited(
        ("console", "user", "remove", "ann"), "console_user", "ann", "delete", _console_user
    ),
    "units tag": Audited(
        ("units", "tag", "REG-EN", "labour"), "unit", "REG-EN", "insert", _run("samples", "seed")
    ),
    "units untag": Audited(
        ("units", "untag", "REG-EN", "labour"),
        "unit",
        "REG-EN",
        "delete",
        _tagged,
    ),
    "dead-letters replay": Audited(
        ("dead-letters", "replay", "--route", ROUTE, "--reason", "receiver fixed"),
        "dead_letter",
        ROUTE,
        "replay",
        _dead_letter,
    ),
    "dead-letters discard": Audited(
        ("dead-letters", "discard", "--all", "--reason", "obsolete event"),
        "dead_letter",
        ROUTE,
        "discard",
        _dead_letter,
    ),
}

# Commands that change something outside what the operator audit covers, and where that change is recorded.
RECORDED_ELSEWHERE: dict[str, str] = {
    "db migrate": "schema: the ledgers iu_schema_migration / iu_schema_function",
    "db server stop": "stops the embedded server; changes no data",
    "demo": "works in a database of its own (iu_core_demo)",
    "deliver test": "one test delivery: its attempt row (iu_route_attempt)",
    "ingest": "documents: the structure journal (iu_structure_operation.actor)",
    "samples seed": "documents: the structure journal (iu_structure_operation.actor)",
    "op deprecate": "the structure journal (iu_structure_operation.actor)",
    "op merge": "the structure journal (iu_structure_operation.actor)",
    "op move": "the structure journal (iu_structure_operation.actor)",
    "op rename": "the structure journal (iu_structure_operation.actor)",
    "op restore": "the structure journal (iu_structure_operation.actor)",
    "op split": "the structure journal (iu_structure_operation.actor)",
    "relate": "links between units: the event iu_relation_added in the outbox",
    "projection rebuild": "the projection is derived data: rebuilt from the outbox",
    "prune": "finished history only: the run is recorded in iu_retention_horizon",
    "report build": "derived data: reports rebuilt from the structure journal",
    "runtime rollback": "changes routes/gate/allowlist through the audit triggers, with the macro's actor",
    "runtime run": "changes routes/gate/allowlist through the audit triggers, with the macro's actor",
    "vector install": "installs the vector table (schema)",
    "vector reindex": "derived data: embeddings rebuilt from the pieces",
    "worker": "deliveries: attempt rows; its automatic disables are audited (test below)",
    "workflow install": "installs pgqueuer's schema with pgqueuer's installer",
}

READ_ONLY = {
    "allowlist show",
    "audit",
    "citations",
    "cited-by",
    "export",  # writes a file the user names (or stdout), never the database
    "show",
    "console user list",
    "db server status",
    "db sql",
    "db status",
    "db verify",
    "dead-letters list",
    "deliveries list",
    "deliveries show",
    "events list",
    "events schema",
    "gate show",
    "op list",
    "probe",
    "relations",
    "report list",
    "report show",
    "route key public",
    "route list",
    "route secret show-fingerprint",
    "route show",
    "runtime show",
    "samples list",
    "search",
    "status",
    "tree",
    "units list",
    "units tags",
    "vector status",
    "workflow status",
}


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def test_every_command_is_classified() -> None:
    commands = set(_leaves(iu_core_cli))
    tables = (set(AUDITED), set(RECORDED_ELSEWHERE), READ_ONLY)
    unclassified = commands - set().union(*tables)
    assert not unclassified, f"classify these commands in {__name__}: {sorted(unclassified)}"
    assert not set().union(*tables) - commands, "the tables name commands that no longer exist"
    assert not (tables[0] & tables[1] or tables[0] & tables[2] or tables[1] & tables[2])


def _new_rows(conn: Conn, after_id: int) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT * FROM iu_operator_audit WHERE audit_id > %s ORDER BY audit_id", (after_id,)
        ).fetchall()


def _last_id(conn: Conn) -> int:
    row = conn.execute("SELECT coalesce(max(audit_id), 0) FROM iu_operator_audit").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("name", sorted(AUDITED))
@pytest.mark.parametrize("how", ["--actor", "IU_CORE_ACTOR"])
def test_each_mutating_command_leaves_one_row_with_its_actor(
    cli: Runner, conn: Conn, name: str, how: str
) -> None:
    case = AUDITED[name]
    if case.setup is not None:
        case.setup(cli, conn)
    before = _last_id(conn)
    env = dict(case.env)
    if how == "--actor":
        result = cli("--actor", "olga", *case.args, env=env, input=case.input)
    else:
        result = cli(*case.args, env={**env, "IU_CORE_ACTOR": "olga"}, input=case.input)
    _ok(result)
    rows = _new_rows(conn, before)
    assert [(r["object_type"], r["object_key"], r["action"], r["actor"]) for r in rows] == [
        (case.object_type, case.object_key, case.action, "olga")
    ], rows
    assert rows[0]["context"] == name
    shown = json.loads(cli("audit", "--json", "--limit", "1").stdout)
    assert shown[0]["audit_id"] == rows[0]["audit_id"] and shown[0]["actor"] == "olga"


def test_credentials_are_audited_by_fingerprint_never_the_secret(cli: Runner, conn: Conn) -> None:
    _hook(cli, conn)
    _flow(cli, conn)
    first = json.loads(cli("route", "secret", "rotate", HOOK, "--json").stdout)
    second = json.loads(cli("route", "secret", "rotate", HOOK, "--json").stdout)
    _ok(cli("route", "token", "set", FLOW, env={"IU_CORE_ROUTE_TOKEN": "tok-SECRET-123"}))
    secrets = [s for (s,) in conn.execute("SELECT secret FROM iu_route_credential")]
    # --json never prints a secret (machine output ends up in logs); the human output shows it once.
    assert "secret" not in first and first["secret_shown"] is False
    human = cli("route", "secret", "rotate", HOOK).stdout
    (shown,) = [line for line in human.splitlines() if line.startswith("whsec_")]
    assert human.count(shown) == 1
    assert conn.execute(
        "SELECT secret FROM iu_route_credential WHERE route_code = %s AND superseded_at IS NULL", (HOOK,)
    ).fetchone() == (shown,)
    rows = _new_rows(conn, 0)
    text = json.dumps([r["before"] for r in rows] + [r["after"] for r in rows])
    assert secrets and not any(s in text for s in secrets)
    rotations = [r for r in _new_rows(conn, 0) if r["action"] == "rotate"]
    assert rotations[0]["before"]["fingerprint"] is None
    assert rotations[0]["after"]["fingerprint"] == first["fingerprint"]
    assert rotations[1]["before"]["fingerprint"] == first["fingerprint"]
    assert rotations[1]["after"]["fingerprint"] == second["fingerprint"]
    assert rotations[1]["after"]["previous_valid_until"] is not None


def test_dead_letter_rows_carry_the_reason_and_the_count(cli: Runner, conn: Conn) -> None:
    _dead_letter(cli, conn)
    _ok(cli("--actor", "pat", "dead-letters", "replay", "--all", "--reason", "receiver fixed"))
    (row,) = _new_rows(conn, 0)
    assert row["after"]["count"] == 2 and row["after"]["reason"] == "receiver fixed"
    assert row["after"]["resolved_by"] == "pat" and row["after"]["routes"] == [ROUTE]
    # Nothing matched: nothing changed, no row.
    _ok(cli("dead-letters", "discard", "--all", "--reason", "again"))
    assert len(_new_rows(conn, 0)) == 1


def test_retention_changed_from_psql_is_audited(conn: Conn) -> None:
    conn.execute("SELECT set_config('application_name', 'psql', false)")
    conn.execute(
        "UPDATE iu_retention_setting SET keep_for = interval '90 days' WHERE table_name = 'iu_route_attempt'"
    )
    (row,) = _new_rows(conn, 0)
    assert (row["object_type"], row["object_key"], row["action"]) == (
        "retention",
        "iu_route_attempt",
        "update",
    )
    assert row["actor"] == conn.execute("SELECT session_user").fetchone()[0]  # type: ignore[index]
    assert row["after"]["keep_for"] == "90 days" or row["after"]["keep_for"].startswith("90 days")


def test_automatic_disables_by_the_worker_name_the_worker(conn: Conn) -> None:
    """The worker's connections name themselves; its HTTP 410 disable sets no actor of its own."""
    conn.execute("SET application_name = 'iu-core worker'")
    conn.execute(
        "UPDATE iu_outbound_route SET enabled = false, disabled_reason = 'HTTP 410' WHERE route_code = %s",
        (ROUTE,),
    )
    (row,) = _new_rows(conn, 0)
    assert row["actor"] == "iu-core worker" and row["after"]["enabled"] is False


def test_the_audit_names_mirror_the_checks(conn: Conn) -> None:
    checks = dict(
        conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'iu_operator_audit'::regclass AND contype = 'c'"
        ).fetchall()
    )
    for names, column in ((audit_ops.OBJECT_TYPES, "object_type"), (audit_ops.ACTIONS, "action")):
        definition = checks[f"iu_operator_audit_{column}_check"]
        assert sorted(names) == sorted(
            part.split("'")[1] for part in definition.split("ARRAY[")[1].split(",")
        )


def test_console_replay_and_discard_are_audited_as_the_console_user(database_url: str, conn: Conn) -> None:
    from tests.support.console import USER, client, csrf_of, login, make_user

    make_user(conn)
    _dead_letter(None, conn)  # type: ignore[arg-type]
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        ids = [str(i) for (i,) in conn.execute("SELECT dead_letter_id FROM iu_route_dead_letter ORDER BY 1")]
        c.post(
            "/dead-letters/replay", data={"csrf": token, "scope": "selected", "id": ids[0], "reason": "fixed"}
        )
        c.post("/dead-letters/discard", data={"csrf": token, "scope": "all", "reason": "obsolete"})
        page = c.get("/audit").text
    rows = [r for r in _new_rows(conn, 0) if r["object_type"] == "dead_letter"]
    assert [
        (r["actor"], r["object_type"], r["action"], r["after"]["count"], r["after"]["reason"]) for r in rows
    ] == [
        (USER, "dead_letter", "replay", 1, "fixed"),
        (USER, "dead_letter", "discard", 1, "obsolete"),
    ]
    assert page.count(f'<td class="actor">{USER}</td>') == 2


@dataclass(frozen=True)
class ConsoleAudited:
    """A console action (a POST), the form it is sent, and the one audit row it must leave."""

    path: str  # the URL table's path; {code} and {delivery_id} are filled in below
    data: tuple[tuple[str, str], ...]
    object_type: str
    object_key: str
    action: str
    context: str
    setup: Callable[[Runner, Conn], None] | None = None


def _sent_delivery(cli: Runner, conn: Conn) -> None:
    from tests.support.routes import make_live
    from tests.support.worker import insert_events

    make_live(conn)
    insert_events(conn, 1)
    _ok(cli("worker", "--once"))


def _disabled(cli: Runner, conn: Conn) -> None:
    _ok(cli("route", "disable", ROUTE))


# EVERY action of the console (a test reads the URL table): what each changes leaves its audit row,
# with the console user as the actor.
CONSOLE_AUDITED: dict[str, ConsoleAudited] = {
    "/gate": ConsoleAudited(
        "/gate", (("gate", "open"),), "config", "iu_core.delivery_enabled", "update", "gate open"
    ),
    "/allowlist/add": ConsoleAudited(
        "/allowlist/add", (("route", ROUTE),), "config", "iu_core.delivery_live_routes", "update",
        "allowlist add",
    ),
    "/allowlist/remove": ConsoleAudited(
        "/allowlist/remove", (("route", ROUTE),), "config", "iu_core.delivery_live_routes", "update",
        "allowlist remove", _run("allowlist", "add", ROUTE),
    ),
    "/routes": ConsoleAudited(
        "/routes",
        (("route_code", "new"), ("event_type", "structure_op_applied"), ("target_kind", "report"),
         ("target_ref", "table")),
        "route", "new", "insert", "route add",
    ),
    "/routes/{code}/mode": ConsoleAudited(
        f"/routes/{ROUTE}/mode", (("mode", "dry-run"),), "route", ROUTE, "update", "route set"
    ),
    "/routes/{code}/target": ConsoleAudited(
        f"/routes/{ROUTE}/target", (("target_kind", "report"), ("target_ref", "table")), "route", ROUTE,
        "update", "route set",
    ),
    "/routes/{code}/settings": ConsoleAudited(
        f"/routes/{ROUTE}/settings", (("max_attempts", "9"),), "route", ROUTE, "update", "route set"
    ),
    "/routes/{code}/enable": ConsoleAudited(
        f"/routes/{ROUTE}/enable", (("confirm", ROUTE),), "route", ROUTE, "update", "route enable", _disabled
    ),
    "/routes/{code}/secret": ConsoleAudited(
        f"/routes/{HOOK}/secret", (("window_hours", "1"),), "credential", HOOK, "rotate",
        "route secret rotate", _hook,
    ),
    "/routes/{code}/key": ConsoleAudited(
        f"/routes/{HOOK}/key", (("window_hours", "1"),), "credential", HOOK, "rotate", "route key rotate",
        _hook,
    ),
    "/routes/{code}/token": ConsoleAudited(
        f"/routes/{FLOW}/token", (("token", "tok-123"),), "credential", FLOW, "set", "route token set", _flow
    ),
    "/deliveries/{delivery_id}/resend": ConsoleAudited(
        "/deliveries/{delivery_id}/resend", (("reason", "lost downstream"),), "route", ROUTE, "replay",
        "deliveries resend", _sent_delivery,
    ),
    "/dead-letters/replay": ConsoleAudited(
        "/dead-letters/replay", (("scope", "route"), ("route", ROUTE), ("reason", "fixed")), "dead_letter",
        ROUTE, "replay", "dead-letters replay", _dead_letter,
    ),
    "/dead-letters/discard": ConsoleAudited(
        "/dead-letters/discard", (("scope", "all"), ("reason", "obsolete")), "dead_letter", ROUTE,
        "discard", "dead-letters discard", _dead_letter,
    ),
}  # fmt: skip
# Console actions that change nothing the operator audit covers.
CONSOLE_NOT_AUDITED = {
    "/login": "starts a session",
    "/logout": "ends the user's sessions (their epoch), no operator change",
}


def test_every_console_action_is_classified(database_url: str) -> None:
    from starlette.routing import Route

    from iu_core.console import routes
    from iu_core.console.app import Console, ConsoleConfig

    posts = {
        r.path for r in routes.table(Console(ConsoleConfig(database_url))) if isinstance(r, Route)
        if "POST" in (r.methods or ())
    }  # fmt: skip
    assert posts == set(CONSOLE_AUDITED) | set(CONSOLE_NOT_AUDITED)


@pytest.mark.parametrize("name", sorted(CONSOLE_AUDITED))
def test_each_console_action_leaves_one_row_with_the_console_user(
    cli: Runner, conn: Conn, database_url: str, name: str
) -> None:
    from tests.support.console import USER, client, csrf_of, login, make_user

    case = CONSOLE_AUDITED[name]
    make_user(conn)
    if case.setup is not None:
        case.setup(cli, conn)
    path = case.path
    if "{delivery_id}" in path:
        row = conn.execute("SELECT max(delivery_id) FROM iu_delivery WHERE state = 'sent'").fetchone()
        assert row is not None and row[0] is not None
        path = path.format(delivery_id=row[0])
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        before = _last_id(conn)
        r = c.post(path, data={"csrf": token, **dict(case.data)})
        assert r.status_code in (200, 303), (path, r.status_code, r.text[:500])
        assert "iu_core_flash=%21" not in r.headers.get("set-cookie", ""), r.headers["set-cookie"]  # no error
    rows = _new_rows(conn, before)
    assert [(r["object_type"], r["object_key"], r["action"], r["actor"], r["context"]) for r in rows] == [
        (case.object_type, case.object_key, case.action, USER, case.context)
    ], rows
