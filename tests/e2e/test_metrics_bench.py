"""The metrics benchmark must keep working: a tiny ``python -m bench.metrics_bench`` end to end.

It starts its own durable embedded server and loopback receiver, as a real
run does, and fails by itself when a run did not deliver every event or when
no scrape carried the metrics; here every figure it reports is checked too.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def test_tiny_metrics_bench_reports_both_kinds_with_and_without_metrics() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    args = ["--n", "300", "--http-n", "200", "--reps", "2", "--scrape-interval", "0.2"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.metrics_bench", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    assert len(runs) == 8  # 2 repetitions x 2 kinds x metrics off / on
    for kind, n in (("sql_function", 300), ("external_endpoint", 200)):
        mine = [r for r in runs if r["kind"] == kind]
        assert [r["metrics"] for r in mine] == [False, True, True, False]  # interleaved
        assert all(r["n"] == n and r["rate"] > 0 and r["load_before"] >= 0 for r in mine)
        assert all(r["scrapes"] >= 1 for r in mine if r["metrics"])
        summary = result["summary"][kind]
        assert len(summary["cost_us_paired"]) == len(summary["ratio_paired"]) == 2
        assert summary["ratio_on_over_off"] == pytest.approx(statistics.median(summary["ratio_paired"]))
        assert summary["ratio_of_medians"] == pytest.approx(summary["rate_on"] / summary["rate_off"])
    assert result["counting_us_per_delivery"] > 0
    assert result["server"]["fsync"] == "on"
    assert "µs per delivery" in proc.stdout and "(load " in proc.stdout
