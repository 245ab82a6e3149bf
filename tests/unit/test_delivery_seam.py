"""The Python delivery seam: its surface, its validation, fail-closed by default."""

from __future__ import annotations

from typing import Any

import pytest

from iu_core import delivery_seam as seam
from iu_core.delivery_seam import (
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


def request(kind: str = "workflow", **overrides: Any) -> DeliveryRequest:
    values: dict[str, Any] = {
        "route_code": "r.1",
        "event_ref": "00000000-0000-0000-0000-000000000001",
        "target_kind": kind,
        "target_ref": "event_outbox",
        "idempotency_key": "r.1:00000000-0000-0000-0000-000000000001",
        "safe_payload": {"iu_id": "x"},
    }
    values.update(overrides)
    return DeliveryRequest(**values)


class RecordingTarget:
    """A built target that records what it delivered."""

    def __init__(self) -> None:
        self.seen: list[DeliveryRequest] = []

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        self.seen.append(request)
        return DeliveryOutcome("sent", True, request.target_kind, {"ok": True})


class TestDeliverySeam:
    """Fail-closed by default: every kind unbuilt, dispatch raises, requests and outcomes validated."""

    def test_module_registry_is_fail_closed(self) -> None:
        assert seam_is_fail_closed()
        assert set(DELIVERY_TARGET_REGISTRY) == set(DELIVERY_TARGET_KINDS)
        assert all(isinstance(t, UnbuiltDeliveryTarget) for t in DELIVERY_TARGET_REGISTRY.values())

    @pytest.mark.parametrize("kind", sorted(DELIVERY_TARGET_KINDS))
    def test_dispatch_raises_for_every_kind(self, kind: str) -> None:
        with pytest.raises(DeliveryNotImplemented, match=kind):
            dispatch_delivery(request(kind))

    def test_request_refuses_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown target_kind"):
            request("ftp")

    def test_request_requires_idempotency_key(self) -> None:
        for key in ("", "   "):
            with pytest.raises(ValueError, match="idempotency_key"):
                request(idempotency_key=key)

    def test_outcome_delivered_requires_sent(self) -> None:
        for status in ("failed", "skipped"):
            with pytest.raises(ValueError, match="delivered=True"):
                DeliveryOutcome(status, True, "workflow")
        assert DeliveryOutcome("sent", True, "workflow").delivered


def test_request_requires_route_code_and_event_ref() -> None:
    with pytest.raises(ValueError, match="route_code"):
        request(route_code="")
    with pytest.raises(ValueError, match="event_ref"):
        request(event_ref="")


def test_request_idempotency_key_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="idempotency_key"):
        request(idempotency_key=None)


def test_outcome_refuses_unknown_status_and_kind() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        DeliveryOutcome("delivered", False, "workflow")
    with pytest.raises(ValueError, match="unknown target_kind"):
        DeliveryOutcome("failed", False, "ftp")
    failed = DeliveryOutcome("failed", False, "vector", {"reason": "x"})
    assert not failed.delivered and failed.detail == {"reason": "x"}


def test_request_and_outcome_are_frozen() -> None:
    req = request()
    with pytest.raises(AttributeError):
        req.target_kind = "vector"  # type: ignore[misc]


def test_unbuilt_target_refuses_unknown_kind() -> None:
    with pytest.raises(ValueError):
        UnbuiltDeliveryTarget("ftp")


def test_module_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        DELIVERY_TARGET_REGISTRY["workflow"] = RecordingTarget()  # type: ignore[index]


def test_composed_registry_leaves_unconfigured_kinds_unbuilt() -> None:
    built = RecordingTarget()
    registry = build_registry({"external_endpoint": built})
    assert isinstance(built, DeliveryTarget)
    assert not seam_is_fail_closed(registry)
    outcome = dispatch_delivery(request("external_endpoint"), registry)
    assert outcome.status == "sent" and len(built.seen) == 1
    for kind in DELIVERY_TARGET_KINDS - {"external_endpoint"}:
        assert isinstance(resolve_delivery_target(kind, registry), UnbuiltDeliveryTarget)
        with pytest.raises(DeliveryNotImplemented):
            dispatch_delivery(request(kind), registry)
    # Composing a runtime registry never touches the module default.
    assert seam_is_fail_closed()
    assert seam_is_fail_closed(build_registry())


def test_composed_registry_refuses_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown target kinds"):
        build_registry({"ftp": RecordingTarget()})
    with pytest.raises(ValueError):
        resolve_delivery_target("ftp")


def test_surface_names_every_public_piece() -> None:
    expected = {
        "DELIVERY_TARGET_KINDS",
        "DELIVERY_STATUSES",
        "DeliveryRequest",
        "DeliveryOutcome",
        "DeliveryTarget",
        "UnbuiltDeliveryTarget",
        "DeliveryNotImplemented",
        "DELIVERY_TARGET_REGISTRY",
        "resolve_delivery_target",
        "dispatch_delivery",
        "seam_is_fail_closed",
    }
    assert expected <= set(seam.__all__)
