"""The console for a working day: payloads and answers, finding any delivery, health, human values."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from iu_core.targets import transport
from tests.support.console import client, login, make_user
from tests.support.receivers import Receiver, Reply, add_route, set_secret
from tests.support.worker import insert_events, once, scalar

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = "hook.console"


@pytest.fixture(autouse=True)
def _close_pools() -> Any:
    yield
    transport.close_pools()


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
            "event_type": "structure_op_applied",
            "iu_id": str(iu),
            "operation_id": str(uuid.uuid4()),
            "operation_type": "split",
            "pieces": [],
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
