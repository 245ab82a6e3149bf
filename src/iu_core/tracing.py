"""OpenTelemetry tracing, off by default: one trace from a structure operation to the receiver.

With ``--otel`` (``iu-core op``, ``iu-core worker``; env ``IU_CORE_OTEL``)
the process records spans through the OpenTelemetry SDK and exports them as
the standard ``OTEL_*`` variables say (``OTEL_TRACES_EXPORTER``: ``otlp``,
the default, ``console`` or ``none``; ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_SERVICE_NAME``, ...). The chain of one event:

- ``iu_core.operation <type>``: the structure operation's transaction;
- ``iu_core.fan_out``: the outbox INSERT of one event, whose statement
  trigger fans it out to its routes; its W3C ``traceparent`` is stored in
  ``event_outbox.traceparent`` (same transaction);
- ``iu_core.delivery.attempt``: one attempt of one delivery, child of the
  stored context (the worker's claim returns it); a webhook carries the
  attempt's ``traceparent`` header, a workflow job a ``traceparent`` field;
- ``iu_core.delivery.record``: the completer's recording of that attempt's
  outcome, child of the attempt.

Off, nothing is imported and every hook is a check of one global: no span,
no header, the outbox column stays NULL. The SDK and the OTLP exporter are the
``otel`` extra (``pip install 'iu-core[otel]'``); without them ``--otel`` is
one ``error:`` line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from iu_core.errors import IuCoreError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "OTEL_ENV",
    "TRACEPARENT",
    "enabled",
    "end_attempt",
    "end_records",
    "flush",
    "span",
    "start",
    "start_attempt",
    "start_records",
    "stop",
    "traceparent",
    "use",
]

OTEL_ENV = "IU_CORE_OTEL"
INSTALL_HINT = "pip install 'iu-core[otel]'"
SERVICE_NAME = "iu-core"
# W3C Trace Context, version 00: trace id and parent id never all zeros (the
# same rule as the CHECK on event_outbox.traceparent).
TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}\Z")
ERROR_REASON_CHARS = 200

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _tracer is not None


def use(provider: TracerProvider) -> None:
    """Trace through ``provider`` (an SDK ``TracerProvider``; tests pass one with an in-memory exporter)."""
    global _tracer, _provider
    from iu_core import __version__

    _provider = provider
    _tracer = provider.get_tracer("iu_core", __version__)


def stop() -> None:
    """Flush and turn tracing off in this process."""
    global _tracer, _provider
    flush()
    _tracer = _provider = None


def flush() -> None:
    """Export what has ended so far (a short-lived command calls it before it exits)."""
    if _provider is not None:
        _provider.force_flush()


def start() -> None:
    """Turn tracing on for this process from the ``OTEL_*`` environment (``--otel``).

    Already on (a provider given by ``use``): kept. ``OTEL_SDK_DISABLED=true``:
    stays off, as the standard says.
    """
    if _tracer is not None or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        raise IuCoreError(f"--otel needs the OpenTelemetry SDK: {INSTALL_HINT}") from None
    named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": SERVICE_NAME}))
    for name in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(","):
        name = name.strip().lower()
        exporter: SpanExporter
        if name == "none" or not name:
            continue
        if name == "console":
            exporter = ConsoleSpanExporter(out=sys.stderr)  # stdout is the command's (--json)
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise IuCoreError(
                    f"OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: {INSTALL_HINT}"
                ) from None
            exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
        else:
            raise IuCoreError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    use(provider)


# ----------------------------------------------------------------------------- context
def traceparent(span: Span | None) -> str | None:
    """The W3C ``traceparent`` naming ``span`` (None without a span)."""
    if span is None:
        return None
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _parent(value: str | None) -> Context | None:
    """The context a stored ``traceparent`` names; None (a new trace) when there is none or it is not W3C."""
    if not value or TRACEPARENT.match(value) is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    trace_id, span_id, flags = (bytes.fromhex(part) for part in value.split("-")[1:])
    remote = SpanContext(
        int.from_bytes(trace_id, "big"),
        int.from_bytes(span_id, "big"),
        is_remote=True,
        trace_flags=TraceFlags(flags[0]),
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


# ----------------------------------------------------------------------------- spans
@contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A span around the block, current inside it (None when tracing is off)."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=dict(attributes or {})) as current:
        yield current


def start_attempt(
    route_code: str, kind: str, attempt_no: int, webhook_id: str, parent: str | None
) -> Span | None:
    """The span of one delivery attempt, child of the event's stored ``traceparent`` (None when off)."""
    tracer = _tracer
    if tracer is None:
        return None
    from opentelemetry.trace import SpanKind

    return tracer.start_span(
        "iu_core.delivery.attempt",
        context=_parent(parent),
        kind=SpanKind.CLIENT,
        attributes={
            "iu_core.route": route_code,
            "iu_core.target_kind": kind,
            "iu_core.attempt_no": attempt_no,
            "iu_core.webhook_id": webhook_id,
        },
    )


def end_attempt(attempt: Span, status: str, detail: Mapping[str, Any]) -> None:
    """Name the attempt's outcome (``sent``/``failed``/``skipped``) and end its span."""
    from opentelemetry.trace import Status, StatusCode

    attempt.set_attribute("iu_core.outcome", status)
    http_status = detail.get("http_status")
    if isinstance(http_status, int):
        attempt.set_attribute("http.response.status_code", http_status)
    if status == "failed":
        attempt.set_attribute("iu_core.retryable", bool(detail.get("retryable")))
        attempt.set_status(Status(StatusCode.ERROR, str(detail.get("reason") or "")[:ERROR_REASON_CHARS]))
    attempt.end()


class _Recorded(Protocol):
    """What ``start_records`` needs of a result (the worker's ``store.Result`` has it)."""

    @property
    def route_code(self) -> str: ...
    @property
    def delivery_id(self) -> int: ...
    @property
    def attempt_no(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def traceparent(self) -> str | None: ...


def start_records(results: Sequence[_Recorded]) -> list[Span]:
    """One ``iu_core.delivery.record`` span per traced result, child of its attempt; [] when off."""
    tracer = _tracer
    if tracer is None:
        return []
    return [
        tracer.start_span(
            "iu_core.delivery.record",
            context=_parent(r.traceparent),
            attributes={
                "iu_core.route": r.route_code,
                "iu_core.delivery_id": r.delivery_id,
                "iu_core.attempt_no": r.attempt_no,
                "iu_core.outcome": r.status,
                "iu_core.batch_size": len(results),
            },
        )
        for r in results
        if r.traceparent is not None
    ]


def end_records(spans: Sequence[Span], error: BaseException | None = None) -> None:
    """End the record spans of one batch (an error the batch raised marks each)."""
    if not spans:
        return
    from opentelemetry.trace import Status, StatusCode

    for one in spans:
        if error is not None:
            one.set_status(Status(StatusCode.ERROR, type(error).__name__))
        one.end()
