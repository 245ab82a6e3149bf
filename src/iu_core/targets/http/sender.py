"""One HTTP delivery: body, headers, POST, classification — for the worker and every other caller.

Everything a route's deliveries share is prepared once (``RoutePlan``) from
the route's settings (the worker's claim returns them; a target's ``deliver``
reads them), so a delivery costs one JSON dump, one HMAC and one POST. The
kinds' rules live here, once: a webhook is signed with the route's secrets
(Standard Webhooks), a Directus flow trigger carries the route's bearer token
and has its own status rule (``directus_status``, see ``targets/directus.py``).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iu_core.delivery import DeliveryOutcome, DeliveryPath, kinds_on
from iu_core.targets.address_policy import AddressRefused, IPNetwork, parse_networks
from iu_core.targets.classify import StatusRule, failed, outcome_from_http
from iu_core.targets.http.client import AsyncHttpClient, Endpoint, parse_endpoint
from iu_core.targets.webhook import Ed25519Signer, Signer, event_body

__all__ = ["HTTP_KINDS", "RoutePlan", "directus_status", "parse_flow_ref", "prepare", "send"]

HTTP_KINDS = frozenset(kind.value for kind in kinds_on(DeliveryPath.ASYNC_HTTP))
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

_FLOW_REF = re.compile(
    r"^(?P<base>https?://[^?#\s]+?)/flows/trigger/"
    r"(?P<flow>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$"
)


def parse_flow_ref(target_ref: str) -> tuple[str, str] | None:
    """(base URL, flow id) of a ``…/flows/trigger/<uuid>`` target_ref, or None."""
    match = _FLOW_REF.match(target_ref.strip())
    if match is None:
        return None
    return match["base"], match["flow"].lower()


def directus_status(status: int) -> tuple[bool, bool, str] | None:
    """A Directus flow trigger's statuses that differ from an endpoint's (why: ``targets/directus.py``)."""
    if status == 401:
        return True, False, "HTTP 401 from Directus: the access token is invalid or expired; retryable"
    if status in (403, 404):
        return (
            True,
            False,
            f"HTTP {status} from Directus: the flow is inactive, missing or not permitted; retryable",
        )
    return None


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
    signer: Signer | Ed25519Signer | None
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
        ed25519 = settings.get("signature") == "ed25519"
        signing_kind = "signing_key" if ed25519 else "webhook_secret"
        secrets = [c["secret"] for c in creds if c["kind"] == signing_kind]
        tokens = [c["secret"] for c in creds if c["kind"] == "access_token" and c.get("current")]
        refusal: str | None = None
        retryable = False
        failure = "misconfigured"
        url = ref
        signer: Signer | Ed25519Signer | None = None
        token: str | None = None
        rule: StatusRule | None = None
        if kind == "directus_flow":
            rule = directus_status
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
        elif not secrets and ed25519:
            refusal = f"route {route_code} has no signing key (iu-core route key rotate {route_code})"
            retryable = True
        elif not secrets:
            refusal = f"route {route_code} has no signing secret (iu-core route secret rotate {route_code})"
            retryable = True
        else:
            signer = Ed25519Signer(secrets) if ed25519 else Signer(secrets)
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
