"""A structure report opened in a real headless browser (Debian's chromium): renders offline, prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core.domain import build_demo_corpus
from iu_core.report import regenerate
from iu_core.report.files import paths
from tests.support.browser import CHROMIUM_ARGS, chromium_executable

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.mark.slow
def test_html_report_renders_outline_and_history_in_chromium(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    executable = chromium_executable()  # skips (or fails when required) without /usr/bin/chromium
    from playwright.sync_api import Route, sync_playwright

    build_demo_corpus(conn, actor="demo")
    iu = conn.execute("SELECT iu_id FROM information_unit WHERE code = 'REG-EN'").fetchone()
    assert iu is not None
    regenerate(conn, iu[0], directory=tmp_path)
    _, html_path = paths(tmp_path, "REG-EN")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report_REG-EN.png"
    fetched: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:  # a self-contained page asks for nothing else
            fetched.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", only_the_file)
            page.goto(html_path.as_uri())
            page.screenshot(path=str(screenshot), full_page=True)
            text = page.inner_text("body")
            scripts = page.evaluate("document.scripts.length")
            shown_ops = page.eval_on_selector_all(
                "table.history tbody tr td:nth-child(4)", "cells => cells.map(c => c.innerText.trim())"
            )
            narrow = browser.new_page(viewport={"width": 390, "height": 800})
            narrow.route("**/*", only_the_file)
            narrow.goto(html_path.as_uri())
            sideways = narrow.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            page.emulate_media(media="print")
            pdf = page.pdf(format="A4")
        finally:
            browser.close()

    assert fetched == []
    assert sideways == 0  # a phone reads it without scrolling sideways
    assert scripts == 0
    assert screenshot.stat().st_size > 10_000
    assert pdf.startswith(b"%PDF")
    # The outline: current labels, the deprecated clause marked.
    assert "Outline" in text
    for label in ("Chapter I", "Article 5", "Chapter III", "Article 7", "Transitional provisions"):
        assert label in text, label
    assert "deprecated" in text
    # The history: every operation, in the order applied.
    history = text.split("History", 1)[1].split("Relations", 1)[0]
    applied = conn.execute(
        "SELECT operation_type FROM iu_structure_operation WHERE iu_id = %s ORDER BY operation_seq", (iu[0],)
    ).fetchall()
    assert shown_ops == [r[0] for r in applied]
    assert len(shown_ops) == 11
    for kind in ("autocut", "reingest", "split", "merge", "move", "deprecate", "restore"):
        assert kind in history
    assert "renamed Article 7 Transitional provision to Article 7 Transitional provisions" in history
    assert "QC-VI" in text.split("Relations", 1)[1]
