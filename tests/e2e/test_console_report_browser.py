"""An IU's structure report, opened in the console in a real browser, renders with its own styles."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.support.browser import CHROMIUM_ARGS, chromium_executable
from tests.support.cli import invoke
from tests.support.console import PASSWORD, USER, console_process, make_user

pytestmark = pytest.mark.slow


def test_the_report_page_renders_styled_under_its_csp(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    assert invoke(database_url, "report", "build", "--iu", "REG-EN").returncode == 0
    with console_process(database_url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            refused: list[str] = []
            page.on(
                "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
            )
            page.goto(f"{base}/login?next=/ius/REG-EN/report")
            page.fill("input[name=username]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("section#outline")
            # the <style> element applies: the body is capped at 60rem (960px), the table collapses
            assert page.evaluate("getComputedStyle(document.body).maxWidth") == "960px"
            assert (
                page.evaluate("getComputedStyle(document.querySelector('table')).borderCollapse")
                == "collapse"
            )
            # and so do the style attributes that indent the outline
            margins = page.evaluate(
                "[...document.querySelectorAll('ol.outline li')].map(li => getComputedStyle(li).marginLeft)"
            )
            assert "0px" in margins and any(m != "0px" for m in margins)
            assert refused == []
        finally:
            browser.close()
