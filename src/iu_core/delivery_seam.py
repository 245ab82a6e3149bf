"""The delivery seam: the Python contract every delivery target plugs into.

Pure and database-free. The module-level ``DELIVERY_TARGET_REGISTRY`` maps every
target kind to ``UnbuiltDeliveryTarget`` and stays that way forever: it is the
fail-closed default. The runtime composes its own registry explicitly with
``build_registry`` from the kinds it was configured for; a kind nobody built
still resolves to the unbuilt target and refuses.

The SQL function ``fn_iu_route_deliver`` is the seam of record; this module is
its Python mirror (``DeliveryNotImplemented`` mirrors the SQL
``feature_not_supported`` raise). The definitions live in ``iu_core.delivery.seam``.
"""

from __future__ import annotations

from iu_core.delivery.seam import (
    DELIVERY_STATUSES,
    DELIVERY_TARGET_KINDS,
    DELIVERY_TARGET_REGISTRY,
    DeliveryNotImplemented,
    DeliveryOutcome,
    DeliveryRequest,
    DeliveryTarget,
    UnbuiltDeliveryTarget,
    build_registry,
    dispatch_delivery,
    resolve_delivery_target,
    seam_is_fail_closed,
)
from iu_core.delivery.seam import DeliveryRegistry as DeliveryRegistry

__all__ = [
    "DELIVERY_STATUSES",
    "DELIVERY_TARGET_KINDS",
    "DELIVERY_TARGET_REGISTRY",
    "DeliveryNotImplemented",
    "DeliveryOutcome",
    "DeliveryRequest",
    "DeliveryTarget",
    "UnbuiltDeliveryTarget",
    "build_registry",
    "dispatch_delivery",
    "resolve_delivery_target",
    "seam_is_fail_closed",
]
