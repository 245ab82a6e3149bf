"""The target contract for the ``report`` kind: a ``table`` target bound to a real database.

Each request is for a fresh IU's autocut event, so a report row stands for
exactly one key; its ``generation`` counts how often that delivery wrote it.
The unconfigured target runs against the same database with the report
table missing (renamed inside a transaction that is rolled back).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from iu_core.delivery.transactional import bind
from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.report import ReportTarget
from tests.contract.base import TargetContract, TargetHarness
from tests.support.report import events_of, ingest_small, request_for

Conn = psycopg.Connection[Any]


class _WithoutReportTable:
    """A report target on a database whose report schema is not installed."""

    target_kind = "report"

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.bound = bind(ReportTarget(), conn)

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        with self.conn.transaction(force_rollback=True):
            self.conn.execute("ALTER TABLE iu_structure_report RENAME TO iu_structure_report_absent")
            return self.bound.deliver(request)


class TestReportContract(TargetContract):
    target_kind = "report"

    @pytest.fixture
    def harness(self, conn: Conn) -> Iterator[TargetHarness]:
        numbers = itertools.count(1)

        def make_request() -> DeliveryRequest:
            iu = ingest_small(conn, f"CT-{next(numbers)}")
            event_id = events_of(conn, iu, "structure_op_applied")[-1][0]
            return request_for(event_id)

        def effects(key: str) -> int:
            event_id = uuid.UUID(key.split(":", 1)[1])
            row = conn.execute(
                "SELECT r.generation FROM iu_structure_report r "
                "JOIN event_outbox e ON e.aggregate_id = r.iu_id WHERE e.event_id = %s",
                (event_id,),
            ).fetchone()
            return 0 if row is None else int(row[0])

        yield TargetHarness(
            target=bind(ReportTarget(), conn),
            make_request=make_request,
            effects=effects,
            unconfigured=_WithoutReportTable(conn),
        )

    def test_unconfigured_reason_names_the_fix(self, harness: TargetHarness) -> None:
        outcome = harness.unconfigured.deliver(harness.make_request())
        assert outcome.status == "failed"
        assert "iu-core db migrate" in str(outcome.detail["reason"])
