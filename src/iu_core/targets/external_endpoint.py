"""The ``external_endpoint`` target: a Standard Webhooks POST to ``target_ref`` (a URL).

Responses: 2xx sent; 3xx failed, never followed; 408, 429, 5xx, connect errors
and timeouts retryable (with Retry-After); 410 failed + ``disable_route``;
other 4xx permanent. A route without a signing secret is not delivered
(retryable, so its events wait for ``iu-core route secret rotate ROUTE``
instead of going unsigned or straight to dead letters).
"""

from __future__ import annotations

from iu_core.delivery_seam import DeliveryRequest
from iu_core.targets.base import HttpTarget, Prepared, misconfigured
from iu_core.targets.route_settings import RouteHttpSettings
from iu_core.targets.webhook import webhook_headers

__all__ = ["ExternalEndpointTarget"]


class ExternalEndpointTarget(HttpTarget):
    """POSTs ``{"id","type","timestamp","data"}`` signed with the route's secret(s)."""

    target_kind = "external_endpoint"

    def prepare(self, request: DeliveryRequest, settings: RouteHttpSettings, body: bytes) -> Prepared:
        secrets = settings.signing_secrets()
        if not secrets:
            raise misconfigured(
                f"route {settings.route_code} has no signing secret (iu-core route secret rotate "
                f"{settings.route_code})",
                retryable=True,
            )
        headers = webhook_headers(secrets, request.idempotency_key, body, timestamp=self.attempt_timestamp())
        return Prepared(url=request.target_ref, headers=headers)
