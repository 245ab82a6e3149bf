"""The report benchmark runs exactly as BENCHMARKS.md shows it (numbers are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_report_bench_command_runs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.report_bench"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "| table |" in result.stdout and "| dir |" in result.stdout and "| current |" in result.stdout
    assert "502 pieces" in result.stdout
