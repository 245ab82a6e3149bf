"""The per-delivery records, built in one place for every path.

A claimed delivery becomes a seam ``DeliveryRequest`` (or, for a kind
delivered in transaction, an ``EventDelivery``), and its outcome becomes a
``store.Result`` to record. The SQL batch builds its own inside the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from iu_core.delivery import DeliveryRequest, EventDelivery, with_failure_defaults
from iu_core.worker.store import Claimed, Result, Route

__all__ = ["event_delivery", "idempotency_key", "request", "result"]


def idempotency_key(route_code: str, event_id: object) -> str:
    """The delivery's key (Standard Webhooks ``webhook-id``): the same on every retry."""
    return f"{route_code}:{event_id}"


def request(route: Route, claimed: Claimed) -> DeliveryRequest:
    """The seam's request for one claimed delivery."""
    return DeliveryRequest(
        route_code=route.route_code,
        event_ref=str(claimed.event_id),
        target_kind=route.target_kind,
        target_ref=route.target_ref,
        idempotency_key=idempotency_key(route.route_code, claimed.event_id),
        safe_payload=claimed.payload,
    )


def event_delivery(route: Route, claimed: Claimed, traceparent: str | None = None) -> EventDelivery:
    """The request plus the event's facts, as a target delivered in transaction sees it
    (``traceparent``: the attempt's span, with tracing on)."""
    return EventDelivery(
        request=request(route, claimed),
        event_id=claimed.event_id,
        event_seq=claimed.event_seq,
        event_type=claimed.event_type,
        aggregate_id=claimed.aggregate_id,
        occurred_at=claimed.occurred_at,
        traceparent=traceparent,
    )


def result(
    route: Route,
    claimed: Claimed,
    status: str,
    detail: Mapping[str, Any],
    started_at: dt.datetime,
    finished_at: dt.datetime | None = None,
    traceparent: str | None = None,
) -> Result:
    """The outcome of one claimed delivery, ready to record (a failure says retryable and why)."""
    return Result(
        route_code=route.route_code,
        delivery_id=claimed.delivery_id,
        attempt_no=claimed.attempt_no,
        lease_token=claimed.lease_token,
        status=status,
        detail=with_failure_defaults(status, detail),
        started_at=started_at,
        finished_at=finished_at or dt.datetime.now(dt.UTC),
        target_kind=route.target_kind,
        traceparent=traceparent,
    )
