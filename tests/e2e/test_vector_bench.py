"""The vector benchmark's quick command, as BENCHMARKS.md shows it, runs and reports."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "BENCHMARKS.md"


@pytest.mark.slow
def test_quick_benchmark_command_reports_every_figure() -> None:
    line = next(x for x in DOC.read_text(encoding="utf-8").splitlines() if "--pieces 2000" in x)
    args = shlex.split(line)
    assert args[:3] == [".venv/bin/python", "-m", "bench.vector_bench"]
    done = subprocess.run(
        [sys.executable, *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["indexing_e5"]["pieces"] > 0 and report["indexing_hashing"]["pieces_per_s"] > 0
    assert report["search"]["plan_uses_hnsw"] is True
    assert 0.0 < report["search"]["recall_at_10"] <= 1.0
    assert set(report["quality"]) >= {"en", "vi"}
    assert report["memory"]["peak_rss_mb_e5"] > 0
