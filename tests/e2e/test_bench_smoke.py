"""The benchmark harness must keep working: a tiny ``python -m bench --quick`` end to end.

It starts its own durable embedded server (as a real benchmark run does), so it
does not use the session's test server. The peers (pgqueuer, procrastinate)
are bench-only extras (``bench/requirements.txt``): when they are not
installed, ONLY the peer test is skipped, and the skip says so; the core run
also checks that the harness reports the peers as skipped with the install hint.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PEERS_INSTALLED = all(importlib.util.find_spec(m) for m in ("pgqueuer", "asyncpg", "procrastinate"))


def run_bench(tmp_path: Path, *args: str, timeout: float = 100) -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--results-dir",
            str(tmp_path),
            "--output",
            str(tmp_path / "BENCH.md"),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    # exit 1 = the run recorded a failed measurement; the caller inspects which
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    files = list(tmp_path.glob("results-*.json"))
    assert len(files) == 1, proc.stderr[-2000:]
    return json.loads(files[0].read_text()), proc.stderr


def test_quick_run_measures_every_core_figure_and_writes_the_report(tmp_path: Path) -> None:
    results, log = run_bench(
        tmp_path,
        "-n",
        "300",
        "--backlogs",
        "100,300,600",
        "--only",
        "limit,worker,dry,http,latency,claim,peers"
        if not PEERS_INSTALLED
        else "limit,worker,dry,http,latency,claim",
    )
    figures = results["figures"]
    # The harness itself must not fail. What it may record is a finding about the
    # system under test: a run that did not do all its work (CheckFailed, with the
    # states it left) — that is the bench doing its job, not the harness rotting.
    errors = results["errors"]
    for group, message in errors.items():
        assert message.startswith(("CheckFailed:", "incomplete:")), (group, message)
    for key in (
        "limit.projection",
        "limit.audit",
        "worker.sql.c1",
        "worker.sql.c4",
        "worker.dry",
        "worker.http",
        "latency.idle.p50",
        "latency.idle.p99",
        "latency.load.p50",
        "claim.100",
        "claim.600",
    ):
        if key in figures:
            assert figures[key]["median"] > 0, key
        else:  # not measured: only because its measurement recorded a finding
            group = {"latency": key.rsplit(".", 1)[0], "claim": "claim"}.get(key.split(".")[0], key)
            assert group in errors, (key, errors)
    # when the worker delivered through HTTP, the target's latency was read back
    if "worker.http" in figures:
        assert figures["worker.http"]["extra"]["http_p50_ms"]
    assert figures["worker.sql.c1"]["extra"]["maxrss_mb"][0] > 10
    # durable server, recorded
    assert results["meta"]["postgres"]["fsync"] == "on"
    assert results["meta"]["postgres"]["synchronous_commit"] == "on"
    report = (tmp_path / "BENCH.md").read_text()
    assert "## Targets" in report and "live sql_function" in report
    if not PEERS_INSTALLED:
        assert "pip install -r bench/requirements.txt" in results["skipped"]["peers.pgqueuer"]
        assert "peers not installed" in log


@pytest.mark.skipif(
    not PEERS_INSTALLED,
    reason="pgqueuer/asyncpg/procrastinate are bench-only extras, not installed here "
    "(pip install -r bench/requirements.txt); only the peer rows are skipped",
)
def test_quick_run_measures_the_peers(tmp_path: Path) -> None:
    results, _ = run_bench(tmp_path, "--only", "peers", "--peer-n", "50", timeout=110)
    assert not results["errors"], results["errors"]
    for key in (
        "peer.pgqueuer.projection",
        "peer.pgqueuer.noop",
        "peer.procrastinate.projection",
        "peer.procrastinate.noop",
    ):
        assert results["figures"][key]["median"] > 0, key
