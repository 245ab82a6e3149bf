"""The internal-path benchmark commands shown in the docs run as written (tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=580, check=False
    )


def test_profile_reports_every_layer_and_the_batch_ratio() -> None:
    done = _run("bench", "profile", "-n", "1000", "--k", "100", "--samples", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    for layer in ("(a)", "(a')", "(b)", "(c)", "(d)"):
        assert f"| {layer} " in done.stdout
    assert "Whole worker batch (d) ÷ set-based limit with audit (a'):" in done.stdout


def test_ratio_and_pickup_run(tmp_path: Path) -> None:
    done = _run(
        "bench",
        "--quick",
        "--only",
        "limit,worker,latency",
        "-n",
        "500",
        "--no-report",
        "--results-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    (results,) = tmp_path.glob("results-*.json")
    figures = json.loads(results.read_text())["figures"]
    for key in ("limit.audit", "worker.sql.c4", "latency.idle.p50", "latency.idle.p99"):
        assert key in figures and figures[key]["values"], key
