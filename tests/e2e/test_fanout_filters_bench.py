"""The route-filter fan-out benchmark must keep working: a tiny run of ``python -m bench.fanout_filters``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)  # the bench run's own limit is 240 s, never the global 120 s
def test_tiny_fanout_filters_bench_checks_its_deliveries_and_reports_ratios() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fanout_filters", "--single", "20", "--samples", "2", "--reps", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    last = json.loads(lines[-1])
    assert set(last["median"]) == {
        "before filters", "0 filtered", "10 filtered", "100 filtered", "10 unfiltered", "100 unfiltered"
    }  # fmt: skip
    assert all(m["events_per_s"] > 0 for m in last["median"].values())
    assert any(line.startswith("| 100 filtered |") for line in lines)
