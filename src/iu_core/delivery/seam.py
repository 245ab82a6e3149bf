"""The seam: the request, the outcome and the one-method target every delivery goes through.

Database-free. ``DELIVERY_TARGET_REGISTRY`` is the fail-closed default (every
kind unbuilt, forever); a worker composes its own with ``build_registry``.
``iu_core.delivery_seam`` is the public face of this module (its contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from iu_core.delivery.kinds import TargetKind

__all__ = [
    "DELIVERY_STATUSES",
    "DELIVERY_TARGET_KINDS",
    "DELIVERY_TARGET_REGISTRY",
    "DeliveryNotImplemented",
    "DeliveryOutcome",
    "DeliveryRegistry",
    "DeliveryRequest",
    "DeliveryTarget",
    "UnbuiltDeliveryTarget",
    "build_registry",
    "dispatch_delivery",
    "resolve_delivery_target",
    "seam_is_fail_closed",
]

# Mirrors the CHECK on iu_outbound_route.target_kind (a test reads the CHECK
# from the database catalog and compares); the kinds themselves are ``TargetKind``.
DELIVERY_TARGET_KINDS: frozenset[str] = frozenset(kind.value for kind in TargetKind)

# Mirrors the CHECK on iu_route_attempt.status.
DELIVERY_STATUSES: frozenset[str] = frozenset({"sent", "failed", "skipped"})


class DeliveryNotImplemented(RuntimeError):
    """Raised when a delivery reaches a target kind that has no built target."""


@dataclass(frozen=True, slots=True)
class DeliveryRequest:
    """One delivery of one event to one route's target."""

    route_code: str
    event_ref: str
    target_kind: str
    target_ref: str
    idempotency_key: str
    safe_payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target_kind not in DELIVERY_TARGET_KINDS:
            raise ValueError(
                f"unknown target_kind {self.target_kind!r}; expected one of {sorted(DELIVERY_TARGET_KINDS)}"
            )
        if not isinstance(self.idempotency_key, str) or not self.idempotency_key.strip():
            raise ValueError("idempotency_key is required (it makes re-delivery safe)")
        if not isinstance(self.route_code, str) or not self.route_code:
            raise ValueError("route_code is required")
        if not isinstance(self.event_ref, str) or not self.event_ref:
            raise ValueError("event_ref is required")


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one delivery attempt achieved."""

    status: str
    delivered: bool
    target_kind: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in DELIVERY_STATUSES:
            raise ValueError(f"unknown status {self.status!r}; expected one of {sorted(DELIVERY_STATUSES)}")
        if self.delivered and self.status != "sent":
            raise ValueError("delivered=True requires status='sent'")
        if self.target_kind not in DELIVERY_TARGET_KINDS:
            raise ValueError(f"unknown target_kind {self.target_kind!r}")


@runtime_checkable
class DeliveryTarget(Protocol):
    """A downstream target: delivers one request and reports the outcome."""

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome: ...


class UnbuiltDeliveryTarget:
    """The fail-closed default: every delivery raises ``DeliveryNotImplemented``."""

    def __init__(self, target_kind: str | None = None) -> None:
        if target_kind is not None and target_kind not in DELIVERY_TARGET_KINDS:
            raise ValueError(f"unknown target_kind {target_kind!r}")
        self.target_kind = target_kind

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        raise DeliveryNotImplemented(
            f"no delivery target is built for kind {request.target_kind!r} (route {request.route_code!r})"
        )

    def __repr__(self) -> str:
        return f"UnbuiltDeliveryTarget({self.target_kind!r})"


DeliveryRegistry = Mapping[str, DeliveryTarget]

# The module-level registry is read-only and fail-closed forever.
DELIVERY_TARGET_REGISTRY: DeliveryRegistry = MappingProxyType(
    {kind: UnbuiltDeliveryTarget(kind) for kind in sorted(DELIVERY_TARGET_KINDS)}
)


def build_registry(built: Mapping[str, DeliveryTarget] | None = None) -> DeliveryRegistry:
    """Compose a runtime registry: the given kinds built, every other kind unbuilt."""
    built = dict(built or {})
    unknown = set(built) - DELIVERY_TARGET_KINDS
    if unknown:
        raise ValueError(f"unknown target kinds: {sorted(unknown)}")
    composed: dict[str, DeliveryTarget] = {
        kind: built.get(kind, UnbuiltDeliveryTarget(kind)) for kind in sorted(DELIVERY_TARGET_KINDS)
    }
    return MappingProxyType(composed)


def resolve_delivery_target(target_kind: str, registry: DeliveryRegistry | None = None) -> DeliveryTarget:
    """The target for a kind in ``registry`` (default: the fail-closed module registry)."""
    reg = DELIVERY_TARGET_REGISTRY if registry is None else registry
    if target_kind not in DELIVERY_TARGET_KINDS:
        raise ValueError(f"unknown target_kind {target_kind!r}")
    return reg.get(target_kind) or UnbuiltDeliveryTarget(target_kind)


def dispatch_delivery(request: DeliveryRequest, registry: DeliveryRegistry | None = None) -> DeliveryOutcome:
    """Deliver ``request`` through the target its kind resolves to."""
    return resolve_delivery_target(request.target_kind, registry).deliver(request)


def seam_is_fail_closed(registry: DeliveryRegistry | None = None) -> bool:
    """True while every kind in ``registry`` (default: the module's) is unbuilt."""
    reg = DELIVERY_TARGET_REGISTRY if registry is None else registry
    return all(
        isinstance(resolve_delivery_target(kind, reg), UnbuiltDeliveryTarget)
        for kind in DELIVERY_TARGET_KINDS
    )
