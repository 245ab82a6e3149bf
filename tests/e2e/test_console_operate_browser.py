"""Operating routes in a real browser (Debian's chromium driven by Playwright) against a real console
process: add routes (a bad target refused on the form), change a policy, rotate a secret, set a
token, enable a disabled route, resend one sent delivery — each audited as the console user."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from tests.conftest import run_iu_core
from tests.support.browser import chromium_page, log_in, screenshot
from tests.support.console import PASSWORD, USER, console_process, make_user
from tests.support.routes import CONSUMER, STRUCTURE_ROUTE, make_live
from tests.support.worker import insert_events, once, scalar

pytestmark = pytest.mark.slow

FLOW_REF = "http://127.0.0.1:9/flows/trigger/0b0b0b0b-0000-4000-8000-000000000001"


def add_route(page: Any, base: str, code: str, kind: str, ref: str) -> None:
    page.goto(f"{base}/routes")
    page.fill("#add-route input[name=route_code]", code)
    page.select_option("#add-route select[name=target_kind]", kind)
    page.fill("#add-route input[name=target_ref]", ref)
    page.click("#add-route button[type=submit]")


def test_operate_routes_and_deliveries_in_the_browser(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with chromium_page() as page, console_process(database_url) as base:
        log_in(page, base, USER, PASSWORD)

        # -- add an HTTP route: a bad target is refused on the form, what was typed stays
        add_route(page, base, "hook.new", "external_endpoint", "ftp://127.0.0.1/hook")
        page.wait_for_selector("#add-route-error >> text=http")
        assert page.input_value("#add-route input[name=route_code]") == "hook.new"
        screenshot(page, "route-add-refused")
        page.fill("#add-route input[name=target_ref]", "http://127.0.0.1:9/hook")
        page.click("#add-route button[type=submit]")
        page.wait_for_selector("text=route hook.new added (dry-run)")
        page.wait_for_selector("h1 .mode.dry-run")
        add_route(page, base, "db.new", "sql_function", CONSUMER)
        page.wait_for_selector("text=route db.new added (dry-run)")

        # -- its policy: an out-of-range value is refused on the form; a good one is saved
        page.goto(f"{base}/routes/hook.new")
        page.fill("#route-settings input[name=max_attempts]", "0")
        page.click("#route-settings button[type=submit]")
        page.wait_for_selector("#settings-error >> text=max attempts: 0 is out of range")
        page.fill("#route-settings input[name=max_attempts]", "4")
        page.fill("#route-settings input[name=timeout_s]", "3")
        page.click("#route-settings button[type=submit]")
        page.wait_for_selector("text=route hook.new: dry-run")
        assert conn.execute(
            "SELECT max_attempts, timeout_s::float FROM iu_outbound_route WHERE route_code = 'hook.new'"
        ).fetchone() == (4, 3.0)

        # -- rotate its secret: shown once, then only the fingerprint
        page.click("#rotate-secret button[type=submit]")
        page.wait_for_selector("#new-secret")
        secret = page.input_value("#new-secret")
        fingerprint = page.inner_text("#new-fingerprint")
        assert secret.startswith("whsec_")
        screenshot(page, "secret-once")
        page.goto(f"{base}/routes/hook.new")
        assert fingerprint in page.inner_text("#fingerprints")
        assert secret not in page.content()

        # -- a Directus flow route and its token, named by fingerprint only
        add_route(page, base, "flow.new", "directus_flow", FLOW_REF)
        page.wait_for_selector("text=route flow.new added (dry-run)")
        page.fill("#set-token input[name=token]", "tok-only-typed-once")
        page.click("#set-token button[type=submit]")
        page.wait_for_selector("text=access token of route flow.new set")
        assert "tok-only-typed-once" not in page.content()
        told = re.search(r"fingerprint (\S+)\)", page.inner_text(".flash"))
        assert told and told.group(1) in page.inner_text("#fingerprints")

        # -- enable a disabled route (disabled as a receiver's HTTP 410 would)
        disabled = run_iu_core(
            ["route", "disable", "hook.new", "--reason", "HTTP 410 Gone"], database_url=database_url
        )
        assert disabled.returncode == 0, disabled.stderr
        page.goto(f"{base}/routes/hook.new")
        page.wait_for_selector("#enable-route")
        page.fill("#enable-route input[name=confirm]", "hook.new")
        page.click("#enable-route button[type=submit]")
        page.wait_for_selector("text=route hook.new enabled")
        assert scalar(conn, "SELECT enabled FROM iu_outbound_route WHERE route_code = 'hook.new'") is True

        # -- resend ONE delivery that was sent: a new attempt by the normal path
        make_live(conn)
        (event_id,) = insert_events(conn, 1)
        assert once(database_url).sent == 1
        delivery = scalar(
            conn, "SELECT delivery_id FROM iu_delivery WHERE event_id = %s AND route_code = %s",
            (event_id, STRUCTURE_ROUTE),
        )  # fmt: skip
        page.goto(f"{base}/deliveries/{delivery}")
        page.fill("#resend input[name=reason]", "the consumer lost it")
        page.click("#resend button[type=submit]")
        page.wait_for_selector(f"text=delivery {delivery} queued again on route {STRUCTURE_ROUTE}")
        assert once(database_url).sent == 1
        page.goto(f"{base}/deliveries/{delivery}")
        page.wait_for_selector("#timeline >> text=attempt 2")
        screenshot(page, "delivery-resent")

        # -- the audit names the console user for all of it
        page.goto(f"{base}/audit")
        page.wait_for_selector(f"td.actor:text-is('{USER}')")
    actors = {
        (r[0], r[1])
        for r in conn.execute(
            "SELECT actor, context FROM iu_operator_audit WHERE object_type <> 'console_user'"
            " AND context <> 'route disable'"
        )
    }
    assert {a for a, _ in actors} == {USER}
    assert {c for _, c in actors} >= {
        "route add", "route set", "route secret rotate",
        "route token set", "route enable", "deliveries resend",
    }  # fmt: skip
