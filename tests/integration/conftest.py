"""The integration layer runs in-process: its ``cli`` is click's runner, not a subprocess."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from tests.conftest import CliRunner
from tests.support.cli import invoke


@pytest.fixture
def cli(database_url: str) -> CliRunner:
    """Run ``iu-core ARGS…`` against this test's database, in this process."""

    def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return invoke(database_url, *args, **kwargs)

    return run
