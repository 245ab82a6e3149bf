"""Delivering by hand: one test event to a route's HTTP target, now."""

from __future__ import annotations

import uuid

from iu_core.delivery import DeliveryOutcome, DeliveryRequest
from iu_core.errors import NotFound, Refused
from iu_core.targets import HTTP_TARGET_KINDS, build_http_targets

TEST_EVENT_TYPE = "iu_core.test"


def send_test_event(database_url: str, route_code: str) -> DeliveryOutcome:
    """Send one test event (type ``iu_core.test``) to ``route_code``'s target; the outcome.

    Refused unless the route may deliver now (``fn_iu_route_refusal``) and is of an HTTP kind.
    """
    targets = build_http_targets(database_url, cache_ttl_s=0)
    reader = next(iter(targets.values())).reader
    try:
        settings = reader.get(route_code, fresh=True)
        if settings is None:
            raise NotFound(f"unknown route {route_code}")
        if settings.target_kind not in HTTP_TARGET_KINDS:
            raise Refused(
                f"route {route_code} has target_kind {settings.target_kind}; deliver test sends to "
                f"{' and '.join(HTTP_TARGET_KINDS)} routes"
            )
        if settings.live_refusal is not None:
            raise Refused(f"not delivering to route {route_code}: {settings.live_refusal}")
        event_ref = str(uuid.uuid4())
        request = DeliveryRequest(
            route_code=route_code,
            event_ref=event_ref,
            target_kind=settings.target_kind,
            target_ref=settings.target_ref,
            idempotency_key=f"{route_code}:test:{event_ref}",
            safe_payload={"event_type": TEST_EVENT_TYPE, "route_code": route_code, "test": True},
        )
        return targets[settings.target_kind].deliver(request)
    finally:
        reader.close()
