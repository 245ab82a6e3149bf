"""End to end: the samples and their story, two live report routes (table and dir:), the worker.

Runs the real CLI in subprocesses, as an operator would: after one
``iu-core worker --once`` the reports show the current tree and the full
history in order; after one more operation and one more run they show it too.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core.report.files import strip_marker

ROUTES = {"report.table": "table", "report.files": None}  # the dir: ref is per test


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stderr}"
    return result.stdout


def _walk(node: dict[str, Any]) -> list[str]:
    """Active piece ids of a `tree --json` in document order."""
    if node["status"] != "active":
        return []
    return [node["piece_id"], *(pid for kid in node["children"] for pid in _walk(kid))]


def _check_reports(cli: Any, database_url: str, out: Path) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        dead = conn.execute(
            "SELECT route_code, reason FROM iu_route_dead_letter WHERE route_code LIKE 'report.%'"
        ).fetchall()
        assert dead == []
        for code in ("REG-EN", "QC-VI"):
            doc = json.loads(_ok(cli("report", "show", code, "--format", "json")))
            tree = json.loads(_ok(cli("tree", code, "--json")))
            root = tree["root"]
            outline = [o["piece_id"] for o in doc["outline"] if o["status"] == "active"]
            assert outline == _walk(root), code
            ops = json.loads(_ok(cli("op", "list", "--iu", code, "--json")))
            ops = ops.get("operations", ops) if isinstance(ops, dict) else ops
            assert [h["operation_type"] for h in doc["history"]] == [o["operation_type"] for o in ops]
            newest = conn.execute(
                "SELECT max(event_seq) FROM event_outbox WHERE aggregate_id = %s", (doc["unit"]["iu_id"],)
            ).fetchone()
            assert newest is not None and doc["generated"]["event_seq"] == newest[0]
            md = strip_marker((out / f"{code}.md").read_text(encoding="utf-8"))
            assert "## Outline" in md and "## History" in md
            listed = re.findall(r"^\d+\. \*\*(\w+)\*\*", md, flags=re.MULTILINE)
            assert listed == [o["operation_type"] for o in ops]
            html = (out / f"{code}.html").read_text(encoding="utf-8")
            assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


@pytest.mark.slow
@pytest.mark.timeout(360)  # two worker runs of up to 120 s each plus a dozen short commands
def test_live_report_routes_keep_reports_current(cli: Any, database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    refs = {**ROUTES, "report.files": f"dir:{out}"}
    _ok(cli("gate", "open"))
    for route, ref in refs.items():
        _ok(cli("route", "add", route, "--event-type", "structure_op_applied",
                "--target-kind", "report", "--target-ref", str(ref)))  # fmt: skip
    _ok(cli("allowlist", "add", *refs))
    for route in refs:
        _ok(cli("route", "set", route, "--live"))
    _ok(cli("samples", "seed", "--actor", "editor"))

    _ok(cli("worker", "--once", timeout=120))
    _check_reports(cli, database_url, out)

    # One more change, one more run: both destinations follow.
    tree = json.loads(_ok(cli("tree", "REG-EN", "--json")))
    root = tree["root"]
    chapter = next(kid for kid in root["children"][0]["children"] if kid["label"] == "Chapter III")
    _ok(cli("op", "rename", chapter["piece_id"], "--heading", "Closing provisions", "--actor", "auditor"))
    _ok(cli("worker", "--once", timeout=120))
    _check_reports(cli, database_url, out)
    shown = _ok(cli("report", "show", "REG-EN"))
    assert "**Chapter III** Closing provisions" in shown
    assert "renamed Chapter III Final provisions to Chapter III Closing provisions" in shown
    assert "by auditor" in shown
