"""``--otel`` on real processes: spans exported over OTLP/HTTP to a collector on 127.0.0.1.

``iu-core op split --otel`` and ``IU_CORE_OTEL=1 iu-core worker --once`` each
export their spans to the endpoint ``OTEL_EXPORTER_OTLP_ENDPOINT`` names; the
collector here decodes them, and the webhook receiver's ``traceparent`` names
the same trace as the operation's span.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.receivers import Receiver, Reply, add_route, set_secret

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTE = "hook.otlp"
DOC = "# Rules\n\n## Article 1. Scope\n\nThe first paragraph.\n\nThe second paragraph.\n"


def _exported(collector: Receiver) -> list[tuple[str, str, bytes, bytes, bytes]]:
    """(service.name, span name, trace id, span id, parent span id) of every span the collector got."""
    found = []
    for seen in collector.seen:
        assert seen.path == "/v1/traces"
        assert seen.headers["content-type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(seen.body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                found += [(service, s.name, s.trace_id, s.span_id, s.parent_span_id) for s in scope.spans]
    return found


@pytest.mark.slow
def test_op_and_worker_export_one_trace_over_otlp(
    cli: Any, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    doc = tmp_path / "rules.md"
    doc.write_text(DOC, encoding="utf-8")
    assert cli("ingest", str(doc), "--code", "RULES").returncode == 0
    article = json.loads(cli("tree", "RULES", "--json").stdout)["root"]["children"][0]["piece_id"]
    with Receiver(Reply(body=b"")) as collector, Receiver() as hook:
        add_route(conn, ROUTE, hook.url)
        set_secret(conn, ROUTE, SECRET)
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
            "OTEL_SERVICE_NAME": "iu-core-e2e",
            "NO_PROXY": "127.0.0.1",
        }
        split = cli("op", "split", article, "--offset", "4", "--otel", "--json", env=otel)
        assert split.returncode == 0, split.stderr
        [event_id] = json.loads(split.stdout)["event_ids"]
        for _ in range(10):
            done = cli("worker", "--once", "--routes", ROUTE, env={**otel, "IU_CORE_OTEL": "1"})
            assert done.returncode == 0, done.stderr
            if hook.seen:
                break
        spans = _exported(collector)

    [seen] = hook.seen
    _, trace_hex, attempt_hex, _ = seen.headers["traceparent"].split("-")
    by_name = {name: (service, trace, span, parent) for service, name, trace, span, parent in spans}
    assert set(by_name) == {
        "iu_core.operation split",
        "iu_core.fan_out",
        "iu_core.delivery.attempt",
        "iu_core.delivery.record",
    }
    assert {service for service, *_ in by_name.values()} == {"iu-core-e2e"}
    assert {trace.hex() for _, trace, _, _ in by_name.values()} == {trace_hex}
    assert by_name["iu_core.delivery.attempt"][2].hex() == attempt_hex
    assert by_name["iu_core.delivery.attempt"][3] == by_name["iu_core.fan_out"][2]
    assert by_name["iu_core.fan_out"][3] == by_name["iu_core.operation split"][2]
    assert by_name["iu_core.delivery.record"][3] == by_name["iu_core.delivery.attempt"][2]
    stored = conn.execute("SELECT traceparent FROM event_outbox WHERE event_id = %s", (event_id,)).fetchone()
    assert stored is not None and stored[0].split("-")[1] == trace_hex
