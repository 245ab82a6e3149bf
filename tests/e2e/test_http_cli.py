"""The HTTP targets' CLI: secrets, tokens, enable/disable and `deliver test`, run as a user would."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from tests.support.receivers import Receiver, Reply, add_route
from tests.support.routes import allow_live, set_gate


def _all_text_outside_credentials(conn: psycopg.Connection[Any]) -> str:
    """Every row of every table but iu_route_credential, as text (to grep for secrets)."""
    tables = conn.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'iu_route_credential'"""
    ).fetchall()
    chunks = []
    for (name,) in tables:
        rows = conn.execute(
            psycopg.sql.SQL("SELECT t::text FROM {} t").format(psycopg.sql.Identifier(name))
        ).fetchall()
        chunks.extend(r[0] for r in rows)
    return "\n".join(chunks)


@pytest.mark.slow
def test_rotate_prints_the_secret_once_and_deliver_test_signs_with_it(
    conn: psycopg.Connection[Any], cli: Any
) -> None:
    with Receiver() as rx:
        add_route(conn, "hook.cli", rx.url)
        rotated = cli("route", "secret", "rotate", "hook.cli")
        assert rotated.returncode == 0, rotated.stderr
        secret = next(line for line in rotated.stdout.splitlines() if line.startswith("whsec_"))
        again = cli("route", "secret", "rotate", "hook.cli", "--window-hours", "2")
        second = {"secret": next(line for line in again.stdout.splitlines() if line.startswith("whsec_"))}
        assert "the previous secret keeps signing until" in again.stdout

        shown = cli("route", "secret", "show-fingerprint", "hook.cli")
        shown_json = cli("route", "secret", "show-fingerprint", "hook.cli", "--json")
        sent = cli("deliver", "test", "hook.cli")
        sent_json = cli("deliver", "test", "hook.cli", "--json")

    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.startswith("sent: HTTP 200")
    outcome = json.loads(sent_json.stdout)
    assert outcome["status"] == "sent" and outcome["detail"]["http_status"] == 200
    # The receiver verifies with either secret during the window: two signatures.
    for seen in rx.seen:
        assert len(seen.headers["webhook-signature"].split(" ")) == 2
        Webhook(secret).verify(seen.body, seen.headers)
        body = Webhook(second["secret"]).verify(seen.body, seen.headers)
        assert body["type"] == "iu_core.test" and body["data"]["route_code"] == "hook.cli"
    fingerprints = json.loads(shown_json.stdout)["secrets"]
    assert [f["current"] for f in fingerprints] == [True, False]
    assert fingerprints[0]["fingerprint"] in shown.stdout and "previous, signs until" in shown.stdout
    # The secrets appear nowhere else: not in other commands' output, not in any other table.
    elsewhere = shown.stdout + shown.stderr + shown_json.stdout + sent.stdout + sent_json.stdout
    elsewhere += rotated.stderr + again.stderr + _all_text_outside_credentials(conn)
    for s in (secret, second["secret"]):
        assert s not in elsewhere and s.removeprefix("whsec_") not in elsewhere
    assert rotated.stdout.count(secret) == 1


@pytest.mark.slow
def test_deliver_test_refuses_a_route_that_may_not_deliver(conn: psycopg.Connection[Any], cli: Any) -> None:
    with Receiver() as rx:
        add_route(conn, "hook.dry", rx.url, live=False)
        cli("route", "secret", "rotate", "hook.dry")
        closed = cli("deliver", "test", "hook.dry")
        allow_live(conn)
        dry = cli("deliver", "test", "hook.dry")
        unknown = cli("deliver", "test", "nope")
        add_route(conn, "internal", "fn_iu_structure_consumer", kind="sql_function", live=False)
        internal = cli("deliver", "test", "internal")
    assert closed.returncode == 1 and "the delivery gate is closed" in closed.stderr
    assert dry.returncode == 1 and "not on the live allowlist" in dry.stderr
    assert unknown.returncode == 1 and "unknown route nope" in unknown.stderr
    assert internal.returncode == 1 and "external_endpoint and directus_flow" in internal.stderr
    for done in (closed, dry, unknown, internal):
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert rx.connections == 0


