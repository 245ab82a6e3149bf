"""One event, one trace: from ``iu-core op split --otel`` through the worker to the receiver's request.

The spans are read from the OpenTelemetry SDK's in-memory exporter; the
receiver is a real HTTP server on 127.0.0.1 that records the headers it got.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from iu_core import tracing
from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.targets.http import sync as http_sync
from iu_core.worker import WorkerConfig, run_worker
from tests.support.receivers import Receiver, Reply, add_route, set_secret

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTE = "hook.trace"
DOC = "# Rules\n\n## Article 1. Scope\n\nThe first paragraph.\n\nThe second paragraph.\n"


@pytest.fixture(autouse=True)
def _untraced_after() -> Iterator[None]:
    yield
    tracing.stop()
    http_sync.close()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, every ended span kept in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use(provider)
    yield memory
    tracing.stop()
    provider.shutdown()


def _article(cli: Any, tmp_path: Path) -> str:
    doc = tmp_path / "rules.md"
    doc.write_text(DOC, encoding="utf-8")
    assert cli("ingest", str(doc), "--code", "RULES").returncode == 0
    tree = json.loads(cli("tree", "RULES", "--json").stdout)
    article: str = tree["root"]["children"][0]["piece_id"]
    return article


def _statuses(conn: psycopg.Connection[Any], event_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT status FROM iu_route_attempt WHERE route_code = %s AND event_ref = %s ORDER BY attempt_no",
        (ROUTE, event_id),
    ).fetchall()
    return [r[0] for r in rows]


def _deliver(
    cli: Any, conn: psycopg.Connection[Any], event_id: str, *options: str, attempts: int = 1
) -> None:
    """``iu-core worker --once`` until the event has ``attempts`` recorded attempts (bounded)."""
    for _ in range(10):
        done = cli("worker", "--once", "--routes", ROUTE, *options)
        assert done.returncode == 0, done.stderr
        if len(_statuses(conn, event_id)) >= attempts:
            return
    raise AssertionError("the worker recorded no attempt")


def _tp(trace_id: int, span: ReadableSpan) -> str:
    """The traceparent naming ``span`` in the trace ``trace_id``."""
    ctx = span.context
    return f"00-{trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _one(spans: list[ReadableSpan], name: str, **attributes: Any) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name and all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, [(s.name, s.attributes) for s in spans]
    return found[0]


def _child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return span.parent is not None and span.parent.span_id == parent.context.span_id


def _of_event(spans: list[ReadableSpan], name: str, event_id: str) -> list[ReadableSpan]:
    webhook_id = f"{ROUTE}:{event_id}"
    return [
        s for s in spans if s.name == name and (s.attributes or {}).get("iu_core.webhook_id") == webhook_id
    ]


def test_one_trace_from_the_split_to_the_receivers_request(
    conn: psycopg.Connection[Any], cli: Any, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    with Receiver() as rx:
        article = _article(cli, tmp_path)
        add_route(conn, ROUTE, rx.url)  # after the ingest: only the split's event goes to it
        set_secret(conn, ROUTE, SECRET)
        exporter.clear()  # the ingest's own spans are not this story
        split = cli("op", "split", article, "--offset", "4", "--otel", "--json")
        assert split.returncode == 0, split.stderr
        [event_id] = json.loads(split.stdout)["event_ids"]
        _deliver(cli, conn, event_id, "--otel")

    spans = list(exporter.get_finished_spans())
    operation = _one(spans, "iu_core.operation split")
    fan_out = _one(spans, "iu_core.fan_out", **{"iu_core.event_id": event_id})
    [attempt] = _of_event(spans, "iu_core.delivery.attempt", event_id)
    [record] = [s for s in spans if s.name == "iu_core.delivery.record" and _child_of(s, attempt)]
    trace_id = operation.context.trace_id
    assert {s.context.trace_id for s in (fan_out, attempt, record)} == {trace_id}

    # the chain: operation <- fan-out (the outbox INSERT) <- attempt <- record
    assert operation.parent is None
    assert fan_out.parent is not None and fan_out.parent.span_id == operation.context.span_id
    assert attempt.parent is not None and attempt.parent.span_id == fan_out.context.span_id
    assert record.parent is not None and record.parent.span_id == attempt.context.span_id
    assert operation.attributes is not None and operation.attributes["iu_core.operation.type"] == "split"
    assert fan_out.attributes is not None and fan_out.attributes["iu_core.event_id"] == event_id

    # the outbox row holds the fan-out span's context, written in the operation's transaction
    stored = conn.execute("SELECT traceparent FROM event_outbox WHERE event_id = %s", (event_id,)).fetchone()
    assert stored == (_tp(trace_id, fan_out),)

    # the receiver got the attempt's context: same trace, the attempt span as its parent
    [seen] = [s for s in rx.seen if s.headers["webhook-id"] == f"{ROUTE}:{event_id}"]
    header = seen.headers["traceparent"]
    assert tracing.TRACEPARENT.match(header)
    assert header == _tp(trace_id, attempt)
    assert attempt.attributes == {
        "iu_core.route": ROUTE,
        "iu_core.target_kind": "external_endpoint",
        "iu_core.attempt_no": 1,
        "iu_core.webhook_id": seen.headers["webhook-id"],
        "iu_core.outcome": "sent",
        "http.response.status_code": 200,
    }
    assert seen.headers["webhook-id"] == f"{ROUTE}:{event_id}"
    assert record.attributes is not None and record.attributes["iu_core.outcome"] == "sent"


def test_a_failed_attempt_is_an_error_span_and_the_retry_a_second_one(
    conn: psycopg.Connection[Any], cli: Any, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    with Receiver(Reply(status=503, body=b"busy")) as rx:
        article = _article(cli, tmp_path)
        add_route(conn, ROUTE, rx.url)  # after the ingest: only the split's event goes to it
        set_secret(conn, ROUTE, SECRET)
        split = cli("op", "split", article, "--offset", "4", "--otel", "--json")
        [event_id] = json.loads(split.stdout)["event_ids"]
        _deliver(cli, conn, event_id, "--otel")
        rx.default = Reply()
        conn.execute("UPDATE iu_delivery SET available_at = now() WHERE route_code = %s", (ROUTE,))
        _deliver(cli, conn, event_id, "--otel", attempts=2)
    assert _statuses(conn, event_id) == ["failed", "sent"]

    spans = list(exporter.get_finished_spans())
    attempts = sorted(
        _of_event(spans, "iu_core.delivery.attempt", event_id),
        key=lambda s: (s.attributes or {}).get("iu_core.attempt_no", 0),
    )
    assert [(s.attributes or {}).get("iu_core.outcome") for s in attempts] == ["failed", "sent"]
    assert not attempts[0].status.is_ok and "503" in (attempts[0].status.description or "")
    fan_out = _one(spans, "iu_core.fan_out", **{"iu_core.event_id": event_id})
    assert [s.parent.span_id for s in attempts if s.parent] == [fan_out.context.span_id] * 2
    sent = [s.headers["traceparent"] for s in rx.seen if s.headers["webhook-id"] == f"{ROUTE}:{event_id}"]
    assert sent == [_tp(fan_out.context.trace_id, a) for a in attempts]


def test_tracing_off_sends_no_header_and_stores_nothing(
    conn: psycopg.Connection[Any], cli: Any, tmp_path: Path
) -> None:
    assert not tracing.enabled()
    with Receiver() as rx:
        article = _article(cli, tmp_path)
        add_route(conn, ROUTE, rx.url)  # after the ingest: only the split's event goes to it
        set_secret(conn, ROUTE, SECRET)
        split = cli("op", "split", article, "--offset", "4", "--json")
        assert split.returncode == 0, split.stderr
        [event_id] = json.loads(split.stdout)["event_ids"]
        _deliver(cli, conn, event_id)
    assert rx.seen
    assert all("traceparent" not in {name.lower() for name in seen.headers} for seen in rx.seen)
    stored = conn.execute("SELECT count(*), count(traceparent) FROM event_outbox").fetchone()
    assert stored is not None and stored[0] > 0 and stored[1] == 0
    assert not tracing.enabled()


def test_the_outbox_refuses_a_traceparent_that_is_not_w3c(conn: psycopg.Connection[Any]) -> None:
    insert = (
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload, traceparent)"
        " VALUES ('iu_gate_opened', 'dot_config', gen_random_uuid(),"
        " '{\"schema_version\": \"1.0\", \"by\": \"tracing-test\"}', %s)"
    )
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with conn.transaction():
        conn.execute(insert, (good,))
    for bad in (
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # no trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # no parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y",  # a header smuggled in
    ):
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(insert, (bad,))


def test_otel_without_the_sdk_is_one_error_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # import fails as if not installed
    done = cli("op", "split", "abcd", "--offset", "4", "--otel")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --otel needs the OpenTelemetry SDK: pip install 'iu-core[otel]'"
    assert not tracing.enabled()


def test_a_workflow_job_carries_the_attempts_traceparent(
    conn: psycopg.Connection[Any], cli: Any, database_url: str, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    from tests.support import routes, workflow

    workflow.install(database_url)
    article = _article(cli, tmp_path)
    routes.add_route(conn, ROUTE, kind="workflow", ref=workflow.REF, live=True)
    split = cli("op", "split", article, "--offset", "4", "--otel", "--json")
    [event_id] = json.loads(split.stdout)["event_ids"]
    _deliver(cli, conn, event_id, "--otel")
    assert _statuses(conn, event_id) == ["sent"]

    spans = list(exporter.get_finished_spans())
    operation = _one(spans, "iu_core.operation split")
    [attempt] = _of_event(spans, "iu_core.delivery.attempt", event_id)
    [record] = [s for s in spans if s.name == "iu_core.delivery.record" and _child_of(s, attempt)]
    assert attempt.context.trace_id == operation.context.trace_id == record.context.trace_id
    assert (attempt.attributes or {}).get("iu_core.target_kind") == "workflow"
    row = conn.execute(
        "SELECT payload FROM pgqueuer WHERE dedupe_key = %s", (f"{ROUTE}:{event_id}",)
    ).fetchone()
    assert row is not None
    body = json.loads(bytes(row[0]))
    assert body["traceparent"] == _tp(operation.context.trace_id, attempt)
    assert body["id"] == event_id


class _Accepting:
    """A seam target of the caller's own: it accepts every delivery and keeps the current span."""

    def __init__(self) -> None:
        self.requests: list[DeliveryRequest] = []

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        self.requests.append(request)
        return DeliveryOutcome(status="sent", delivered=True, target_kind=request.target_kind, detail={})


def test_a_callers_own_target_is_traced_the_same(
    conn: psycopg.Connection[Any], cli: Any, database_url: str, tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    article = _article(cli, tmp_path)
    add_route(
        conn, ROUTE, "http://127.0.0.1:9/hook"
    )  # never reached: the caller's target replaces the kind's
    split = cli("op", "split", article, "--offset", "4", "--otel", "--json")
    [event_id] = json.loads(split.stdout)["event_ids"]
    target = _Accepting()
    run_worker(database_url, WorkerConfig(routes=(ROUTE,)), once=True, targets={"external_endpoint": target})
    assert _statuses(conn, event_id) == ["sent"] and len(target.requests) == 1

    spans = list(exporter.get_finished_spans())
    fan_out = _one(spans, "iu_core.fan_out", **{"iu_core.event_id": event_id})
    [attempt] = _of_event(spans, "iu_core.delivery.attempt", event_id)
    assert _child_of(attempt, fan_out) and (attempt.attributes or {}).get("iu_core.outcome") == "sent"
    assert [s for s in spans if s.name == "iu_core.delivery.record" and _child_of(s, attempt)]
