"""The HTTP benchmark must keep working: a tiny ``python -m bench http --quick`` end to end.

It starts its own durable embedded server and loopback receiver (as a real
run does) and checks that every figure is there and that the worker
measurements really delivered (the bench itself fails when a delivery is
missing or was not recorded as sent exactly once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_http_bench_reports_every_figure(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "http", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    files = list(tmp_path.glob("http-*.json"))
    assert len(files) == 1, proc.stderr[-2000:]
    results = json.loads(files[0].read_text())
    [one] = results["runs"]
    for name in ("receiver_ceiling", "raw_socket", "bare_h11"):
        assert one[name] > 0, name
    figures = one["this"]
    for kind in ("external_endpoint", "directus_flow"):
        run = figures[kind]
        assert run["deliveries"] == 400
        assert run["attempts"] == 400, "exactly one attempt per delivery"
        assert run["rate"] > 0 and run["claims"] > 0
        assert run["cpu_worker_s_per_1k"] > 0 and run["cpu_pg_s_per_1k"] > 0
        assert run["longest_stall_ms"] >= 0 and run["stalled_s"] >= 0
    latency = figures["latency"]
    assert latency["events"] > 0
    assert latency["p50_ms"] <= latency["p99_ms"] <= latency["p99_9_ms"] <= latency["max_ms"]
    assert "bare h11" in proc.stdout and "directus_flow" in proc.stdout and "p99.9" in proc.stdout
