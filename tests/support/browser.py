"""Where the headless browser for rendering tests lives, or why a test skips.

Tests that open a page in a real browser use Debian's ``chromium`` package
(never a downloaded browser). When it is absent the test is skipped with a
reason, unless ``IU_CORE_REQUIRE_BROWSER=1`` makes its absence a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# Arguments for a headless run that never reaches the network on its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_executable() -> str:
    """Path of the system chromium; skips (or fails when required) without it."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    reason = f"{CHROMIUM} is not installed (Debian package 'chromium')"
    if os.environ.get("IU_CORE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"IU_CORE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def chromium_page(width: int = 1440, height: int = 900, *, bypass_csp: bool = False) -> Iterator[Any]:
    """A page of the system chromium (confirmations accepted), closed with its browser afterwards.

    ``bypass_csp`` lets a test inject its own script (axe-core) into pages whose
    policy allows only the console's scripts.
    """
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=bypass_csp)
            page.on("dialog", lambda dialog: dialog.accept())  # the console's confirmations
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def log_in(page: Any, base: str, user: str, password: str) -> None:
    """Log in to the console at ``base`` and wait for the overview."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Overview')")


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"


def screenshot(page: Any, name: str, *, docs: bool = False) -> None:
    """The whole page to tests/artifacts/console-NAME.png (also to docs/img/ when
    IU_CORE_UPDATE_README_IMAGES=1 and ``docs``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)
    if docs and os.environ.get("IU_CORE_UPDATE_README_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"console-{name}.png", DOC_IMAGES / f"console-{name}.png")


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0 or less: no horizontal scroll)."""
    return int(
        page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# axe-core on the page: the serious and critical violations, one line each with where they are.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.impact} ${v.id}: ${v.help} -- ` + v.nodes.slice(0, 4)
      .map(n => n.target.join(' ')
        + (n.failureSummary ? ' (' + n.failureSummary.replace(/\\s+/g, ' ') + ')' : ''))
      .join(' | '));
}"""


def axe_violations(page: Any) -> list[str]:
    """The serious and critical accessibility violations axe-core finds on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return list(page.evaluate(AXE_RUN))
