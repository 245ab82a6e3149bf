"""The retention/soak and N-worker benchmark commands shown in the docs run as written (tiny sizes)."""

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


def test_soak_short_run_prunes_and_finishes() -> None:
    done = _run("bench.soak", "--minutes", "0.5", "--rate", "20", "--keep-s", "5")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["pruned_rows"] > 0
    assert summary["unfinished_at_end"] is not None


def test_nworkers_quick_run_keeps_order() -> None:
    done = _run("bench.nworkers_bench", "--workers", "1,2", "-n", "200", "--http-n", "100")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 4 and all(r["order_violations"] == 0 for r in rows)
