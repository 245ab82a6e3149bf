"""The console over HTTP: the login wall, CSRF, the login rate limit, actions audited as the console user."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.support.console import PASSWORD, USER, client, csrf_of, login, make_user
from tests.support.routes import STRUCTURE_ROUTE, make_live
from tests.support.worker import insert_events, once, scalar

PAGES = [
    "/",
    "/fragments/overview",
    "/routes",
    f"/routes/{STRUCTURE_ROUTE}",
    f"/fragments/routes/{STRUCTURE_ROUTE}",
    "/deliveries",
    "/deliveries?state=sent",
    "/fragments/deliveries",
    "/deliveries/1",
    "/dead-letters",
    "/fragments/dead-letters/count",
    "/gate",
    "/allowlist",
    "/ius",
    "/audit",
    "/audit?type=config",
    "/api/status",
]
ACTIONS = [
    "/gate",
    "/allowlist/add",
    "/allowlist/remove",
    f"/routes/{STRUCTURE_ROUTE}/mode",
    f"/routes/{STRUCTURE_ROUTE}/target",
    f"/routes/{STRUCTURE_ROUTE}/enable",
    f"/routes/{STRUCTURE_ROUTE}/secret",
    f"/routes/{STRUCTURE_ROUTE}/key",
    f"/routes/{STRUCTURE_ROUTE}/token",
    f"/routes/{STRUCTURE_ROUTE}/settings",
    "/routes",
    "/dead-letters/replay",
    "/dead-letters/discard",
    "/deliveries/1/resend",
    "/logout",
]


def gate_open(conn: psycopg.Connection[Any]) -> bool:
    return bool(scalar(conn, "SELECT fn_iu_delivery_gate_open()"))


def test_every_page_and_action_refuses_without_a_session(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    with client(database_url) as c:
        for path in PAGES:
            if path == "/api/status":
                continue
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/login?next="), path
            assert c.get(path, headers={"HX-Request": "true"}).status_code == 401, path
            assert c.get(path, headers={"Accept": "application/json"}).status_code == 401, path
        assert c.get("/api/status").status_code == 401
        for path in ACTIONS:
            r = c.post(path, data={"gate": "open", "route": STRUCTURE_ROUTE})
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
            assert c.post(path, headers={"HX-Request": "true"}).status_code == 401, path
        # a forged cookie is no session either
        c.cookies.set("iu_core_session", "eyJ1IjoiYWRtaW4ifQ.forged.signature")
        assert c.get("/", headers={"HX-Request": "true"}).status_code == 401
    assert not gate_open(conn)


def test_login_sets_a_strict_httponly_cookie_and_every_page_renders(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    insert_events(conn, 3)
    once(database_url)  # dry-run decisions to show
    with client(database_url) as c:
        r = login(c)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "iu_core_session" in v)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert "Max-Age=" in cookie
        delivery_id = scalar(conn, "SELECT min(delivery_id) FROM iu_delivery")
        for path in [*PAGES, f"/deliveries/{delivery_id}"]:
            if path == "/deliveries/1" and delivery_id != 1:
                continue
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
        status = c.get("/api/status").json()
        assert status["gate_open"] is False
        assert {r["route_code"] for r in status["routes"]} >= {STRUCTURE_ROUTE}
        overview = c.get("/").text
        assert 'hx-trigger="every' in overview and "<svg" in overview
        assert "workflow / event_outbox" in c.get(f"/routes/{STRUCTURE_ROUTE}").text
        timeline = c.get(f"/deliveries/{delivery_id}").text
        assert "dry-run decision" in timeline
        # security headers: no script or style from elsewhere, no framing
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_forged_or_missing_csrf_is_refused(database_url: str, conn: psycopg.Connection[Any]) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        assert c.post("/gate", data={"gate": "open"}).status_code == 403
        assert c.post("/gate", data={"gate": "open", "csrf": "x" * 43}).status_code == 403
        assert c.post("/gate", data={"gate": "open"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert not gate_open(conn)
        # another session's token is not this session's
        with client(database_url) as other:
            login(other)
            assert other.post("/gate", data={"gate": "open", "csrf": token}).status_code == 403
        assert not gate_open(conn)
        r = c.post("/gate", data={"gate": "open", "csrf": token})
        assert r.status_code == 303
        assert gate_open(conn)
        r = c.post("/gate", data={"gate": "close"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 303
        assert not gate_open(conn)


def test_wrong_password_is_refused_and_logins_are_rate_limited(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with client(database_url, login_max_failures=3, login_window_s=600) as c:
        r = login(c, password="wrong password!")
        assert r.status_code == 401 and "wrong user name or password" in r.text
        assert "iu_core_session" not in r.headers.get("set-cookie", "")
        assert login(c, name="nobody", password=PASSWORD).status_code == 401
        assert login(c, password="wrong again!").status_code == 401
        # three failures from this address: even the right password is not checked now
        r = login(c)
        assert r.status_code == 429 and "too many failed logins" in r.text
        assert int(r.headers["retry-after"]) > 0
        assert c.get("/", headers={"HX-Request": "true"}).status_code == 401
    # a login form without its token (posted from elsewhere) is refused
    with client(database_url) as c:
        r = c.post("/login", data={"username": USER, "password": PASSWORD, "login_token": "x"})
        assert r.status_code == 403


def test_actions_are_audited_as_the_console_user_and_refusals_are_one_line(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        # going live with the gate closed: refused by the service layer, nothing changed
        r = c.post(
            f"/routes/{STRUCTURE_ROUTE}/mode",
            data={
                "csrf": token,
                "mode": "live",
                "confirm": STRUCTURE_ROUTE,
                "target_kind": "sql_function",
                "target_ref": "fn_iu_structure_consumer",
            },
        )
        assert r.status_code == 303
        page = c.get(r.headers["location"]).text
        assert 'class="flash error"' in page and "cannot be live" in page
        assert scalar(conn, "SELECT dry_run FROM iu_outbound_route WHERE route_code = %s", (STRUCTURE_ROUTE,))
        # going live without typing the route's name is refused too
        c.post("/gate", data={"gate": "open", "csrf": token})
        c.post("/allowlist/add", data={"route": STRUCTURE_ROUTE, "csrf": token})
        c.post(f"/routes/{STRUCTURE_ROUTE}/mode", data={"csrf": token, "mode": "live", "confirm": "no"})
        assert scalar(conn, "SELECT dry_run FROM iu_outbound_route WHERE route_code = %s", (STRUCTURE_ROUTE,))
        r = c.post(
            f"/routes/{STRUCTURE_ROUTE}/mode",
            data={
                "csrf": token,
                "mode": "live",
                "confirm": STRUCTURE_ROUTE,
                "target_kind": "sql_function",
                "target_ref": "fn_iu_structure_consumer",
            },
        )
        assert "live" in c.get(r.headers["location"]).text
        assert not scalar(
            conn, "SELECT dry_run FROM iu_outbound_route WHERE route_code = %s", (STRUCTURE_ROUTE,)
        )
        actors = conn.execute(
            "SELECT DISTINCT actor, context FROM iu_operator_audit "
            "WHERE object_type <> 'console_user' ORDER BY 2"
        ).fetchall()
        assert {a for a, _ in actors} == {USER}
        assert {ctx for _, ctx in actors} == {"gate open", "allowlist add", "route set"}
        audit_page = c.get("/audit").text
        assert audit_page.count(f'<td class="actor">{USER}</td>') == len(
            conn.execute("SELECT 1 FROM iu_operator_audit WHERE object_type <> 'console_user'").fetchall()
        )
        assert "console user add" in audit_page  # the user itself was added by an audited change


@pytest.mark.foreign_events  # a malformed event, on purpose
def test_bulk_replay_needs_a_reason_and_names_the_console_user(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    make_live(conn)
    iu = uuid.uuid4()
    insert_events(conn, 1, [iu], payload={"event_type": "structure_op_applied", "iu_id": "nope"})
    insert_events(conn, 2, [iu])
    assert once(database_url).dead == 1
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        r = c.post("/dead-letters/replay", data={"csrf": token, "scope": "route", "route": STRUCTURE_ROUTE})
        assert "a reason is required" in c.get(r.headers["location"]).text
        assert scalar(conn, "SELECT status FROM iu_route_dead_letter") == "open"
        r = c.post(
            "/dead-letters/replay",
            data={"csrf": token, "scope": "route", "route": STRUCTURE_ROUTE, "reason": "payload looked at"},
        )
        assert "replayed 1 dead letter" in c.get(r.headers["location"]).text
    row = conn.execute("SELECT status, resolved_by, resolution_note FROM iu_route_dead_letter").fetchone()
    assert row == ("replayed", USER, "payload looked at")


def test_logout_ends_the_session_even_for_a_copied_cookie(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        copied = c.cookies.get("iu_core_session")
        assert copied
        token = csrf_of(c)
        r = c.post("/logout", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        c.cookies.set("iu_core_session", copied)
        assert c.get("/", headers={"HX-Request": "true"}).status_code == 401


@pytest.mark.slow
def test_a_session_expires(database_url: str, conn: psycopg.Connection[Any]) -> None:
    make_user(conn)
    with client(database_url, session_max_age_s=1) as c:
        login(c)
        assert c.get("/gate").status_code == 200
        time.sleep(2.2)
        assert c.get("/gate", headers={"HX-Request": "true"}).status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_to_another_site(
    database_url: str, conn: psycopg.Connection[Any], target: str
) -> None:
    make_user(conn)
    with client(database_url) as c:
        page = c.get("/login", params={"next": target})
        assert 'name="next" value="/"' in page.text
        r = login(c)
        assert r.headers["location"] == "/"


def test_removed_user_loses_access_at_once(database_url: str, conn: psycopg.Connection[Any]) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        assert c.get("/").status_code == 200
        conn.execute("DELETE FROM iu_console_user WHERE user_name = %s", (USER,))
        assert c.get("/", headers={"HX-Request": "true"}).status_code == 401


def test_an_iu_page_links_its_structure_report_and_serves_it(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.cli import invoke

    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    assert invoke(database_url, "ingest", "sample:quy_che_vi.md", "--code", "QC-VI").returncode == 0
    assert invoke(database_url, "report", "build", "--iu", "REG-EN").returncode == 0
    with client(database_url) as c:
        assert c.get("/ius/REG-EN/report", headers={"HX-Request": "true"}).status_code == 401
        login(c)
        page = c.get("/ius/REG-EN").text
        assert 'href="/ius/REG-EN/report"' in page and "structure report" in page
        report = c.get("/ius/REG-EN/report")
        assert report.status_code == 200
        assert report.text.startswith("<!DOCTYPE html>") and "REG-EN" in report.text
        assert "structure report" not in c.get("/ius/QC-VI").text
        assert c.get("/ius/QC-VI/report").status_code == 404
