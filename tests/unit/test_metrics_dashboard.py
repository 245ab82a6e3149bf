"""The Grafana dashboard uses only metric names that iu_core.metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from iu_core.cli.console import is_loopback
from iu_core.console.chart import Minute, render

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "iu-core.json"
EXPORTED = {
    "iu_delivery_attempts_total",
    "iu_delivery_duration_seconds_bucket",
    "iu_deliveries_dead_lettered_total",
    "iu_outbox_pending",
    "iu_outbox_oldest_pending_age_seconds",
    "iu_dead_letters_open",
    "iu_delivery_gate_open",
    "iu_route_live",
    "iu_circuit_open",
}


def test_dashboard_queries_only_exported_metrics_and_shows_them_all() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\biu_[a-z_]+", e)}
    assert used == EXPORTED


def test_loopback_detection_for_the_bind_warning() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_chart_is_numbers_only_svg() -> None:
    import datetime as dt

    start = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    minutes = [Minute(start + dt.timedelta(minutes=i), i % 3, i % 2, float(i)) for i in range(60)]
    svg = str(render(minutes))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="sent"') == sum(1 for m in minutes if m.sent)
    assert svg.count('class="failed"') == sum(1 for m in minutes if m.failed)
    assert "10:00" in svg and "10:59 UTC" in svg
