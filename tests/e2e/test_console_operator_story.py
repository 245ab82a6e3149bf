"""One operator's story in a real browser, without the command line: a real console process, a real
worker process and a real receiver on 127.0.0.1 that first fails and is then fixed.

Create an HTTP route, set its policy and secret, take it from dry-run to live (gate, allowlist, go
live), watch its deliveries, see them fail, fix the receiver, resend one and replay the dead letters,
rotate the secret — then the same pages at 390 px, none scrolling sideways."""

from __future__ import annotations

import signal
import subprocess
import uuid
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from iu_core.targets.http import sync as http_sync
from tests.support.browser import chromium_page, horizontal_overflow, log_in, screenshot
from tests.support.console import PASSWORD, USER, console_process, make_user
from tests.support.receivers import Receiver, Reply
from tests.support.worker import insert_events, scalar, wait_until, worker_process

pytestmark = pytest.mark.slow

ROUTE = "hook.story"


def states(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT state, count(*) FROM iu_delivery WHERE route_code = %s GROUP BY state", (ROUTE,)
    ).fetchall()
    return {str(s): int(n) for s, n in rows}


def ius(n: int = 1) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def stop(worker: subprocess.Popen[str]) -> None:
    """SIGTERM: the worker drains and exits 0."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        assert worker.wait(30) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        for stream in (worker.stdout, worker.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.timeout(300)  # a whole working session: about a minute, more on a busy machine
def test_an_operator_takes_a_new_http_route_live_and_through_a_failure_in_the_browser(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    pages: list[str] = []
    with Receiver(Reply(503, body=b"receiver down")) as rx:
        worker = worker_process(database_url, "--poll-interval", "0.2")
        try:
            with chromium_page() as page, console_process(database_url) as base:
                log_in(page, base, USER, PASSWORD)

                # -- a new HTTP route to the receiver, in dry-run
                page.click("nav >> text=Routes")
                page.fill("#add-route input[name=route_code]", ROUTE)
                page.select_option("#add-route select[name=target_kind]", "external_endpoint")
                page.fill("#add-route input[name=target_ref]", rx.url)
                page.click("#add-route button[type=submit]")
                page.wait_for_selector(f"text=route {ROUTE} added (dry-run)")
                route_path = page.url.removeprefix(base)

                # -- its policy: the receiver's network, two attempts, fast retries, no circuit in the way
                settings = {
                    "allow_networks": "127.0.0.0/8",
                    "max_attempts": "2",
                    "base_delay_ms": "50",
                    "circuit_failure_threshold": "100",
                    "timeout_s": "5",
                }
                for name, value in settings.items():
                    page.fill(f"#route-settings input[name={name}]", value)
                page.click("#route-settings button[type=submit]")
                page.wait_for_selector(f"text=route {ROUTE}: dry-run")
                page.click("#rotate-secret button[type=submit]")
                first_secret = page.input_value("#new-secret")
                page.click("text=back to the route")

                # -- dry-run: events are decided, nothing is sent
                insert_events(conn, 2, ius())
                assert wait_until(lambda: states(conn).get("decided") == 2)
                assert rx.seen == []

                # -- the gate, the allowlist, live
                page.click("nav >> text=Gate")
                page.click("#gate-open")
                page.wait_for_selector("#gate-state >> text=gate OPEN")
                page.click("nav >> text=Allowlist")
                page.click(f"button[data-route='{ROUTE}']")
                page.wait_for_selector("text=added to the allowlist")
                page.goto(base + route_path)
                page.fill("#go-live input[name=confirm]", ROUTE)
                page.click("#go-live button[type=submit]")
                page.wait_for_selector("h1 .mode.live")

                # -- deliveries fail: the receiver answers 503 until it is fixed
                insert_events(conn, 3, ius(3))  # three IUs: no event waits behind another
                assert wait_until(lambda: states(conn).get("dead") == 3, timeout=60), states(conn)
                page.click("nav >> text=Deliveries")
                page.select_option("form.filters select[name=route]", ROUTE)
                page.select_option("form.filters select[name=state]", "dead")
                page.click("form.filters button[type=submit]")
                page.wait_for_selector("#deliveries >> text=dead")
                pages.append(page.url.removeprefix(base))
                screenshot(page, "story-deliveries-dead")
                page.click("#deliveries tbody tr:first-child a")
                page.wait_for_selector("#answers >> text=HTTP 503")
                assert "receiver down" in page.inner_text("#answers")
                failed_path = page.url.removeprefix(base)
                pages.append(failed_path)
                screenshot(page, "delivery", docs=True)

                # -- fix the receiver; resend this one, then replay the other dead letters
                rx.default = Reply(200, body=b'{"ok": true}')
                page.fill("#resend input[name=reason]", "receiver fixed")
                page.click("#resend button[type=submit]")
                page.wait_for_selector("text=replayed 1 dead letter")
                assert wait_until(lambda: states(conn).get("sent") == 1, timeout=30), states(conn)
                page.click("nav >> text=Dead letters")
                page.wait_for_selector("#dead-letters >> text=HTTP 503")
                pages.append("/dead-letters")
                page.check("input[name=scope][value=route]")
                page.select_option("#dead-letters-form select[name=route]", ROUTE)
                page.fill("#reason", "receiver fixed")
                page.click("#replay")
                page.wait_for_selector("text=replayed 2 dead letter")
                assert wait_until(lambda: states(conn).get("sent") == 3, timeout=30), states(conn)
                assert scalar(conn, "SELECT count(*) FROM iu_route_dead_letter WHERE status = 'open'") == 0

                # -- the overview follows by itself; the route shows its health
                page.click("nav >> text=Overview")
                page.wait_for_selector(f"tr[data-route='{ROUTE}']")
                screenshot(page, "overview", docs=True)
                page.goto(f"{base}/deliveries?route={ROUTE}")
                page.wait_for_selector("#deliveries >> text=sent")
                screenshot(page, "deliveries", docs=True)

                # -- rotate the secret: the receiver may switch at any time (both sign for the window)
                page.goto(base + route_path)
                page.click("#rotate-secret button[type=submit]")
                new_secret = page.input_value("#new-secret")
                assert new_secret.startswith("whsec_") and new_secret != first_secret
                page.goto(base + route_path)
                assert new_secret not in page.content()
                screenshot(page, "route", docs=True)
                pages.append(route_path)
                before = len(rx.seen)
                insert_events(conn, 1, ius())
                assert wait_until(lambda: states(conn).get("sent") == 4, timeout=30), states(conn)
                last = rx.seen[before]
                assert len(last.headers["webhook-signature"].split()) == 2
                for secret in (first_secret, new_secret):  # a receiver holding either secret verifies
                    Webhook(secret).verify(last.body, last.headers)

                # -- nothing of this was done from the command line: the audit names the console user
                actors = {
                    str(a)
                    for (a,) in conn.execute(
                        "SELECT DISTINCT actor FROM iu_operator_audit WHERE object_type <> 'console_user'"
                    )
                }
                assert actors == {USER}

                # -- the same pages at 390 px: no horizontal scroll
                page.set_viewport_size({"width": 390, "height": 844})
                for path in ["/", "/routes", *pages, "/gate", "/allowlist", "/audit"]:
                    page.goto(base + path)
                    page.wait_for_selector("main")
                    assert horizontal_overflow(page) <= 0, path
                screenshot(page, "390-story-route")
        finally:
            stop(worker)
            http_sync.close()
