"""Delivery targets that leave the database: HTTP endpoints and Directus flows.

``build_runtime_registry(database_url)`` is what the worker calls: a registry
with ``external_endpoint`` and ``directus_flow`` built (every other kind stays
unbuilt until someone builds it). Both targets share one settings reader and
one connection pool, and are safe to call from many threads at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iu_core.delivery.kinds import DeliveryPath, kinds_on
from iu_core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from iu_core.delivery.seam import DeliveryRegistry
    from iu_core.targets.address_policy import AddressDecision, check_address, resolve_checked
    from iu_core.targets.directus import DirectusFlowTarget, parse_flow_ref
    from iu_core.targets.external_endpoint import ExternalEndpointTarget

__all__ = [
    "HTTP_TARGET_KINDS",
    "AddressDecision",
    "DirectusFlowTarget",
    "ExternalEndpointTarget",
    "build_http_targets",
    "build_runtime_registry",
    "check_address",
    "parse_flow_ref",
    "resolve_checked",
]

HTTP_TARGET_KINDS = tuple(kind.value for kind in kinds_on(DeliveryPath.ASYNC_HTTP))

# Imported on first use: the HTTP stack (httptools, the client) loads only for the
# commands and workers that deliver over HTTP.
_HOME = {
    "AddressDecision": "iu_core.targets.address_policy",
    "check_address": "iu_core.targets.address_policy",
    "resolve_checked": "iu_core.targets.address_policy",
    "DirectusFlowTarget": "iu_core.targets.directus",
    "parse_flow_ref": "iu_core.targets.directus",
    "ExternalEndpointTarget": "iu_core.targets.external_endpoint",
}

__getattr__ = lazy_exports(__name__, _HOME)


def build_http_targets(
    database_url: str, *, cache_ttl_s: float = 5.0
) -> dict[str, ExternalEndpointTarget | DirectusFlowTarget]:
    """The two HTTP targets, sharing one settings reader (cached ``cache_ttl_s``)."""
    from iu_core.targets.directus import DirectusFlowTarget
    from iu_core.targets.external_endpoint import ExternalEndpointTarget
    from iu_core.targets.route_settings import RouteSettingsReader

    reader = RouteSettingsReader(database_url, ttl_s=cache_ttl_s)
    built = (ExternalEndpointTarget(reader), DirectusFlowTarget(reader))
    return {target.target_kind: target for target in built}


def build_runtime_registry(database_url: str) -> DeliveryRegistry:
    """A runtime registry with ``external_endpoint`` and ``directus_flow`` built."""
    from iu_core.delivery.seam import build_registry

    return build_registry(dict(build_http_targets(database_url)))
