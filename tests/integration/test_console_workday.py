"""The console for a working day: payloads and answers, finding any delivery, health, human values."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from iu_core.targets.http import sync as http_sync
from tests.support.console import client, login, make_user
from tests.support.receivers import Receiver, Reply, add_route, set_secret
from tests.support.worker import insert_events, once, scalar

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = "hook.console"


@pytest.fixture(autouse=True)
def _close_pools() -> Any:
    yield
    http_sync.close()


def delivery_of(conn: psycopg.Connection[Any], route: str, event_id: uuid.UUID) -> int:
    return int(
        scalar(
            conn,
            "SELECT delivery_id FROM iu_delivery WHERE route_code = %s AND event_id = %s",
            (route, event_id),
        )
    )


def test_a_delivery_page_shows_the_payload_the_request_and_each_answer(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    replies = [
        Reply(503, {"x-trace": "trace-503", "set-cookie": "sid=hunter2", "retry-after": "1"}, b"busy, later"),
        Reply(200, {"x-trace": "trace-200"}, b'{"accepted": true}'),
    ]
    with Receiver() as rx:
        rx.script.extend(replies)
        add_route(conn, HOOK, rx.url, max_attempts=5, base_delay_ms=1, max_delay_ms=1)
        set_secret(conn, HOOK, SECRET)
        iu = uuid.uuid4()
        marker = f"payload-marker-{uuid.uuid4().hex[:8]}"
        payload = {
            "schema_version": "1.0",
            "event_type": "structure_op_applied",
            "iu_id": str(iu),
            "operation_id": str(uuid.uuid4()),
            "operation_type": "split",
            "pieces": [],
            "eids": [],
            "previous_eids": {},
            "note": marker,
        }
        (event_id,) = insert_events(conn, 1, [iu], payload=payload)
        once(database_url)
        conn.execute("UPDATE iu_delivery SET available_at = now() WHERE route_code = %s", (HOOK,))
        once(database_url)
        assert len(rx.seen) == 2
    delivery_id = delivery_of(conn, HOOK, event_id)
    with client(database_url) as c:
        login(c)
        page = c.get(f"/deliveries/{delivery_id}").text
    # the event's payload, pretty and collapsible
    payload_block = page.split('id="event-payload"', 1)[1].split("</details>", 1)[0]
    assert f"&#34;note&#34;: &#34;{marker}&#34;" in payload_block or f'"note": "{marker}"' in payload_block
    assert "\n  " in payload_block  # indented, not one line
    assert page.count("<details") >= 4  # payload, request, two answers
    # the request: the same body the receiver got, its webhook-id, no secret or signature
    request = page.split('id="request-sent"', 1)[1].split("</details>", 1)[0]
    assert f"{HOOK}:{event_id}" in request
    assert rx.seen[0].headers["webhook-id"] == f"{HOOK}:{event_id}"
    assert marker in request and "POST" in request
    sent_signature = rx.seen[0].headers["webhook-signature"]
    assert sent_signature.split(",", 1)[1] not in page
    assert SECRET not in page and SECRET.removeprefix("whsec_") not in page
    assert "not shown" in request
    # each answer: status, headers without cookies, the body
    answers = page.split('id="answers"', 1)[1]
    first, second = answers.split("<li>")[1:3]
    assert "HTTP 503" in first and "trace-503" in first and "busy, later" in first
    assert "hunter2" not in page and "set-cookie" not in page
    assert "HTTP 200" in second and "trace-200" in second and "accepted" in second
    # the stored detail itself keeps no cookie either
    detail = scalar(conn, "SELECT detail FROM iu_route_attempt WHERE route_code = %s LIMIT 1", (HOOK,))
    assert "set-cookie" not in detail["response_headers"]
    assert detail["response_headers"]["x-trace"] == "trace-503"


def test_a_database_delivery_says_there_was_no_http_request(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.routes import STRUCTURE_ROUTE

    make_user(conn)
    (event_id,) = insert_events(conn, 1)
    once(database_url)
    delivery_id = delivery_of(conn, STRUCTURE_ROUTE, event_id)
    with client(database_url) as c:
        login(c)
        page = c.get(f"/deliveries/{delivery_id}").text
    assert re.search(r'id="event-payload"', page)
    assert "no HTTP request" in page


def _get(c: httpx.Client, path: str) -> str:
    r = c.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.text


_DELIVERY_LINK = re.compile(r'<tr><td><a href="/deliveries/(\d+)">')
_OLDER = re.compile(r'<a href="([^"]+)" rel="next" class="older">')


def _pages(c: httpx.Client, path: str, rows: re.Pattern[str]) -> list[list[int]]:
    """Every page from ``path`` on, following the "older" links: the ids each page shows."""
    pages = []
    while True:
        text = _get(c, path)
        pages.append([int(x) for x in rows.findall(text)])
        older = _OLDER.search(text)
        if older is None:
            return pages
        path = older.group(1).replace("&amp;", "&")
        assert "before=" in path and len(pages) < 10


def test_deliveries_are_paged_by_keyset_and_found_by_any_id(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.routes import STRUCTURE_ROUTE

    make_user(conn)
    ids = insert_events(conn, 120)
    once(database_url)
    all_ids = [int(r[0]) for r in conn.execute("SELECT delivery_id FROM iu_delivery ORDER BY 1 DESC")]
    assert len(all_ids) == 120
    with client(database_url) as c:
        r = c.get("/search", params={"q": str(all_ids[0])})
        assert r.status_code == 303 and r.headers["location"].startswith(
            "/login?next="
        )  # no session, no search
        login(c)
        pages = _pages(c, "/deliveries?state=dry-run", _DELIVERY_LINK)
        assert [len(p) for p in pages] == [50, 50, 20]
        assert [i for p in pages for i in p] == all_ids  # newest first, none twice, none missed
        # the filters are kept on the older pages
        assert _pages(c, f"/deliveries?route={STRUCTURE_ROUTE}&state=sent", _DELIVERY_LINK) == [[]]
        # exact ids: the event, its webhook-id, the delivery number
        one = delivery_of(conn, STRUCTURE_ROUTE, ids[7])
        for query in (f"event={ids[7]}", f"event={STRUCTURE_ROUTE}:{ids[7]}", f"id={one}", f"id=%23{one}"):
            assert [int(x) for x in _DELIVERY_LINK.findall(_get(c, f"/deliveries?{query}"))] == [one], query
        bad = _get(c, "/deliveries?event=not-a-uuid")
        assert 'class="flash error"' in bad and "not an event id" in bad
        assert "not a number" in _get(c, "/deliveries?before=x")
        # the search box of every page: any id goes to its page
        assert 'role="search"' in _get(c, "/gate") and 'for="find"' in _get(c, "/audit")
        for q in (str(one), f"#{one}", str(ids[7]), f"{STRUCTURE_ROUTE}:{ids[7]}"):
            r = c.get("/search", params={"q": q})
            assert r.status_code == 303 and r.headers["location"] == f"/deliveries/{one}", q
        r = c.get("/search", params={"q": STRUCTURE_ROUTE})
        assert r.headers["location"] == f"/routes/{STRUCTURE_ROUTE}"
        r = c.get("/search", params={"q": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"})
        assert r.status_code == 404 and "nothing found for" in r.text
        assert c.get("/search", params={"q": str(uuid.uuid4())}).status_code == 404
        assert c.get("/search", params={"q": "9" * 30}).status_code == 404


def test_search_finds_a_unit_by_code_and_an_event_of_many_routes_lists_them(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.cli import invoke

    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    with Receiver() as rx:
        add_route(conn, HOOK, rx.url, live=False)
        (event_id,) = insert_events(conn, 1)
    with client(database_url) as c:
        login(c)
        r = c.get("/search", params={"q": "REG-EN"})
        assert r.status_code == 303 and r.headers["location"] == "/ius/REG-EN"
        iu_id = scalar(conn, "SELECT iu_id FROM information_unit WHERE code = 'REG-EN'")
        assert c.get("/search", params={"q": str(iu_id)}).headers["location"] == "/ius/REG-EN"
        r = c.get("/search", params={"q": str(event_id)})
        assert r.headers["location"] == f"/deliveries?event={event_id}"
        assert len(_DELIVERY_LINK.findall(_get(c, r.headers["location"]))) == 2


_DEAD_LETTER_ROW = re.compile(r'<td>(?:<a href="/deliveries/\d+"[^>]*>)?(\d+)(?:</a>)?</td><td>')


def test_dead_letters_and_the_audit_are_paged_and_filtered(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.routes import STRUCTURE_ROUTE, set_gate

    make_user(conn)
    events = insert_events(conn, 60)
    once(database_url)
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts) "
        "SELECT %s, e, 'consumer unavailable', 3 FROM unnest(%s::uuid[]) e",
        (STRUCTURE_ROUTE, events),
    )
    for _ in range(3):
        set_gate(conn, True)
        set_gate(conn, False)
    newest_dead = int(scalar(conn, "SELECT max(dead_letter_id) FROM iu_route_dead_letter"))
    with client(database_url) as c:
        login(c)
        pages = _pages(c, "/dead-letters", _DEAD_LETTER_ROW)
        assert [len(p) for p in pages] == [50, 10]
        assert pages[0][0] == newest_dead
        page = _get(c, "/dead-letters")
        assert re.search(r'<a href="/deliveries/\d+" title="the delivery\'s timeline">', page)
        one = _get(c, f"/dead-letters?event={events[3]}")
        assert len(_DEAD_LETTER_ROW.findall(one)) == 1
        assert _DEAD_LETTER_ROW.findall(_get(c, "/dead-letters?since=2999-01-01T00:00")) == []
        # the audit: filtered by what changed and who, newest first
        gate_rows = _get(c, "/audit?type=config")
        assert gate_rows.count("<tr><td>") == 6
        assert _get(c, "/audit?actor=nobody").count("<tr><td>") == 0
        assert "not a time" in _get(c, "/audit?since=yesterday")


def _row(page: str, table_id: str, route: str) -> str:
    table = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return table.split(f'data-route="{route}"', 1)[1].split("</tr>", 1)[0]


def test_health_shows_rate_throughput_and_latency_and_the_circuit_and_lag_in_words(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.routes import STRUCTURE_ROUTE

    make_user(conn)
    # the last hour: 100 attempts of 1..100 ms, 90 sent; earlier today: 50 more of 1 s, all sent
    conn.execute(
        "INSERT INTO iu_route_attempt (route_code, event_ref, attempt_no, status, started_at, finished_at) "
        "SELECT %s, gen_random_uuid(), 1, CASE WHEN g <= 90 THEN 'sent' ELSE 'failed' END, "
        "       now() - interval '10 minutes' - make_interval(secs => g / 1000.0), "
        "       now() - interval '10 minutes' "
        "  FROM generate_series(1, 100) g "
        "UNION ALL "
        "SELECT %s, gen_random_uuid(), 1, 'sent', now() - interval '5 hours' - interval '1 second', "
        "       now() - interval '5 hours' FROM generate_series(1, 50) "
        "UNION ALL "  # older than a day: counted nowhere
        "SELECT %s, gen_random_uuid(), 1, 'failed', now() - interval '2 days', now() - interval '2 days' "
        "  FROM generate_series(1, 500)",
        (STRUCTURE_ROUTE, STRUCTURE_ROUTE, STRUCTURE_ROUTE),
    )
    conn.execute(
        "INSERT INTO iu_route_circuit (route_code, consecutive_failures, open_until) "
        "VALUES (%s, 5, now() + interval '5 minutes')",
        (STRUCTURE_ROUTE,),
    )
    insert_events(conn, 1)
    conn.execute("UPDATE event_outbox SET occurred_at = now() - interval '20 minutes'")
    with client(database_url) as c:
        login(c)
        overview = _get(c, "/")
        health = _row(overview, "route-health", STRUCTURE_ROUTE)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", health, flags=re.DOTALL)
        assert "90.0 % sent: some failing" in cells[1] and 'class="badge warn"' in cells[1]
        assert cells[2] == "1.7"  # 100 attempts in 60 minutes
        assert cells[3] == "50 ms" and cells[4] == "99 ms"  # p50 50.5 ms, p99 99.01 ms
        assert "93.3 % sent" in cells[5] and cells[6] == "0.10"  # 150 in 1440 minutes
        assert cells[8] == "1.0 s"
        status = _row(overview, "route-status", STRUCTURE_ROUTE)
        assert 'class="badge bad"' in status and "circuit open: paused until" in status
        assert "oldest waiting 20 min: far behind" in status
        assert "route-health" in _get(c, f"/routes/{STRUCTURE_ROUTE}")


def test_every_page_warns_while_the_gate_is_closed_or_a_route_is_disabled(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.routes import STRUCTURE_ROUTE, set_gate, set_policy

    make_user(conn)
    pages = ["/", "/routes", "/deliveries", "/dead-letters", "/gate", "/allowlist", "/ius", "/audit"]
    with client(database_url) as c:
        login(c)
        for path in pages:
            page = _get(c, path)
            assert 'id="alerts"' in page and "The delivery gate is closed" in page, path
        set_gate(conn, True)
        for path in pages:
            assert 'id="alerts"' not in _get(c, path), path
        set_policy(conn, STRUCTURE_ROUTE, enabled=False)
        for path in pages:
            page = _get(c, path)
            assert f'Route <a href="/routes/{STRUCTURE_ROUTE}">{STRUCTURE_ROUTE}</a> is disabled' in page, (
                path
            )
            assert "The delivery gate is closed" not in page


_TAG = re.compile(r"<[^>]*>")
_RAW = re.compile(r"\b(True|False|None|\w+_at|\w+_id|\w+_ms|dry_run|target_ref|target_kind)\b")


def visible_text(page: str) -> str:
    """What a person reads: the page's text without tags (attributes included) or hidden parts."""
    body = page.split("<main>", 1)[1].split("</main>", 1)[0]
    body = re.sub(r"<(script|style)\b.*?</\1>", "", body, flags=re.DOTALL)
    return _TAG.sub(" ", body)


