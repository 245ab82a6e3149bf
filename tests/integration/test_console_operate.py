"""Operating routes from the console: add one of every kind, change its policy, set its credential,
resend one delivery (a sent one too) — each through the service layer, with CSRF, audited as the
console user, and a bad value refused on the form with nothing written."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import httpx
import psycopg

from tests.support.console import USER, client, csrf_of, login, make_user
from tests.support.routes import CONSUMER, STRUCTURE_ROUTE, make_live
from tests.support.worker import insert_events, once, scalar

Conn = psycopg.Connection[Any]
FLOW_REF = "http://127.0.0.1:9/flows/trigger/0b0b0b0b-0000-4000-8000-000000000001"

# One new route of every target kind, with a target_ref its kind accepts.
EVERY_KIND = {
    "sql_function": CONSUMER,
    "workflow": "pgqueuer:legal_review",
    "vector": "statutes",
    "report": "table",
    "external_endpoint": "http://127.0.0.1:9/hook",
    "directus_flow": FLOW_REF,
}


def _page(c: httpx.Client, path: str) -> str:
    r = c.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return html.unescape(r.text)


def _audit(conn: Conn, key: str) -> list[tuple[str, str, str, str]]:
    return conn.execute(
        "SELECT actor, object_type, action, context FROM iu_operator_audit WHERE object_key = %s"
        " ORDER BY audit_id",
        (key,),
    ).fetchall()


def _route_count(conn: Conn) -> int:
    return int(scalar(conn, "SELECT count(*) FROM iu_outbound_route"))


def test_a_route_of_every_kind_is_added_in_dry_run_and_bad_input_stays_on_the_form(
    database_url: str, conn: Conn
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        token = csrf_of(c, "/routes")
        form = 'id="add-route"'
        assert form in _page(c, "/routes")
        assert c.post("/routes", data={"route_code": "x"}).status_code == 403  # no CSRF token
        for kind, ref in EVERY_KIND.items():
            code = f"new.{kind}"
            data = {"csrf": token, "route_code": code, "event_type": "structure_op_applied"}
            r = c.post("/routes", data={**data, "target_kind": kind, "target_ref": ref})
            assert r.status_code == 303, (kind, html.unescape(r.text)[:2000])
            assert r.headers["location"] == f"/routes/{code}"
            shown = _page(c, r.headers["location"])
            assert f"route {code} added (dry-run)" in shown
            assert _audit(conn, code) == [(USER, "route", "insert", "route add")]
        count = _route_count(conn)
        refusals = {
            "already exists": {"route_code": "new.report", "target_kind": "report", "target_ref": "table"},
            "unknown event type 'made_up'": {
                "route_code": "typo",
                "event_type": "made_up",
                "target_kind": "report",
                "target_ref": "table",
            },
            "for kind external_endpoint": {
                "route_code": "badurl",
                "target_kind": "external_endpoint",
                "target_ref": "ftp://127.0.0.1/x",
            },
            "unknown target kind": {"route_code": "k", "target_kind": "carrier_pigeon", "target_ref": "x"},
            "the route's name is required": {"route_code": "", "target_kind": "report", "target_ref": "x"},
        }
        for words, fields in refusals.items():
            sent = {"csrf": token, "event_type": "structure_op_applied", **fields}
            r = c.post("/routes", data=sent)
            assert r.status_code == 400, words
            page = html.unescape(r.text)
            error = re.search(r'id="add-route-error">([^<]*)<', page)
            assert error and words in error.group(1), (words, page[-3000:])
            assert f'value="{fields["target_ref"]}"' in page  # what was typed stays in the form
        assert _route_count(conn) == count
        # an unknown event type is taken when the operator says so, as with --allow-unknown-event-type
        r = c.post(
            "/routes",
            data={
                "csrf": token,
                "route_code": "typo",
                "event_type": "made_up",
                "allow_unknown_event_type": "yes",
                "target_kind": "report",
                "target_ref": "table",
            },
        )
        assert r.status_code == 303


def test_the_policy_form_changes_what_differs_and_refuses_what_route_set_refuses(
    database_url: str, conn: Conn
) -> None:
    make_user(conn)
    route = STRUCTURE_ROUTE
    with client(database_url) as c:
        login(c)
        token = csrf_of(c, f"/routes/{route}")
        page = _page(c, f"/routes/{route}")
        assert 'id="route-settings"' in page and 'name="max_attempts"' in page
        assert 'name="timeout_s"' not in page  # an HTTP setting: not on a database route's form
        fields = dict(re.findall(r'<input name="([a-z_]+)" value="([^"]*)"', page))
        before = _audit(conn, route)
        r = c.post(f"/routes/{route}/settings", data={"csrf": token, **fields, "ordering_policy": "strict"})
        assert r.status_code == 400 and "nothing to change" in html.unescape(r.text)
        for bad, words in (
            ({"max_attempts": "101"}, "max attempts: 101 is out of range"),
            ({"max_attempts": "many"}, "max attempts: 'many' is not a whole number"),
            ({"rate_limit_per_s": "-1"}, "rate limit (per s): -1 is out of range"),
        ):
            r = c.post(
                f"/routes/{route}/settings",
                data={"csrf": token, **fields, "ordering_policy": "strict", **bad},
            )
            page = html.unescape(r.text)
            error = re.search(r'id="settings-error">([^<]*)<', page)
            assert r.status_code == 400 and error and words in error.group(1), (bad, page[-2000:])
            assert f'value="{next(iter(bad.values()))}"' in page
        assert _audit(conn, route) == before
        changed = {**fields, "max_attempts": "7", "rate_limit_per_s": "2.5", "ordering_policy": "relaxed"}
        r = c.post(f"/routes/{route}/settings", data={"csrf": token, **changed})
        assert r.status_code == 303
        assert f"route {route}: dry-run" in _page(c, r.headers["location"])
    row = conn.execute(
        "SELECT max_attempts, rate_limit_per_s, ordering_policy, base_delay_ms FROM iu_outbound_route"
        " WHERE route_code = %s",
        (route,),
    ).fetchone()
    assert row is not None and (row[0], float(row[1]), row[2]) == (7, 2.5, "relaxed")
    assert str(row[3]) == fields["base_delay_ms"]  # untouched
    assert _audit(conn, route)[len(before) :] == [(USER, "route", "update", "route set")]


def test_an_http_route_takes_networks_signature_and_its_credential_is_shown_by_fingerprint(
    database_url: str, conn: Conn
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        token = csrf_of(c, "/routes")
        for code, kind, ref in (
            ("hook", "external_endpoint", "http://127.0.0.1:9/hook"),
            ("flow", "directus_flow", FLOW_REF),
        ):
            data = {"csrf": token, "route_code": code, "event_type": "structure_op_applied"}
            assert c.post("/routes", data={**data, "target_kind": kind, "target_ref": ref}).status_code == 303
        page = _page(c, "/routes/hook")
        fields = dict(re.findall(r'<input name="([a-z_]+)" value="([^"]*)"', page))
        r = c.post(
            "/routes/hook/settings",
            data={"csrf": token, **fields, "ordering_policy": "strict", "allow_networks": "not-a-net"},
        )
        assert r.status_code == 400 and "'not-a-net' is not a network" in html.unescape(r.text)
        r = c.post(
            "/routes/hook/settings",
            data={
                "csrf": token,
                **fields,
                "ordering_policy": "strict",
                "allow_networks": "127.0.0.0/8, ::1/128",
                "timeout_s": "2.5",
                "signature": "ed25519",
            },
        )
        assert r.status_code == 303, html.unescape(r.text)[-2000:]
        page = _page(c, "/routes/hook")
        public_key = re.search(r'id="public-key">(whpk_[^<]+)<', page)
        assert public_key
        r = c.post("/routes/hook/key", data={"csrf": token, "window_hours": "0"})
        shown = _page(c, r.headers["location"])
        assert "new signing key of route hook: public key whpk_" in shown
        assert public_key.group(1) not in _page(c, "/routes/hook")
        # the flow's token: typed once, then named by its fingerprint only
        secret_token = f"tok-{uuid.uuid4().hex}"
        assert c.post("/routes/flow/token", data={"token": secret_token}).status_code == 403
        r = c.post("/routes/flow/token", data={"csrf": token, "token": "two words"})
        assert "one line of printable characters" in _page(c, r.headers["location"])
        r = c.post("/routes/flow/token", data={"csrf": token, "token": secret_token})
        after = _page(c, r.headers["location"])
        fingerprint = re.search(r"fingerprint (\S+)\)", after)
        assert fingerprint and secret_token not in after
        assert fingerprint.group(1) in _page(c, "/routes/flow")
        assert secret_token not in _page(c, "/audit")
    networks = scalar(conn, "SELECT allow_networks::text[] FROM iu_outbound_route WHERE route_code = 'hook'")
    assert networks == ["127.0.0.0/8", "::1/128"]
    assert [(a, t, x) for a, t, x, _ in _audit(conn, "flow")][-1] == (USER, "credential", "set")
    assert (USER, "credential", "rotate", "route key rotate") in _audit(conn, "hook")


def test_a_sent_delivery_is_resent_by_the_normal_path_and_audited(database_url: str, conn: Conn) -> None:
    make_user(conn)
    make_live(conn)
    (event_id,) = insert_events(conn, 1)
    assert once(database_url).sent == 1
    delivery = int(scalar(conn, "SELECT delivery_id FROM iu_delivery WHERE event_id = %s", (event_id,)))
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        assert 'id="resend"' in _page(c, f"/deliveries/{delivery}")
        r = c.post(f"/deliveries/{delivery}/resend", data={"csrf": token, "reason": "the consumer lost it"})
        assert r.headers["location"] == f"/deliveries/{delivery}"
        shown = _page(c, r.headers["location"])
        assert f"delivery {delivery} queued again on route {STRUCTURE_ROUTE} (it was sent)" in shown
        assert "makes attempt 2" in shown
        r = c.post(f"/deliveries/{delivery}/resend", data={"csrf": token, "reason": "twice"})
        assert "still on its way" in _page(c, r.headers["location"])
        assert once(database_url).sent == 1
        assert "attempt 2" in _page(c, f"/deliveries/{delivery}")
    attempts = "SELECT max(attempt_no) FROM iu_route_attempt WHERE event_ref = %s AND route_code = %s"
    assert scalar(conn, attempts, (event_id, STRUCTURE_ROUTE)) == 2
    assert scalar(conn, "SELECT state FROM iu_delivery WHERE delivery_id = %s", (delivery,)) == "sent"
    row = conn.execute(
        "SELECT actor, action, context, after FROM iu_operator_audit"
        " WHERE object_type = 'route' AND object_key = %s AND action = 'replay'",
        (STRUCTURE_ROUTE,),
    ).fetchone()
    assert row is not None and row[:3] == (USER, "replay", "deliveries resend")
    assert row[3]["delivery_id"] == delivery and row[3]["reason"] == "the consumer lost it"


def test_the_command_line_resends_one_delivery_as_the_console_does(cli: Any, conn: Conn) -> None:
    make_live(conn)
    (event_id,) = insert_events(conn, 1)
    assert cli("worker", "--once").returncode == 0
    delivery = int(scalar(conn, "SELECT delivery_id FROM iu_delivery WHERE event_id = %s", (event_id,)))
    done = cli("deliveries", "resend", str(delivery), "--reason", "the receiver lost it")
    assert done.returncode == 0, done.stderr
    assert f"delivery {delivery} queued again on route {STRUCTURE_ROUTE} (it was sent)" in done.stdout
    again = cli("deliveries", "resend", str(delivery), "--reason", "twice")
    assert again.returncode != 0 and again.stderr.startswith("error: ") and "still on its way" in again.stderr
    assert "Traceback" not in again.stderr
    missing = cli("deliveries", "resend", "999999", "--reason", "x")
    assert missing.returncode != 0 and "no delivery with id 999999" in missing.stderr
    assert cli("worker", "--once").returncode == 0
    assert scalar(conn, "SELECT state FROM iu_delivery WHERE delivery_id = %s", (delivery,)) == "sent"


def test_the_policy_form_sets_and_clears_a_route_filter_as_route_set_does(
    database_url: str, conn: Conn
) -> None:
    make_user(conn)
    route = STRUCTURE_ROUTE
    with client(database_url) as c:
        login(c)
        token = csrf_of(c, f"/routes/{route}")
        page = _page(c, f"/routes/{route}")
        fields = dict(re.findall(r'<input name="([a-z_]+)" value="([^"]*)"', page))
        assert fields["filter"] == ""  # no filter yet: every event of the type
        before = _audit(conn, route)
        r = c.post(
            f"/routes/{route}/settings",
            data={"csrf": token, **fields, "ordering_policy": "strict", "filter": "iu:LAW-* and"},
        )
        error = re.search(r'id="settings-error">([^<]*)<', html.unescape(r.text))
        assert r.status_code == 400 and error and "filter: bad filter at column" in error.group(1)
        assert _audit(conn, route) == before
        wanted = {**fields, "ordering_policy": "strict", "filter": "iu:LAW-* and not tag:draft"}
        r = c.post(f"/routes/{route}/settings", data={"csrf": token, **wanted})
        assert r.status_code == 303
        assert "iu:LAW-* and not tag:draft" in _page(c, f"/routes/{route}")
        stored = scalar(conn, "SELECT filter_source FROM iu_outbound_route WHERE route_code = %s", (route,))
        assert stored == "iu:LAW-* and not tag:draft"
        r = c.post(f"/routes/{route}/settings", data={"csrf": token, **wanted, "filter": ""})
        assert r.status_code == 303
    cleared = conn.execute(
        "SELECT filter_source, filter_tree FROM iu_outbound_route WHERE route_code = %s", (route,)
    ).fetchone()
    assert cleared == (None, None)
    assert _audit(conn, route)[len(before) :] == [(USER, "route", "update", "route set")] * 2
