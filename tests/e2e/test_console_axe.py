"""Every page of the console passes axe-core (vendored, injected into the page) at 1440 and 390 px:
no serious or critical accessibility violation — labels, contrast, landmarks, names of controls."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import run_iu_core
from tests.support.browser import axe_violations, chromium_page, horizontal_overflow, screenshot
from tests.support.console import PASSWORD, USER, console_process, make_user
from tests.support.routes import STRUCTURE_ROUTE
from tests.support.worker import insert_events, once, scalar

pytestmark = pytest.mark.slow

HOOK = "hook"


def seed(database_url: str, conn: psycopg.Connection[Any]) -> dict[str, str]:
    """A unit with its report and an edited provision, an HTTP route, a delivery, a dead letter."""
    make_user(conn)
    for args in (
        ["ingest", "sample:regulation_en.md", "--code", "REG-EN"],
        ["report", "build", "--iu", "REG-EN"],
        ["route", "add", HOOK, "--event-type", "structure_op_applied", "--target-kind", "external_endpoint",
         "--target-ref", "http://127.0.0.1:9/hook"],
        ["route", "secret", "rotate", HOOK, "--json"],
        ["route", "disable", HOOK, "--reason", "HTTP 410 Gone"],
    ):  # fmt: skip
        done = run_iu_core(args, database_url=database_url)
        assert done.returncode == 0, (args, done.stderr)
    row = conn.execute(
        "SELECT p.piece_id, p.text FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code = 'REG-EN' AND p.parent_piece_id IS NOT NULL AND length(p.text) > 60"
        " ORDER BY length(p.text) DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    piece, text = str(row[0]), str(row[1])
    for args in (  # an edited provision: its history has a text diff and a new heading
        ["op", "split", piece, "--offset", str(text.index(" ", len(text) // 2))],
        ["op", "rename", piece, "--heading", "Scope and definitions"],
    ):
        done = run_iu_core(args, database_url=database_url)
        assert done.returncode == 0, (args, done.stderr)
    eid = str(scalar(conn, "SELECT eid FROM iu_piece WHERE piece_id = %s", (piece,)))
    (event_id,) = insert_events(conn, 1)
    once(database_url)
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts) VALUES (%s, %s, %s, 3)",
        (STRUCTURE_ROUTE, event_id, "consumer unavailable"),
    )
    delivery = scalar(conn, "SELECT delivery_id FROM iu_delivery WHERE event_id = %s", (event_id,))
    return {"delivery": str(delivery), "eid": eid}


# Every page of the console (the secret page, shown after a rotation, is checked on its own).
PAGES = [
    "/",
    "/routes",
    f"/routes/{STRUCTURE_ROUTE}",
    f"/routes/{HOOK}",
    "/deliveries",
    "/deliveries/{delivery}",
    "/dead-letters",
    "/gate",
    "/allowlist",
    "/ius",
    "/ius/REG-EN",
    "/ius/REG-EN/{eid}",
    "/ius/REG-EN/report",
    "/audit",
    "/search?q=nothing-by-this-name",
]


# Every page to tests/artifacts at each width; the provision's page also to docs/img.
SHOTS = {
    "/deliveries/{delivery}": "delivery",
    "/ius/REG-EN/{eid}": "provision",
    f"/routes/{HOOK}": "route-hook",
}
DOC_SHOTS = {"/ius/REG-EN/{eid}": "provision"}


@pytest.mark.timeout(300)  # some 20 pages, each checked by axe and photographed: over a minute
@pytest.mark.parametrize("width", [1440, 390])
def test_every_console_page_has_no_serious_accessibility_violation(
    database_url: str, conn: psycopg.Connection[Any], width: int
) -> None:
    ids = seed(database_url, conn)
    found: list[str] = []
    with chromium_page(width, bypass_csp=True) as page, console_process(database_url) as base:
        page.goto(f"{base}/login")
        found += [f"/login: {v}" for v in axe_violations(page)]
        screenshot(page, f"{width}-login")
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Overview')")
        for path in PAGES:
            page.goto(base + path.format(**ids))
            page.wait_for_load_state("load")
            found += [f"{path}: {v}" for v in axe_violations(page)]
            if horizontal_overflow(page) > 0:
                found.append(f"{path}: scrolls sideways by {horizontal_overflow(page)} px")
            name = SHOTS.get(path) or path.strip("/").split("?")[0].replace("/", "-") or "overview"
            screenshot(page, f"{width}-{name}")
            if width == 1440 and path in DOC_SHOTS:
                screenshot(page, DOC_SHOTS[path], docs=True)
        # the edited provision: its history shows the split's word diff and the new heading
        page.goto(base + "/ius/REG-EN/{eid}".format(**ids))
        assert page.locator("#provision-history del").count() > 0
        assert "Scope and definitions" in page.inner_text("#provision-history")
        # a form refused with its error on it, and the secret shown once
        page.goto(f"{base}/routes")
        page.fill("#add-route input[name=route_code]", "x")
        page.fill("#add-route input[name=target_ref]", "ftp://nowhere")
        page.click("#add-route button[type=submit]")
        page.wait_for_selector("#add-route-error")
        found += [f"/routes (refused): {v}" for v in axe_violations(page)]
        screenshot(page, f"{width}-routes-refused")
        page.goto(f"{base}/routes/{HOOK}")
        page.click("#rotate-secret button[type=submit]")
        page.wait_for_selector("#new-secret")
        found += [f"secret page: {v}" for v in axe_violations(page)]
        screenshot(page, f"{width}-secret")
    assert found == [], "\n".join(found)
