"""Where the headless browser for rendering tests lives, or why a test skips.

Tests that open a page in a real browser use Debian's ``chromium`` package
(never a downloaded browser). When it is absent the test is skipped with a
reason, unless ``IU_CORE_REQUIRE_BROWSER=1`` makes its absence a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

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
