"""One HTTP delivery on the asyncio path: body, headers, POST, classification.

The same request and the same classification as the synchronous targets
(``external_endpoint.py``, ``directus.py``, ``classify.py``); what changes is
that everything a batch shares is prepared once (``RoutePlan``) from the
settings the claim returned, so a delivery costs one JSON dump, one HMAC and
one POST.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iu_core.delivery import DeliveryOutcome, DeliveryPath, kinds_on
from iu_core.targets.address_policy import AddressRefused, IPNetwork, parse_networks
from iu_core.targets.classify import StatusRule, failed, outcome_from_http
from iu_core.targets.directus import DirectusFlowTarget, parse_flow_ref
from iu_core.targets.http.client import AsyncHttpClient, Endpoint, parse_endpoint
from iu_core.targets.webhook import Signer, event_body

__all__ = ["HTTP_KINDS", "RoutePlan", "send"]

HTTP_KINDS = frozenset(kind.value for kind in kinds_on(DeliveryPath.ASYNC_HTTP))
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What every delivery of one route shares, from the claim's settings."""

    route_code: str
    kind: str
    event_type: str
    endpoint: Endpoint | None
    refusal: str | None  # why nothing can be sent as configured (permanent or not: see retryable)
    refusal_retryable: bool
    refusal_failure: str  # misconfigured (credentials, flow ref) or refused (the URL)
    signer: Signer | None
    token: str | None
    status_rule: StatusRule | None
    timeout_s: float
    connect_timeout_s: float
    allow_networks: tuple[IPNetwork, ...]
    max_payload_bytes: int

    def __repr__(self) -> str:  # never the keys or the token
        return f"RoutePlan(route_code={self.route_code!r}, kind={self.kind!r})"

    @classmethod
    def build(cls, route_code: str, settings: Mapping[str, Any]) -> RoutePlan:
        kind = str(settings["target_kind"])
        ref = str(settings["target_ref"])
        creds = list(settings.get("credentials") or ())
        secrets = [c["secret"] for c in creds if c["kind"] == "webhook_secret"]
        tokens = [c["secret"] for c in creds if c["kind"] == "access_token" and c.get("current")]
        refusal: str | None = None
        retryable = False
        failure = "misconfigured"
        url = ref
        signer: Signer | None = None
        token: str | None = None
        rule: StatusRule | None = None
        if kind == "directus_flow":
            rule = DirectusFlowTarget.status_rule
            parsed = parse_flow_ref(ref)
            if parsed is None:
                refusal = "directus_flow target_ref must be <Directus URL>/flows/trigger/<flow uuid>"
            elif not tokens:
                refusal = (
                    f"route {route_code} has no Directus access token (iu-core route token set {route_code})"
                )
                retryable = True
            else:
                url = f"{parsed[0]}/flows/trigger/{parsed[1]}"
                token = tokens[0]
        elif not secrets:
            refusal = f"route {route_code} has no signing secret (iu-core route secret rotate {route_code})"
            retryable = True
        else:
            signer = Signer(secrets)
        endpoint: Endpoint | None = None
        if refusal is None:
            try:
                endpoint = parse_endpoint(url)
            except AddressRefused as exc:
                refusal, retryable, failure = exc.reason, exc.retryable, "refused"
        return cls(
            route_code=route_code,
            kind=kind,
            event_type=str(settings.get("event_type") or ""),
            endpoint=endpoint,
            refusal=refusal,
            refusal_retryable=retryable,
            refusal_failure=failure,
            signer=signer,
            token=token,
            status_rule=rule,
            timeout_s=float(settings["timeout_s"]),
            connect_timeout_s=float(settings["connect_timeout_s"]),
            allow_networks=parse_networks(settings.get("allow_networks") or ()),
            max_payload_bytes=int(settings.get("max_payload_bytes") or DEFAULT_MAX_PAYLOAD_BYTES),
        )


def prepare(
    plan: RoutePlan,
    webhook_id: str,
    event_type: str | None,
    occurred_at: dt.datetime,
    payload: Mapping[str, Any],
) -> tuple[bytes, dict[str, str]] | DeliveryOutcome:
    """Body and headers of one attempt, or the failure that ends it before any request."""
    kind = plan.kind
    if plan.refusal is not None or plan.endpoint is None:
        return failed(
            kind,
            retryable=plan.refusal_retryable,
            failure=plan.refusal_failure,
            reason=plan.refusal or "unusable target",
            webhook_id=webhook_id,
        )
    body = event_body(
        webhook_id, str(payload.get("event_type") or event_type or plan.event_type), occurred_at, payload
    )
    if len(body) > plan.max_payload_bytes:
        return failed(
            kind,
            retryable=False,
            failure="payload_too_large",
            reason=(
                f"payload of {len(body)} bytes exceeds the route's max_payload_bytes "
                f"({plan.max_payload_bytes}); not sent"
            ),
            webhook_id=webhook_id,
        )
    if plan.signer is not None:
        stamp = int(time.time())
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": plan.signer.header(webhook_id, stamp, body),
        }
    else:
        headers = {"Authorization": f"Bearer {plan.token}", "webhook-id": webhook_id}
    return body, headers


async def send(
    plan: RoutePlan, client: AsyncHttpClient, prepared: tuple[bytes, dict[str, str]], webhook_id: str
) -> DeliveryOutcome:
    """POST one prepared attempt and classify the exchange; never raises for the network."""
    assert plan.endpoint is not None
    body, headers = prepared
    result = await client.post(
        plan.endpoint,
        body,
        headers,
        allow_networks=plan.allow_networks,
        timeout_s=plan.timeout_s,
        connect_timeout_s=plan.connect_timeout_s,
    )
    return outcome_from_http(plan.kind, result, webhook_id=webhook_id, status_rule=plan.status_rule)
