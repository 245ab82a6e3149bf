"""Dispatching claimed deliveries to seam targets: the composed registry and one delivery.

The kind table (``iu_core.delivery.kinds``) says how the worker delivers each
kind; this module serves what goes through a seam ``DeliveryTarget``:

- the HTTP kinds, from ``iu_core.targets.build_runtime_registry``; the
  worker sends them on its event loop unless a caller put its own target in
  the registry (``targets=``);
- a target a caller passed for any other kind (it replaces the kind's own
  path) and kinds nobody built: a delivery to an unbuilt kind is a permanent
  failure with a clear reason (a dead letter), never a crash.

``sql_function`` is never dispatched from here: it is delivered inside the
database, in the transaction of its audit rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iu_core import tracing
from iu_core.delivery import (
    DeliveryNotImplemented,
    DeliveryRegistry,
    DeliveryTarget,
    TargetKind,
    build_registry,
    dispatch_delivery,
)
from iu_core.errors import one_line
from iu_core.targets import build_runtime_registry
from iu_core.worker import records, service_loop
from iu_core.worker.store import Claimed, Result, Route

log = logging.getLogger("iu_core.worker")


def compose_registry(
    database_url: str, extra: Mapping[str, DeliveryTarget] | None = None
) -> DeliveryRegistry:
    """The worker's runtime registry: the HTTP targets, then ``extra`` overrides."""
    built: dict[str, DeliveryTarget] = dict(build_runtime_registry(database_url))
    built.update(extra or {})
    built.pop(TargetKind.SQL_FUNCTION, None)  # delivered inside the database, never from here
    return build_registry(built)


def deliver_one(route: Route, claimed: Claimed, registry: DeliveryRegistry) -> Result:
    """Dispatch one claimed delivery; never raises (a failure is an outcome)."""
    started = dt.datetime.now(dt.UTC)
    detail: Mapping[str, Any]
    webhook_id = records.idempotency_key(route.route_code, claimed.event_id)
    span = tracing.start_attempt(
        route.route_code, route.target_kind, claimed.attempt_no, webhook_id, claimed.traceparent
    )
    try:
        outcome = dispatch_delivery(records.request(route, claimed), registry)
        status, detail = outcome.status, outcome.detail
    except DeliveryNotImplemented as exc:
        status = "failed"
        detail = {"reason": one_line(str(exc)), "retryable": False, "unbuilt": True}
    except Exception as exc:  # a target bug must not stop the worker: retry it, then dead-letter
        status = "failed"
        detail = {"reason": one_line(f"{type(exc).__name__}: {exc}"), "retryable": True}
        log.warning(
            "target raised route=%s kind=%s error=%s", route.route_code, route.target_kind, type(exc).__name__
        )
    header = None
    if span is not None:
        header = tracing.traceparent(span)
        tracing.end_attempt(span, status, detail)
    return records.result(route, claimed, status, detail, started, traceparent=header)


class PoolDispatcher:
    """Synchronous seam targets (targets passed in by the caller, unbuilt kinds) run on a
    thread pool; their outcomes go to the completer like HTTP ones."""

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