def test_deliver_test_reports_a_failure_with_exit_1(conn: psycopg.Connection[Any], cli: Any) -> None:
    with Receiver(Reply(400, body=b"bad event")) as rx:
        add_route(conn, "hook.bad", rx.url)
        cli("route", "secret", "rotate", "hook.bad")
        done = cli("deliver", "test", "hook.bad")
    assert done.returncode == 1
    assert "failed (permanent): HTTP 400" in done.stdout and "bad event" in done.stdout


@pytest.mark.slow
def test_enable_disable(conn: psycopg.Connection[Any], cli: Any) -> None:
    add_route(conn, "hook.x", "http://127.0.0.1:9/hook")
    off = cli("route", "disable", "hook.x", "--reason", "receiver migrating", "--json")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["enabled"] is False
    assert conn.execute(
        "SELECT enabled, disabled_reason FROM iu_outbound_route WHERE route_code = 'hook.x'"
    ).fetchone() == (
        False,
        "receiver migrating",
    )
    refused = cli("deliver", "test", "hook.x")
    assert refused.returncode == 1 and "route 'hook.x' is disabled (receiver migrating)" in refused.stderr
    on = cli("route", "enable", "hook.x")
    assert on.returncode == 0 and "route hook.x enabled" in on.stdout
    assert conn.execute(
        "SELECT enabled, disabled_reason, dry_run FROM iu_outbound_route WHERE route_code = 'hook.x'"
    ).fetchone() == (
        True,
        None,
        False,
    )
    # A live route while the gate is closed: the guard refuses any update of it,
    # so disabling also puts it back into dry-run (fail-closed), and says so.
    set_gate(conn, False)
    forced = cli("route", "disable", "hook.x")
    assert forced.returncode == 0, forced.stderr
    assert "now dry-run too" in forced.stdout
    assert conn.execute(
        "SELECT enabled, dry_run FROM iu_outbound_route WHERE route_code = 'hook.x'"
    ).fetchone() == (
        False,
        True,
    )
    audit = conn.execute(
        "SELECT context FROM iu_operator_audit"
        " WHERE object_key = 'hook.x' AND action = 'update' ORDER BY audit_id"
    ).fetchall()
    assert [a[0] for a in audit] == ["route disable", "route enable", "route disable"]
    missing = cli("route", "enable", "nope")
    assert missing.returncode == 1 and "no such route: nope" in missing.stderr


@pytest.mark.slow
def test_token_set_reads_stdin_or_env_never_argv(conn: psycopg.Connection[Any], cli: Any) -> None:
    add_route(
        conn,
        "flow.x",
        "http://127.0.0.1:9/flows/trigger/00000000-0000-4000-8000-000000000000",
        kind="directus_flow",
    )
    add_route(conn, "hook.y", "http://127.0.0.1:9/hook")
    by_stdin = cli("route", "token", "set", "flow.x", input="tok-from-stdin\n")
    assert by_stdin.returncode == 0, by_stdin.stderr
    by_env = cli("route", "token", "set", "flow.x", "--json", env={"IU_CORE_ROUTE_TOKEN": "tok-from-env"})
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["fingerprint"].startswith("sha256:")
    empty = cli("route", "token", "set", "flow.x", input="")
    wrong_kind = cli("route", "token", "set", "hook.y", input="tok")
    argv = cli("route", "token", "set", "flow.x", "tok-in-argv")
    assert empty.returncode == 1 and "no token given" in empty.stderr
    assert wrong_kind.returncode == 1 and "route secret rotate" in wrong_kind.stderr
    assert argv.returncode == 2  # no such argument: a token never goes on the command line
    rows = conn.execute(
        "SELECT secret, superseded_at IS NULL FROM iu_route_credential"
        " WHERE route_code = 'flow.x' ORDER BY credential_id"
    ).fetchall()
    assert rows == [("tok-from-env", True)]  # the replaced token is gone, not kept
    text = by_stdin.stdout + by_stdin.stderr + by_env.stdout + _all_text_outside_credentials(conn)
    assert "tok-from-stdin" not in text and "tok-from-env" not in text
    rotate_flow = cli("route", "secret", "rotate", "flow.x")
    assert rotate_flow.returncode == 1 and "route token set" in rotate_flow.stderr
