"""The workflow benchmark must keep working: a tiny run of ``python -m bench.workflow_bench``."""

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
def test_tiny_workflow_bench_delivers_both_routes() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.workflow_bench", "--n", "300", "--reps", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["ratio_pgqueuer_over_sql"] > 0, last
