"""Delivery: the kinds, how each is delivered, and the seam every target plugs into.

- ``kinds``: ``TargetKind`` and the one table (``KINDS``) of each kind's
  delivery path, ``target_ref`` check and readiness check;
- ``seam``: ``DeliveryRequest``, ``DeliveryOutcome``, the one-method
  ``DeliveryTarget`` and the fail-closed registry (``iu_core.delivery_seam``
  re-exports it);
- ``transactional``: ``TransactionalTarget``, the port of kinds written in
  the delivery's own transaction, and ``EventDelivery``;
- ``detail``: the attempt ``detail`` record shared in name with SQL.

This package imports no adapter: ``report``, ``vector``, ``workflow`` and
``targets`` import it, never the other way round.
"""

from __future__ import annotations

from iu_core.delivery.detail import AttemptDetail, failed_outcome, with_failure_defaults
from iu_core.delivery.kinds import (
    KINDS,
    DeliveryPath,
    KindSpec,
    TargetKind,
    kinds_on,
    readiness_problem,
    ref_problem,
    spec,
    transactional_target,
)
from iu_core.delivery.seam import (
    DELIVERY_STATUSES,
    DELIVERY_TARGET_KINDS,
    DeliveryNotImplemented,
    DeliveryOutcome,
    DeliveryRegistry,
    DeliveryRequest,
    DeliveryTarget,
    UnbuiltDeliveryTarget,
    build_registry,
    dispatch_delivery,
)
from iu_core.delivery.transactional import EventDelivery, TransactionalTarget, bind, load_event_delivery

__all__ = [
    "DELIVERY_STATUSES",
    "DELIVERY_TARGET_KINDS",
    "KINDS",
    "AttemptDetail",
    "DeliveryNotImplemented",
    "DeliveryOutcome",
    "DeliveryPath",
    "DeliveryRegistry",
    "DeliveryRequest",
    "DeliveryTarget",
    "EventDelivery",
    "KindSpec",
    "TargetKind",
    "TransactionalTarget",
    "UnbuiltDeliveryTarget",
    "bind",
    "build_registry",
    "dispatch_delivery",
    "failed_outcome",
    "kinds_on",
    "load_event_delivery",
    "readiness_problem",
    "ref_problem",
    "spec",
    "transactional_target",
    "with_failure_defaults",
]
