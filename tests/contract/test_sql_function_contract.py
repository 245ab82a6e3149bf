"""The contract, run against the sql_function target: the SQL seam and the registered structure consumer."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from iu_core.delivery_seam import DeliveryRequest
from iu_core.targets.sql_function import SqlFunctionTarget
from tests.contract.base import TargetContract, TargetHarness
from tests.support.routes import add_route, set_gate
from tests.support.seam import CONSUMER, structure_payload

ROUTE = "contract.sql"
TIMEOUT_S = 1.0


def _live_route(conn: psycopg.Connection[Any], consumer: str) -> None:
    """Gate open, ROUTE allowlisted and live to ``consumer`` (the guard's order)."""
    add_route(conn, ROUTE, ref=consumer, live=True)


class TestSqlFunctionContract(TargetContract):
    target_kind = "sql_function"

    @pytest.fixture
    def harness(
        self, conn: psycopg.Connection[Any], database_url: str, other_database_url: str
    ) -> Iterator[TargetHarness]:
        _live_route(conn, CONSUMER)
        keys: dict[str, str] = {}

        def make_request() -> DeliveryRequest:
            payload = structure_payload()
            row = conn.execute(
                "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)"
                " VALUES ('structure_op_applied', 'information_unit', %s, %s) RETURNING event_id",
                (payload["iu_id"], Jsonb(payload)),
            ).fetchone()
            assert row is not None
            event = str(row[0])
            key = f"{ROUTE}:{event}"
            keys[key] = event
            return DeliveryRequest(
                route_code=ROUTE,
                event_ref=event,
                target_kind="sql_function",
                target_ref=CONSUMER,
                idempotency_key=key,
                safe_payload=payload,
            )

        def effects(key: str) -> int:
            event = keys.get(key, str(uuid.uuid4()))
            row = conn.execute(
                "SELECT count(*) FROM iu_tree_change_log WHERE event_ref = %s", (event,)
            ).fetchone()
            assert row is not None
            return int(row[0])

        @contextlib.contextmanager
        def slow() -> Iterator[None]:
            # Another session holds a lock that blocks every insert into the projection.
            with psycopg.connect(database_url) as blocker:
                blocker.execute("LOCK TABLE iu_tree_change_log IN SHARE ROW EXCLUSIVE MODE")
                yield
                blocker.rollback()

        # Another installation where the same route is live but names no registered consumer.
        with psycopg.connect(other_database_url, autocommit=True) as other:
            _live_route(other, "no_such_consumer")
            yield TargetHarness(
                target=SqlFunctionTarget(conn, timeout_s=TIMEOUT_S),
                make_request=make_request,
                effects=effects,
                unconfigured=SqlFunctionTarget(other, timeout_s=TIMEOUT_S),
                slow=slow,
                deadline_s=10.0,
            )

    def test_a_refusal_writes_nothing_and_says_why(
        self, harness: TargetHarness, conn: psycopg.Connection[Any]
    ) -> None:
        set_gate(conn, False)
        request = harness.make_request()
        outcome = harness.target.deliver(request)
        assert outcome.status == "failed" and outcome.delivered is False
        assert outcome.detail["sqlstate"] == "IU001" and outcome.detail["retryable"] is True
        assert "gate is closed" in outcome.detail["reason"]
        assert harness.effects(request.idempotency_key) == 0

    def test_a_malformed_event_is_not_retryable(self, harness: TargetHarness) -> None:
        request = harness.make_request()
        broken = DeliveryRequest(
            route_code=request.route_code,
            event_ref=request.event_ref,
            target_kind=request.target_kind,
            target_ref=request.target_ref,
            idempotency_key=request.idempotency_key,
            safe_payload={**request.safe_payload, "iu_id": "not-a-uuid"},
        )
        outcome = harness.target.deliver(broken)
        assert outcome.status == "failed"
        assert outcome.detail["sqlstate"] == "IU006" and outcome.detail["retryable"] is False
        assert harness.effects(request.idempotency_key) == 0

    def test_inside_a_caller_transaction_a_failure_spoils_nothing(
        self, harness: TargetHarness, database_url: str
    ) -> None:
        first, bad = harness.make_request(), harness.make_request()
        bad = DeliveryRequest(
            route_code=bad.route_code,
            event_ref=bad.event_ref,
            target_kind=bad.target_kind,
            target_ref=bad.target_ref,
            idempotency_key=bad.idempotency_key,
            safe_payload={},
        )
        with psycopg.connect(database_url) as tx:
            tx.execute("SELECT 1")  # the caller's transaction is open, as after a claim
            target = SqlFunctionTarget(tx)
            assert target.deliver(first).status == "sent"
            assert target.deliver(bad).status == "failed"
            timeout = tx.execute("SELECT current_setting('statement_timeout')").fetchone()
            assert timeout == ("0",)  # the caller's setting is back
            assert harness.effects(first.idempotency_key) == 0  # not committed yet
            tx.commit()
        assert harness.effects(first.idempotency_key) == 1
        assert harness.effects(bad.idempotency_key) == 0
