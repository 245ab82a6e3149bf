"""The console against hostile input: forged proxy headers, login floods, NUL bytes, open redirects, CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import httpx
import psycopg
import pytest

from iu_core.console import ConsoleConfig, create_app
from tests.support.cli import invoke
from tests.support.console import (
    PASSWORD,
    SECRET,
    USER,
    client,
    console_process,
    csrf_of,
    login,
    make_user,
    served,
)
from tests.support.routes import STRUCTURE_ROUTE
from tests.support.worker import insert_events, once


def failed_logins(c: httpx.Client, n: int, *, forwarded: list[str] | None = None) -> list[int]:
    """``n`` wrong passwords, each under another user name (so only the address can limit them)."""
    codes = []
    for i in range(n):
        headers = {"X-Forwarded-For": forwarded[i]} if forwarded else {}
        page = c.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token, page.text
        r = c.post(
            "/login",
            data={"username": f"guess{i}", "password": "wrong!", "login_token": token.group(1)},
            headers=headers,
        )
        codes.append(r.status_code)
    return codes


@pytest.mark.slow
def test_a_forged_forwarded_for_does_not_escape_the_login_limit(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    # the real `iu-core console` as served by uvicorn (whose default trusts the header from loopback)
    make_user(conn)
    spoofed = [f"203.0.113.{i}" for i in range(7)]
    with console_process(database_url) as base, httpx.Client(base_url=base, timeout=30) as c:
        codes = failed_logins(c, 7, forwarded=spoofed)
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes


@pytest.mark.slow
def test_a_trusted_proxy_names_the_client(database_url: str, conn: psycopg.Connection[Any]) -> None:
    make_user(conn)
    args = ["--trusted-proxy", "127.0.0.1"]
    with console_process(database_url, args=args) as base, httpx.Client(base_url=base, timeout=30) as c:
        # seven clients behind the proxy, one failure each: none is limited
        assert failed_logins(c, 7, forwarded=[f"203.0.113.{i}" for i in range(7)]) == [401] * 7
        # one client, whatever it writes to the left of what the proxy appended
        one = [f"198.51.100.{i}, 192.0.2.9" for i in range(7)]
        assert failed_logins(c, 7, forwarded=one)[5:] == [429, 429]
    bad = invoke(database_url, "console", "--trusted-proxy", "proxy.example")
    assert bad.returncode == 1 and "not an IP address" in bad.stderr


def test_refused_and_unknown_logins_leave_the_limiter_no_bigger(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    app = create_app(ConsoleConfig(database_url, secret=SECRET, login_max_failures=3))
    limiter = app.state.console.limiter
    with served(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        codes = failed_logins(c, 12)  # twelve names nobody has, from one address
        assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}
        assert len(limiter) == 1  # the address; not one key per name tried
        # a real user's failures count against its name too
        assert login(c, password="wrong!").status_code == 429
        assert len(limiter) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/routes/%00",
        "/routes/a%00b",
        "/fragments/routes/%00",
        "/ius/%00",
        "/ius/x%00/report",
        "/deliveries/1%00",
        "/deliveries/99999999999999999999999",
        "/deliveries/-1",
        "/deliveries?route=%00",
        "/deliveries?iu=%00",
        "/fragments/deliveries?route=a%00",
        "/audit?object=%00",
        "/dead-letters?route=%00",
        "/ius/99999999999999999999999",
        "/ius/00000000-0000-4000-8000-000000000000",  # no such unit (fixed: each xdist worker collects)
        "/ius/not-a-uuid-%ff",
        "/deliveries?since=99999-01-01",
        "/deliveries?since=9999-12-31T23:59-23:59",
        "/deliveries?until=0001-01-01T00:00%2B23:59",
        "/deliveries?state=%ff%fe",
        "/dead-letters?all=1&route=" + "x" * 3000,
    ],
)
def test_hostile_values_in_a_console_url_are_client_errors(
    database_url: str, conn: psycopg.Connection[Any], path: str
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        r = c.get(path)
        assert r.status_code in {200, 400, 404}, (path, r.status_code, r.text[:300])
        assert "Traceback" not in r.text
        assert c.get("/gate").status_code == 200  # and the console goes on


def test_hostile_values_in_forms_are_one_line_refusals(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        for path, data in [
            ("/dead-letters/replay", {"scope": "selected", "id": "99999999999999999999999", "reason": "x"}),
            ("/dead-letters/replay", {"scope": "route", "route": "a\x00", "reason": "x"}),
            ("/dead-letters/discard", {"scope": "since", "since": "99999-01-01", "reason": "x"}),
            (f"/routes/{STRUCTURE_ROUTE}/target", {"target_kind": "sql_function", "target_ref": "a\x00"}),
            ("/allowlist/add", {"route": "a\x00"}),
        ]:
            r = c.post(path, data={**data, "csrf": token})
            assert r.status_code == 303, (path, r.status_code)
            assert r.headers["location"].startswith("/")
    rows = conn.execute(
        "SELECT context, object_key FROM iu_operator_audit WHERE object_type <> 'console_user'"
    ).fetchall()
    assert rows == []


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
def test_back_and_next_only_ever_lead_inside_the_console(
    database_url: str, conn: psycopg.Connection[Any], back: str
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        r = c.post("/gate", data={"gate": "close", "csrf": csrf_of(c), "back": back})
        assert r.status_code == 303 and r.headers["location"] == "/gate"
        r = c.post("/gate", data={"gate": "close", "csrf": csrf_of(c), "back": "/routes"})
        assert r.headers["location"] == "/routes"  # a path of the console is kept
        c.cookies.clear()
        page = c.get("/login", params={"next": back})
        assert 'name="next" value="/"' in page.text
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token
        r = c.post(
            "/login",
            data={"username": USER, "password": PASSWORD, "login_token": token.group(1), "next": back},
        )
        assert r.status_code == 303 and r.headers["location"] == "/"


def csp_sources(policy: str, directive: str) -> list[str]:
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == directive:
            return words[1:]
    return []


def sha256(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def test_the_report_page_may_use_its_own_styles_and_nothing_else(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    assert invoke(database_url, "report", "build", "--iu", "REG-EN").returncode == 0
    with client(database_url) as c:
        login(c)
        r = c.get("/ius/REG-EN/report")
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        assert r.headers.get_list("content-security-policy") == [policy]  # one policy, not two
        style = csp_sources(policy, "style-src")
        element = re.search(r"<style>(.*?)</style>", r.text, re.DOTALL)
        assert element and sha256(element.group(1)) in style
        attributes = set(re.findall(r'\sstyle="([^"]*)"', r.text))
        assert attributes and all(sha256(a) in style for a in attributes)
        assert "'unsafe-inline'" not in policy and "*" not in policy
        assert csp_sources(policy, "default-src") == ["'none'"]
        assert csp_sources(policy, "script-src") == []  # falls back to default-src 'none'
        assert csp_sources(policy, "frame-ancestors") == ["'none'"]
        # every other page keeps the console's own policy
        assert "style-src 'self'" in c.get("/ius/REG-EN").headers["content-security-policy"]


def test_a_delivery_page_with_an_id_beyond_bigint_is_not_found(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    insert_events(conn, 1)
    once(database_url)
    with client(database_url) as c:
        login(c)
        assert c.get(f"/deliveries/{2**63}").status_code == 404
        assert c.get(f"/deliveries/{2**63 - 1}").status_code == 404