def test_unit_audit_and_route_pages_show_human_labels_values_and_relative_times(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.cli import invoke
    from tests.support.console import csrf_of
    from tests.support.routes import STRUCTURE_ROUTE

    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        c.post("/gate", data={"gate": "open", "csrf": token})
        c.post("/allowlist/add", data={"route": STRUCTURE_ROUTE, "csrf": token})
        c.post(
            f"/routes/{STRUCTURE_ROUTE}/target",
            data={"csrf": token, "target_kind": "sql_function", "target_ref": "fn_iu_structure_consumer"},
        )
        c.post("/gate", data={"gate": "close", "csrf": token})
        for path in ("/ius", "/ius/REG-EN", "/audit", f"/routes/{STRUCTURE_ROUTE}", "/deliveries"):
            page = _get(c, path)
            raw = sorted(set(_RAW.findall(visible_text(page))))
            assert raw == [], (path, raw)
        audit = _get(c, "/audit")
        assert "gate open" in audit and "no → yes" in visible_text(audit)  # the gate, in words
        assert re.search(
            r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">just now</time>', audit
        )
        assert "→" in visible_text(audit)
        units = _get(c, "/ius")
        assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">(just now|\d+\.\d s ago)</time>', units)
        assert "<th>created</th>" in units and "created_at" not in units


def test_enable_a_disabled_route_and_rotate_a_secret_audited_with_csrf(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    from tests.support.console import USER, csrf_of
    from tests.support.routes import set_policy

    make_user(conn)
    with Receiver() as rx:
        add_route(conn, HOOK, rx.url)
    set_secret(conn, HOOK, SECRET)
    set_policy(conn, HOOK, enabled=False, disabled_reason="HTTP 410 Gone")
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        page = _get(c, f"/routes/{HOOK}")
        assert 'id="enable-route"' in page and "HTTP 410 Gone" in page
        # no CSRF token, or no confirmation: nothing changes
        assert c.post(f"/routes/{HOOK}/enable", data={"confirm": HOOK}).status_code == 403
        r = c.post(f"/routes/{HOOK}/enable", data={"csrf": token, "confirm": "nope"})
        assert "type its name" in _get(c, r.headers["location"])
        assert scalar(conn, "SELECT enabled FROM iu_outbound_route WHERE route_code = %s", (HOOK,)) is False
        r = c.post(f"/routes/{HOOK}/enable", data={"csrf": token, "confirm": HOOK})
        assert f"route {HOOK} enabled" in _get(c, r.headers["location"])
        assert scalar(conn, "SELECT enabled FROM iu_outbound_route WHERE route_code = %s", (HOOK,)) is True
        assert "is disabled" not in _get(c, f"/routes/{HOOK}")
        # rotate: the new secret once, then only its fingerprint
        assert c.post(f"/routes/{HOOK}/secret", data={"window_hours": "1"}).status_code == 403
        shown = c.post(f"/routes/{HOOK}/secret", data={"csrf": token, "window_hours": "1"})
        assert shown.status_code == 200 and "no-store" in shown.headers["cache-control"]
        secret = re.search(r'id="new-secret"[^>]*value="(whsec_[^"]+)"', shown.text)
        assert secret, shown.text[:500]
        assert "iu_core_flash" not in shown.headers.get("set-cookie", "")
        for path in (f"/routes/{HOOK}", "/audit", f"/audit?object={HOOK}"):
            assert secret.group(1) not in _get(c, path)
        stored = scalar(
            conn,
            "SELECT secret FROM iu_route_credential WHERE route_code = %s AND superseded_at IS NULL",
            (HOOK,),
        )
        assert stored == secret.group(1)
    actors = conn.execute(
        "SELECT actor, context FROM iu_operator_audit WHERE object_key = %s ORDER BY audit_id", (HOOK,)
    ).fetchall()
    assert (USER, "route enable") in actors and (USER, "route secret rotate") in actors


@pytest.mark.foreign_events  # a malformed event, on purpose
def test_resend_one_dead_delivery_with_a_reason(database_url: str, conn: psycopg.Connection[Any]) -> None:
    from tests.support.console import USER, csrf_of
    from tests.support.routes import STRUCTURE_ROUTE, make_live

    make_user(conn)
    make_live(conn)
    iu = uuid.uuid4()
    insert_events(conn, 1, [iu], payload={"event_type": "structure_op_applied", "iu_id": "nope"})
    (good,) = insert_events(conn, 1, [iu])
    assert once(database_url).dead == 1
    dead = int(scalar(conn, "SELECT delivery_id FROM iu_delivery WHERE state = 'dead'"))
    with client(database_url) as c:
        login(c)
        token = csrf_of(c)
        assert 'id="resend"' in _get(c, f"/deliveries/{dead}")
        held = _get(c, f"/deliveries/{delivery_of(conn, STRUCTURE_ROUTE, good)}")  # behind the dead one
        assert 'id="resend"' not in held
        assert c.post(f"/deliveries/{dead}/resend", data={"reason": "x"}).status_code == 403
        r = c.post(f"/deliveries/{dead}/resend", data={"csrf": token})
        assert "a reason is required" in _get(c, r.headers["location"])
        r = c.post(f"/deliveries/{dead}/resend", data={"csrf": token, "reason": "payload fixed upstream"})
        assert r.headers["location"] == f"/deliveries/{dead}"
        assert "replayed 1 dead letter" in _get(c, r.headers["location"])
        r = c.post(f"/deliveries/{dead}/resend", data={"csrf": token, "reason": "again"})
        assert "still on its way" in _get(c, r.headers["location"])
    assert scalar(conn, "SELECT state FROM iu_delivery WHERE delivery_id = %s", (dead,)) != "dead"
    row = conn.execute("SELECT status, resolved_by, resolution_note FROM iu_route_dead_letter").fetchone()
    assert row == ("replayed", USER, "payload fixed upstream")
