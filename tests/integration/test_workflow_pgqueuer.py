"""The workflow target against a real database with pgqueuer installed by its own installer."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest

from iu_core.workflow import InstallResult, PgQueuerEngine, WorkflowTarget, not_installed
from tests.support.workflow import (
    ENTRYPOINT,
    REF,
    install,
    jobs_with_key,
    make_delivery,
    queued_jobs,
    recorded,
    run_consumer,
    uninstall,
)

NOT_INSTALLED = "pgqueuer is not installed in this database: run iu-core workflow install"


@pytest.fixture
def pgq_url(database_url: str) -> str:
    install(database_url)
    return database_url


def test_not_installed_is_a_readiness_problem_until_installed(database_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert target.readiness_problem(conn, REF) == NOT_INSTALLED == not_installed("pgqueuer")
        assert target.readiness_problem(conn, "event_outbox") is None
        assert "unknown workflow engine" in str(target.readiness_problem(conn, "celery:x"))
    assert PgQueuerEngine().install(database_url) is InstallResult.INSTALLED
    assert PgQueuerEngine().install(database_url) is InstallResult.UP_TO_DATE
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert target.readiness_problem(conn, REF) is None


def test_enqueue_rolled_back_leaves_no_job(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url) as conn:  # one transaction, like the worker's batch
        delivery = make_delivery(conn)
        conn.commit()
        (outcome,) = target.deliver_batch(conn, [delivery])
        assert outcome.status == "sent", outcome.detail
        assert jobs_with_key(conn, delivery.request.idempotency_key) == 1  # visible inside the transaction
        conn.rollback()
        assert jobs_with_key(conn, delivery.request.idempotency_key) == 0
        conn.rollback()


def test_committed_enqueue_carries_the_event(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url) as conn:
        delivery = make_delivery(conn)
        (outcome,) = target.deliver_batch(conn, [delivery])
        conn.commit()
        assert outcome.delivered and outcome.detail["entrypoint"] == ENTRYPOINT
        job_id = outcome.detail["job_id"]
        row = conn.execute(
            "SELECT entrypoint, payload, dedupe_key FROM pgqueuer WHERE id = %s", (job_id,)
        ).fetchone()
        conn.rollback()
    assert row is not None
    entrypoint, payload, key = row
    body = json.loads(bytes(payload))
    assert entrypoint == ENTRYPOINT and key == delivery.request.idempotency_key
    assert body["id"] == str(delivery.event_id)
    assert body["type"] == delivery.event_type == "structure_op_applied"
    assert body["idempotency_key"] == key
    assert body["occurred_at"].endswith("Z")
    assert body["data"] == dict(delivery.request.safe_payload) and body["data"]["operation_type"] == "split"


def test_same_key_twice_is_one_job(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        delivery = make_delivery(conn)
        first = target.deliver_batch(conn, [delivery])[0]
        second, third = target.deliver_batch(conn, [delivery, delivery])
        assert first.status == "sent" and first.detail["job_id"] is not None
        assert second.detail["job_id"] is None and second.detail["deduplicated"] is True
        assert third.detail["job_id"] is None
        assert jobs_with_key(conn, delivery.request.idempotency_key) == 1


def test_batch_enqueues_one_job_per_delivery_and_skips_the_noop(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        deliveries = [make_delivery(conn) for _ in range(5)]
        noop = make_delivery(conn, target_ref="event_outbox")
        bad = make_delivery(conn, target_ref="pgqueuer:")
        outcomes = target.deliver_batch(conn, [*deliveries[:2], noop, *deliveries[2:], bad])
        assert [o.status for o in outcomes] == ["sent", "sent", "skipped", "sent", "sent", "sent", "failed"]
        assert "stays in the outbox" in outcomes[2].detail["reason"]
        assert outcomes[-1].detail["retryable"] is False
        assert queued_jobs(conn) == 5
        assert jobs_with_key(conn, noop.request.idempotency_key) == 0


def test_missing_schema_fails_retryably_and_leaves_the_transaction_usable(pgq_url: str) -> None:
    uninstall(pgq_url)
    target = WorkflowTarget()
    with psycopg.connect(pgq_url) as conn:
        deliveries = [make_delivery(conn) for _ in range(3)]
        outcomes = target.deliver_batch(conn, deliveries)
        assert [o.status for o in outcomes] == ["failed"] * 3
        assert {o.detail["reason"] for o in outcomes} == {NOT_INSTALLED}
        assert all(o.detail["retryable"] is True for o in outcomes)
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the savepoint kept the transaction alive
        conn.rollback()


def test_locked_queue_fails_within_the_timeout_and_keeps_settings(pgq_url: str) -> None:
    target = WorkflowTarget(enqueue_timeout_s=0.5)
    with psycopg.connect(pgq_url, autocommit=True) as locker, psycopg.connect(pgq_url) as conn:
        delivery = make_delivery(conn)
        conn.commit()
        conn.execute("SET LOCAL statement_timeout = '7s'")
        with locker.transaction():
            locker.execute("LOCK TABLE pgqueuer IN ACCESS EXCLUSIVE MODE")
            (outcome,) = target.deliver_batch(conn, [delivery])
        assert outcome.status == "failed" and outcome.detail["retryable"] is True
        assert "within 0.5 s" in outcome.detail["reason"]
        assert conn.execute("SHOW statement_timeout").fetchone() == ("7s",)
        conn.rollback()


def test_settings_are_put_back_after_a_successful_enqueue(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url) as conn:
        delivery = make_delivery(conn)
        conn.execute("SET LOCAL statement_timeout = '42s'")
        (outcome,) = target.deliver_batch(conn, [delivery])
        assert outcome.status == "sent"
        assert conn.execute("SHOW statement_timeout").fetchone() == ("42s",)
        conn.rollback()


def test_two_workers_racing_on_one_key_make_one_job(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        delivery = make_delivery(conn)
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def deliver() -> None:
        with psycopg.connect(pgq_url) as own:
            barrier.wait()
            results.append(target.deliver_batch(own, [delivery])[0])
            own.commit()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.detail["job_id"] is None for o in results) == [False, True]
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        assert jobs_with_key(conn, delivery.request.idempotency_key) == 1


def test_queue_depth_per_entrypoint(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        target.deliver_batch(conn, [make_delivery(conn) for _ in range(3)])
        target.deliver_batch(conn, [make_delivery(conn, target_ref="pgqueuer:other")])
        depth = {q.entrypoint: (q.queued, q.picked) for q in PgQueuerEngine().queue_depth(conn)}
    assert depth == {ENTRYPOINT: (3, 0), "other": (1, 0)}


@pytest.mark.slow
def test_example_consumer_runs_each_enqueued_job_once(pgq_url: str) -> None:
    target = WorkflowTarget()
    with psycopg.connect(pgq_url, autocommit=True) as conn:
        deliveries = [make_delivery(conn) for _ in range(4)]
        target.deliver_batch(conn, deliveries)
        target.deliver_batch(conn, [make_delivery(conn, target_ref="pgqueuer:someone_else")])
        result = run_consumer(pgq_url, "--entrypoint", ENTRYPOINT)
        assert result.returncode == 0, result.stderr
        assert recorded(conn) == {d.event_id: 1 for d in deliveries}
        row = conn.execute(
            "SELECT event_type, idempotency_key, data->>'operation_type' FROM workflow_consumer_event "
            "WHERE event_id = %s",
            (deliveries[0].event_id,),
        ).fetchone()
        assert row == ("structure_op_applied", deliveries[0].request.idempotency_key, "split")
        assert queued_jobs(conn) == 0
        assert queued_jobs(conn, "someone_else") == 1  # another entrypoint's job is left alone
