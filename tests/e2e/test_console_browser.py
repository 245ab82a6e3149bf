"""The going-live story in a real browser (Debian's chromium driven by Playwright), against a real
console process and a real worker process: log in, open the gate, allowlist, go live, watch counts
move, replay a dead letter in bulk with a reason, close the gate and see delivery pause, log out."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import run_iu_core
from tests.support.browser import CHROMIUM_ARGS, chromium_executable
from tests.support.console import PASSWORD, USER, console_process
from tests.support.routes import STRUCTURE_ROUTE
from tests.support.worker import insert_events, scalar, wait_until, worker_process

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
README_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def browser_page() -> Iterator[Any]:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of gate and go-live
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def shot(page: Any, name: str, *, readme: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
    if readme and os.environ.get("IU_CORE_UPDATE_README_IMAGES") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_IMAGES / f"console-{name}.png"), full_page=True)


def sent(conn: psycopg.Connection[Any]) -> int:
    return int(scalar(conn, "SELECT count(*) FROM iu_delivery WHERE state = 'sent'"))


def seed_dead_letter(conn: psycopg.Connection[Any], event_id: uuid.UUID) -> None:
    """What a worker leaves after a delivery ran out of attempts (the target was down then)."""
    with conn.transaction():
        conn.execute(
            "UPDATE iu_delivery SET state = 'dead', attempts = 3, finished_at = now(), "
            "last_error = 'consumer unavailable' WHERE route_code = %s AND event_id = %s",
            (STRUCTURE_ROUTE, event_id),
        )
        conn.execute(
            "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts) "
            "VALUES (%s, %s, 'consumer unavailable', 3)",
            (STRUCTURE_ROUTE, event_id),
        )


def test_going_live_story_in_the_browser(
    database_url: str, conn: psycopg.Connection[Any], browser_page: Any
) -> None:
    page = browser_page
    added = run_iu_core(
        ["console", "user", "add", USER, "--password-stdin"], database_url=database_url, input=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    insert_events(conn, 3)  # before going live: the dry-run route only records decisions

    worker = worker_process(database_url, "--poll-interval", "0.2")
    try:
        with console_process(database_url) as base:
            # -- log in (a wrong password first)
            page.goto(f"{base}/")
            assert "/login" in page.url
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", "not the password")
            page.click("button[type=submit]")
            page.wait_for_selector("text=wrong user name or password")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("h1:has-text('Overview')")
            page.wait_for_selector("#route-status")
            assert wait_until(lambda: scalar(conn, "SELECT count(*) FROM iu_route_decision") == 3)
            shot(page, "overview-dry-run")

            # -- open the gate (with its confirmation)
            page.click("nav >> text=Gate")
            page.click("#gate-open")
            page.wait_for_selector("#gate-state >> text=gate OPEN")
            shot(page, "gate")

            # -- allowlist the route, then take it live to the internal consumer
            page.click("nav >> text=Allowlist")
            page.click(f"button[data-route='{STRUCTURE_ROUTE}']")
            page.wait_for_selector("text=added to the allowlist")
            page.goto(f"{base}/routes/{STRUCTURE_ROUTE}")
            page.select_option("#go-live select[name=target_kind]", "sql_function")
            page.fill("#go-live input[name=target_ref]", "fn_iu_structure_consumer")
            page.fill("#go-live input[name=confirm]", STRUCTURE_ROUTE)
            page.click("#go-live button[type=submit]")
            page.wait_for_selector("h1 .mode.live")
            shot(page, "route-live")

            # -- watch: events written now are delivered by the worker; the overview follows by itself
            page.click("nav >> text=Overview")
            page.wait_for_selector("#count-sent")
            before = sent(conn)
            ids = insert_events(conn, 8, [uuid.uuid4(), uuid.uuid4()])
            assert wait_until(lambda: sent(conn) == before + 8)
            page.wait_for_selector(f"#count-sent b:text-is('{before + 8}')")  # htmx polling, no reload
            shot(page, "overview")

            # -- a delivery's timeline
            delivery_id = scalar(
                conn,
                "SELECT delivery_id FROM iu_delivery WHERE event_id = %s AND route_code = %s",
                (ids[0], STRUCTURE_ROUTE),
            )
            page.goto(f"{base}/deliveries/{delivery_id}")
            page.wait_for_selector("#timeline >> text=attempt 1")
            shot(page, "delivery-timeline")

            # -- a dead letter: replay in bulk (by route) with a reason, and see it delivered
            stop(worker)
            (late,) = insert_events(conn, 1)
            seed_dead_letter(conn, late)
            worker = worker_process(database_url, "--poll-interval", "0.2")
            page.click("nav >> text=Dead letters")
            page.wait_for_selector("#dead-letters >> text=consumer unavailable")
            shot(page, "dead-letters")
            page.check("input[name=scope][value=route]")
            page.select_option("#dead-letters-form select[name=route]", STRUCTURE_ROUTE)
            page.fill("#reason", "consumer is back")
            page.click("#replay")
            page.wait_for_selector("text=replayed 1 dead letter")
            assert wait_until(
                lambda: scalar(conn, "SELECT state FROM iu_delivery WHERE event_id = %s", (late,)) == "sent"
            )
            assert conn.execute(
                "SELECT resolved_by, resolution_note FROM iu_route_dead_letter"
            ).fetchone() == (
                USER,
                "consumer is back",
            )

            # -- close the gate: delivery pauses, nothing is lost
            page.click("nav >> text=Gate")
            page.click("#gate-close")
            page.wait_for_selector("#gate-state >> text=gate CLOSED")
            paused = insert_events(conn, 4)
            page.click("nav >> text=Overview")
            page.wait_for_selector(f"tr[data-route='{STRUCTURE_ROUTE}'] td.backlog:text-is('4')")
            assert not wait_until(lambda: sent(conn) > before + 9, timeout=2)
            assert scalar(conn, "SELECT count(*) FROM iu_route_dead_letter WHERE status = 'open'") == 0
            shot(page, "overview-gate-closed")

            # -- the audit names the console user
            page.click("nav >> text=Audit")
            page.wait_for_selector(f"td.actor:text-is('{USER}')")
            shot(page, "audit")
            # (the console user itself was added from the command line, as the OS user)
            actors = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT actor FROM iu_operator_audit WHERE object_type <> 'console_user'"
                )
            }
            assert actors == {USER}

            # -- log out: the console is closed again
            page.click("#logout")
            page.wait_for_selector("h1:has-text('Log in')")
            page.goto(f"{base}/deliveries")
            assert "/login" in page.url
            assert (
                scalar(
                    conn,
                    "SELECT count(*) FROM iu_delivery WHERE state = 'pending' AND event_id = ANY(%s)",
                    (paused,),
                )
                == 4
            )
    finally:
        stop(worker)


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


# Every page of the console, for the layout checks at each width.
LAYOUT_PAGES = [
    "/",
    "/routes",
    f"/routes/{STRUCTURE_ROUTE}",
    "/deliveries",
    "/deliveries/{delivery}",
    "/dead-letters",
    "/gate",
    "/allowlist",
    "/ius",
    "/ius/REG-EN",
    "/audit",
    "/search?q=nothing-by-this-name",
]

# What a page must hold at any width: no horizontal scroll, and a label for every control.
LAYOUT_PROBE = """() => {
  const doc = document.documentElement;
  const unlabelled = [...document.querySelectorAll('input, select, textarea, button')]
    .filter(el => el.type !== 'hidden')
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.textContent.trim()))
    .map(el => el.outerHTML.slice(0, 120));
  return {overflow: doc.scrollWidth - doc.clientWidth, unlabelled};
}"""


def test_every_page_fits_390_px_with_visible_focus_and_labelled_controls(
    database_url: str, conn: psycopg.Connection[Any], browser_page: Any
) -> None:
    page = browser_page
    added = run_iu_core(
        ["console", "user", "add", USER, "--password-stdin"], database_url=database_url, input=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    ingested = run_iu_core(
        ["ingest", "sample:regulation_en.md", "--code", "REG-EN"], database_url=database_url
    )
    assert ingested.returncode == 0, ingested.stderr
    (event_id,) = insert_events(conn, 1)
    seed_dead_letter(conn, event_id)
    conn.execute(
        "UPDATE iu_route_dead_letter SET reason = %s",
        ("the consumer refused the event: " + "a-very-long-unbroken-reason-" * 8,),
    )
    delivery = scalar(conn, "SELECT delivery_id FROM iu_delivery WHERE event_id = %s", (event_id,))
    with console_process(database_url) as base:
        page.goto(f"{base}/login")
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Overview')")
        for width in (1440, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for path in LAYOUT_PAGES:
                page.goto(base + path.format(delivery=delivery))
                page.wait_for_selector("main")
                probe = page.evaluate(LAYOUT_PROBE)
                name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
                shot(page, f"{width}-{name}")
                assert probe["overflow"] <= 0, (width, path, probe["overflow"])
                assert probe["unlabelled"] == [], (width, path, probe["unlabelled"])
        # at 390 px the navigation wraps inside the header, every link on screen
        nav_right = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('header nav a')]"
            ".map(a => a.getBoundingClientRect().right))"
        )
        assert nav_right <= 390
        # the keyboard reaches the first link with a visible focus ring
        page.goto(f"{base}/")
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
        )
        assert outline[1] != "none" and outline[2] >= 2, outline
        # the search box takes a delivery's number to its page, where the payload opens and closes
        page.fill("#find", str(delivery))
        page.press("#find", "Enter")
        page.wait_for_url(f"**/deliveries/{delivery}")
        payload = page.locator("#event-payload")
        assert payload.get_attribute("open") is not None
        page.click("#event-payload > summary")
        assert payload.get_attribute("open") is None
        # a closed gate is said on every page
        assert "The delivery gate is closed" in page.inner_text("#alerts")
