"""The ``external_endpoint`` target: a Standard Webhooks POST to ``target_ref`` (a URL).

Responses: 2xx sent; 3xx failed, never followed; 408, 429, 5xx, connect errors
and timeouts retryable (with Retry-After); 410 failed + ``disable_route``;
other 4xx permanent. A route without a signing secret is not delivered
(retryable, so its events wait for ``iu-core route secret rotate ROUTE``
instead of going unsigned or straight to dead letters). The request is built
and signed in ``targets/http/sender.py``, the same code the worker runs.
"""

from __future__ import annotations

from iu_core.targets.base import HttpTarget

__all__ = ["ExternalEndpointTarget"]


class ExternalEndpointTarget(HttpTarget):
    """POSTs ``{"id","type","timestamp","data"}`` signed with the route's secret(s)."""

    target_kind = "external_endpoint"
