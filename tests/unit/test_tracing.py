"""Tracing's switches and its W3C context, without a database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from iu_core import tracing
from iu_core.delivery import DeliveryRequest, EventDelivery
from iu_core.errors import IuCoreError
from iu_core.workflow.target import job_payload

HEADER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _off_after() -> Iterator[None]:
    yield
    tracing.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_off_by_default_every_hook_is_a_no_op() -> None:
    assert not tracing.enabled()
    with tracing.span("iu_core.fan_out") as span:
        assert span is None
    assert tracing.traceparent(None) is None
    assert tracing.start_attempt("r", "external_endpoint", 1, "r:e", HEADER) is None
    assert tracing.start_records([]) == []


@pytest.mark.parametrize(
    "value",
    [
        HEADER + "\n",  # a line break would end a header early
        HEADER.upper(),
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "",
    ],
)
def test_only_a_w3c_traceparent_is_taken(value: str) -> None:
    assert tracing.TRACEPARENT.match(HEADER)
    assert tracing.TRACEPARENT.match(value) is None


def test_an_attempt_continues_the_stored_context(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_TRACES_EXPORTER", "none")
    tracing.start()
    assert tracing.enabled()
    span = tracing.start_attempt("hook", "external_endpoint", 2, "hook:e", HEADER)
    assert span is not None
    header = tracing.traceparent(span)
    assert header is not None and tracing.TRACEPARENT.match(header)
    assert header.split("-")[1] == HEADER.split("-")[1]  # the same trace
    assert header.split("-")[2] != HEADER.split("-")[2]  # a span of its own
    tracing.end_attempt(span, "failed", {"reason": "HTTP 503", "retryable": True, "http_status": 503})
    fresh = tracing.start_attempt("hook", "external_endpoint", 1, "hook:f", "not a traceparent")
    assert fresh is not None and tracing.traceparent(fresh) != header
    tracing.end_attempt(fresh, "sent", {})


def test_standard_variables_choose_the_exporter(env: pytest.MonkeyPatch) -> None:
    env.setenv("OTEL_SDK_DISABLED", "true")
    tracing.start()
    assert not tracing.enabled()
    env.delenv("OTEL_SDK_DISABLED")
    env.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(IuCoreError, match="OTEL_TRACES_EXPORTER: unknown exporter 'zipkin'"):
        tracing.start()
    assert not tracing.enabled()


def test_a_workflow_job_names_the_attempt_only_when_traced() -> None:
    event_id, iu = uuid.uuid4(), uuid.uuid4()
    request = DeliveryRequest("wf", str(event_id), "workflow", "pgqueuer:x", f"wf:{event_id}", {})
    occurred = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    untraced = EventDelivery(request, event_id, 7, "structure_op_applied", iu, occurred)
    assert "traceparent" not in json.loads(job_payload(untraced))
    traced = dataclasses.replace(untraced, traceparent=HEADER)
    assert json.loads(job_payload(traced))["traceparent"] == HEADER


def test_off_nothing_of_opentelemetry_is_imported() -> None:
    """The package runs without the extra: with tracing off no module of it is loaded."""
    code = (
        "import sys\n"
        "import iu_core.cli, iu_core.domain.operations\n"
        "import iu_core.worker.completer, iu_core.worker.http_dispatcher, iu_core.worker.in_transaction\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
