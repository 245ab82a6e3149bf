"""Running the measured systems in their own processes and reading their one-line JSON reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class ProcError(RuntimeError):
    pass


def env() -> dict[str, str]:
    out = {
        k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_") or k.startswith("IU_CORE_BENCH_")
    }
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH", "")) if p)
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


def module_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and "ready" not in value:
                return value
    raise ProcError("no JSON report in the output")


def run_json(cmd: list[str], *, timeout: float) -> dict[str, Any]:
    """Run CMD to completion; its last JSON line as a dict; a failure raises with its stderr tail."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ProcError(f"{' '.join(cmd[1:4])} exited {proc.returncode}:\n{tail}")
    try:
        return last_json(proc.stdout)
    except ProcError as exc:
        raise ProcError(f"{' '.join(cmd[1:4])}: {exc}; stderr: {proc.stderr[-2000:]}") from exc


def run_quiet(cmd: list[str], *, timeout: float) -> None:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env(), cwd=REPO, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ProcError(f"{' '.join(cmd[1:4])} exited {proc.returncode}:\n{tail}")


def spawn(cmd: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO
    )
