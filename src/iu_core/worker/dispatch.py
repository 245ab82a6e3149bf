"""Dispatching claimed deliveries to targets: the composed registry and one delivery.

The worker's registry is composed explicitly (``delivery_seam.build_registry``):

- ``sql_function`` is never dispatched from Python: the worker delivers it
  inside the database (``fn_iu_worker_deliver_sql_batch``), in the same
  transaction as its audit rows;
- ``workflow`` with target_ref ``event_outbox`` is a no-op: outcome
  ``skipped``, the event stays in the outbox;
- ``external_endpoint`` / ``directus_flow`` come from
  ``iu_core.targets.build_runtime_registry(database_url)`` when that module is
  installed;
- every other kind stays unbuilt: a delivery to it is a permanent failure with
  a clear reason (a dead letter), never a crash.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iu_core.delivery_seam import (
    DeliveryNotImplemented,
    DeliveryOutcome,
    DeliveryRegistry,
    DeliveryRequest,
    DeliveryTarget,
    UnbuiltDeliveryTarget,
    build_registry,
    dispatch_delivery,
)
from iu_core.errors import one_line
from iu_core.worker import service_loop
from iu_core.worker.store import Claimed, Result, Route

log = logging.getLogger("iu_core.worker")

WORKFLOW_NOOP_REF = "event_outbox"


def idempotency_key(route_code: str, event_id: object) -> str:
    """The delivery's key (Standard Webhooks ``webhook-id``): the same on every retry."""
    return f"{route_code}:{event_id}"


class WorkflowTarget:
    """``workflow`` targets: ``event_outbox`` is a no-op; other refs go to ``engine`` if built."""

    def __init__(self, engine: DeliveryTarget | None = None) -> None:
        self._engine = engine

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        if request.target_ref == WORKFLOW_NOOP_REF:
            return DeliveryOutcome(
                status="skipped",
                delivered=False,
                target_kind="workflow",
                detail={"reason": "workflow target 'event_outbox' is a no-op: the event stays in the outbox"},
            )
        if self._engine is None:
            raise DeliveryNotImplemented(
                f"no workflow engine is built for target_ref {request.target_ref!r} "
                f"(route {request.route_code!r})"
            )
        return self._engine.deliver(request)


def _http_registry(database_url: str) -> Mapping[str, DeliveryTarget]:
    """The HTTP targets' registry when ``iu_core.targets`` is installed, else nothing."""
    try:
        module = importlib.import_module("iu_core.targets")
    except ImportError:
        log.info("targets module not installed: external_endpoint and directus_flow stay unbuilt")
        return {}
    builder = getattr(module, "build_runtime_registry", None)
    if builder is None:
        return {}
    registry: Mapping[str, DeliveryTarget] = builder(database_url)
    return {
        kind: target
        for kind, target in registry.items()
        if not isinstance(target, UnbuiltDeliveryTarget) and kind != "sql_function"
    }


def compose_registry(
    database_url: str, extra: Mapping[str, DeliveryTarget] | None = None
) -> DeliveryRegistry:
    """The worker's runtime registry: HTTP targets, the workflow no-op, then ``extra`` overrides."""
    built: dict[str, DeliveryTarget] = dict(_http_registry(database_url))
    built["workflow"] = WorkflowTarget(built.get("workflow"))
    built.update(extra or {})
    built.pop("sql_function", None)  # delivered inside the database, never from here
    return build_registry(built)


def deliver_one(route: Route, claimed: Claimed, registry: DeliveryRegistry) -> Result:
    """Dispatch one claimed delivery; never raises (a failure is an outcome)."""
    started = dt.datetime.now(dt.UTC)
    detail: dict[str, Any]
    try:
        request = DeliveryRequest(
            route_code=route.route_code,
            event_ref=str(claimed.event_id),
            target_kind=route.target_kind,
            target_ref=route.target_ref,
            idempotency_key=idempotency_key(route.route_code, claimed.event_id),
            safe_payload=claimed.payload,
        )
        outcome = dispatch_delivery(request, registry)
        status = outcome.status
        detail = dict(outcome.detail)
        if status == "failed":
            detail.setdefault("retryable", True)
            detail.setdefault("reason", "the target reported a failure")
    except DeliveryNotImplemented as exc:
        status = "failed"
        detail = {"reason": one_line(str(exc)), "retryable": False, "unbuilt": True}
    except Exception as exc:  # a target bug must not stop the worker: retry it, then dead-letter
        status = "failed"
        detail = {"reason": one_line(f"{type(exc).__name__}: {exc}"), "retryable": True}
        log.warning(
            "target raised route=%s kind=%s error=%s", route.route_code, route.target_kind, type(exc).__name__
        )
    return Result(
        route_code=route.route_code,
        delivery_id=claimed.delivery_id,
        attempt_no=claimed.attempt_no,
        lease_token=claimed.lease_token,
        status=status,
        detail=detail,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        target_kind=route.target_kind,
    )


class PoolDispatcher:
    """Synchronous targets (the workflow no-op, targets passed in by the caller, unbuilt
    kinds) run on a thread pool; their outcomes go to the completer like HTTP ones."""

    def __init__(
        self,
        registry: DeliveryRegistry,
        threads: int,
        put: Callable[[Result], None],
        done: Callable[[str, int], None],
    ) -> None:
        self._registry = registry
        self._threads = threads
        self._put = put
        self._done = done
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, route: Route, claimed: list[Claimed]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="iu-core-deliver")
        for item in claimed:
            self._pool.submit(self._one, route, item)

    def _one(self, route: Route, item: Claimed) -> None:
        try:
            self._put(deliver_one(route, item, self._registry))
        except Exception as exc:  # left to its lease; the pool thread goes on
            service_loop.failed("pool_dispatcher", exc)
        finally:
            self._done(route.route_code, item.delivery_id)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
