"""The worker's log line and its metric tell the same outcome for a batch delivered in one transaction."""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
import pytest

from iu_core.metrics import REGISTRY
from iu_core.report import regenerate
from tests.support.report import ingest_small
from tests.support.routes import add_route
from tests.support.worker import once, states

ROUTE = "report.current"


def _attempts(outcome: str) -> float:
    labels = {"route": ROUTE, "target_kind": "report", "outcome": outcome}
    return REGISTRY.get_sample_value("iu_delivery_attempts_total", labels) or 0.0


def test_a_report_already_current_is_logged_skipped_as_the_metric_counts_it(
    conn: psycopg.Connection[Any], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_route(conn, ROUTE, kind="report", ref="table", live=True)
    iu = ingest_small(conn, "R-CURRENT")
    regenerate(conn, iu)  # the report already reflects every event the route will deliver
    sent_before, skipped_before = _attempts("sent"), _attempts("skipped")

    with caplog.at_level(logging.INFO, "iu_core.worker"):
        stats = once(database_url)

    delivered = states(conn, ROUTE)
    assert set(delivered) == {"skipped"}
    n = delivered["skipped"]
    assert _attempts("skipped") - skipped_before == n and _attempts("sent") == sent_before
    assert stats.skipped == n and stats.sent == 0
    logged = {"sent": 0, "skipped": 0}
    for record in caplog.records:
        line = record.getMessage()
        if line.startswith(f"batch route={ROUTE} "):
            for key in logged:
                found = re.search(rf"\b{key}=(\d+)", line)
                assert found, line
                logged[key] += int(found[1])
    assert logged == {"sent": 0, "skipped": n}
