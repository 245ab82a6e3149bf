"""The workflow target_ref grammar and the job payload (no database)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from iu_core.delivery.transactional import EventDelivery, TransactionalTarget
from iu_core.delivery_seam import DeliveryRequest
from iu_core.workflow import NOOP_REF, RefError, WorkflowTarget, job_payload, parse_ref

ENGINES = {"pgqueuer"}


@pytest.mark.parametrize(
    ("ref", "engine", "entrypoint"),
    [
        ("event_outbox", None, None),
        ("pgqueuer:reindex", "pgqueuer", "reindex"),
        ("pgqueuer:notify.reviewers", "pgqueuer", "notify.reviewers"),
        ("pgqueuer:_export-v2", "pgqueuer", "_export-v2"),
        ("pgqueuer:" + "a" * 100, "pgqueuer", "a" * 100),
    ],
)
def test_valid_refs(ref: str, engine: str | None, entrypoint: str | None) -> None:
    parsed = parse_ref(ref, ENGINES)
    assert (parsed.engine, parsed.entrypoint) == (engine, entrypoint)
    assert parsed.noop is (ref == NOOP_REF)


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("", "is not valid"),
        ("reindex", "is not valid"),
        ("event_outbox:x", "unknown workflow engine 'event_outbox'"),
        ("procrastinate:reindex", "unknown workflow engine 'procrastinate'"),
        ("PGQUEUER:reindex", "unknown workflow engine"),
        ("pgqueuer:", "malformed entrypoint ''"),
        ("pgqueuer: reindex", "malformed entrypoint"),
        ("pgqueuer:re index", "malformed entrypoint"),
        ("pgqueuer:9lives", "malformed entrypoint"),
        ("pgqueuer:a;drop", "malformed entrypoint"),
        ("pgqueuer:x:y", "malformed entrypoint"),
        ("pgqueuer:" + "a" * 101, "malformed entrypoint"),
    ],
)
def test_refused_refs(ref: str, says: str) -> None:
    with pytest.raises(RefError, match=says):
        parse_ref(ref, ENGINES)
    problem = WorkflowTarget().ref_problem(ref)
    assert problem is not None and says.split("'")[0] in problem
    assert "\n" not in problem


def test_target_is_transactional_and_names_its_engines() -> None:
    target = WorkflowTarget()
    assert isinstance(target, TransactionalTarget)
    assert target.target_kind == "workflow"
    assert set(target.engines) == {"pgqueuer"}
    assert target.ref_problem("pgqueuer:reindex") is None
    assert target.ref_problem("event_outbox") is None


def test_payload_is_stable_json_bytes() -> None:
    event_id, iu = uuid.uuid4(), uuid.uuid4()
    request = DeliveryRequest(
        route_code="wf",
        event_ref=str(event_id),
        target_kind="workflow",
        target_ref="pgqueuer:reindex",
        idempotency_key=f"wf:{event_id}",
        safe_payload={"iu_id": str(iu), "title": "Quy chế ví"},
    )
    occurred = dt.datetime(2025, 1, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    delivery = EventDelivery(request, event_id, 7, "structure_op_applied", iu, occurred)
    body = job_payload(delivery)
    assert body == job_payload(delivery)
    assert json.loads(body) == {
        "id": str(event_id),
        "type": "structure_op_applied",
        "occurred_at": "2025-01-02T03:00:00Z",
        "aggregate_id": str(iu),
        "idempotency_key": f"wf:{event_id}",
        "data": {"iu_id": str(iu), "title": "Quy chế ví"},
    }
    assert "Quy chế ví".encode() in body
