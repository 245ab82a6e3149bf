"""The HTTP dispatcher: one asyncio event loop per worker process sends every HTTP delivery.

The scheduler claims a batch (deliveries + the route's settings, one round
trip) and ``submit``s it; the loop prepares each delivery (body, signature)
and POSTs it over the per-host keep-alive pool of ``AsyncHttpClient``;
each outcome goes to the completer.

A route has at most ``max_in_flight`` requests being sent (a semaphore per
route here), and the scheduler may claim ``CLAIM_AHEAD`` times that: while one
window is on the wire, the next claim runs, and its deliveries wait here for a
free slot. Without the overlap a route's rate is its window over (claim time +
send time), and the claim time moves with the database's load: that made
identical runs differ by 2-3x. A delivery's attempt starts when its request
does (``started_at``), not when it was claimed.

After a receiver answers 410 on a route, nothing more is sent to it from this
process: deliveries of the route that have not started their request yet are
given back unsent (no attempt counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from iu_core import tracing
from iu_core.delivery import DeliveryOutcome
from iu_core.targets.classify import failed
from iu_core.targets.http.client import AsyncHttpClient, new_event_loop
from iu_core.targets.http.sender import RoutePlan, prepare, send
from iu_core.worker import records, service_loop
from iu_core.worker.completer import Completer
from iu_core.worker.policy import RoutePolicy
from iu_core.worker.store import Claimed, Route

log = logging.getLogger("iu_core.worker")


def _survived(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An exception no task handled: the loop goes on (it always does); say so once, and count it."""
    exc = context.get("exception")
    service_loop.failed("http_dispatcher", exc or RuntimeError(str(context.get("message", "unknown"))))


class HttpDispatcher:
    """Owns the event loop thread; ``submit`` is called from scheduler threads."""

    CLAIM_AHEAD = 2  # claimed-and-unfinished deliveries per route, in windows of max_in_flight

    def __init__(self, policy: RoutePolicy, completer: Completer, on_done: Callable[[], None]) -> None:
        self._policy = policy
        self._completer = completer
        self._on_done = on_done
        self._loop = new_event_loop()
        self._client = AsyncHttpClient()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name="iu-core-http", daemon=True)
        self._plans: dict[str, tuple[str, RoutePlan]] = {}
        self._sending: dict[str, tuple[int, asyncio.Semaphore]] = {}  # loop thread only

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(_survived)
        self._loop.run_forever()

    def plan(self, route_code: str, settings: Mapping[str, Any]) -> RoutePlan:
        """The route's plan, rebuilt only when its settings changed (keys decoded once)."""
        key = repr(sorted(settings.items()))
        cached = self._plans.get(route_code)
        if cached is not None and cached[0] == key:
            return cached[1]
        plan = RoutePlan.build(route_code, settings)
        self._plans[route_code] = (key, plan)
        return plan

    def submit(self, route: Route, plan: RoutePlan, claimed: list[Claimed]) -> None:
        self._loop.call_soon_threadsafe(self._start, route, plan, claimed)

    def _start(self, route: Route, plan: RoutePlan, claimed: list[Claimed]) -> None:
        for item in claimed:
            task = self._loop.create_task(self._deliver(route, plan, item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _slots(self, route: Route) -> asyncio.Semaphore:
        """The route's sending slots (a changed max_in_flight takes effect for new requests)."""
        entry = self._sending.get(route.route_code)
        if entry is None or entry[0] != route.max_in_flight:
            entry = (route.max_in_flight, asyncio.Semaphore(route.max_in_flight))
            self._sending[route.route_code] = entry
        return entry[1]

    async def _deliver(self, route: Route, plan: RoutePlan, item: Claimed) -> None:
        try:
            async with self._slots(route):
                await self._send_one(route, plan, item)
        finally:
            self._policy.done(route.route_code, item.delivery_id)
            self._on_done()

    async def _send_one(self, route: Route, plan: RoutePlan, item: Claimed) -> None:
        started = dt.datetime.now(dt.UTC)
        webhook_id = records.idempotency_key(route.route_code, item.event_id)
        if self._policy.is_gone(route.route_code):
            self._completer.give_back(item.delivery_id, item.lease_token)
            return
        # Tracing off: no span, no header, nothing else below differs.
        span = tracing.start_attempt(
            route.route_code, route.target_kind, item.attempt_no, webhook_id, item.traceparent
        )
        header = tracing.traceparent(span) if span is not None else None
        try:
            prepared = prepare(plan, webhook_id, item.event_type, item.occurred_at, item.payload)
            if isinstance(prepared, DeliveryOutcome):
                outcome = prepared
            else:
                if header is not None:  # the receiver continues the attempt's trace
                    prepared[1]["traceparent"] = header
                outcome = await send(plan, self._client, prepared, webhook_id)
        except asyncio.CancelledError:
            if span is not None:
                span.end()
            raise
        except Exception as exc:  # a bug must not stop the loop: report it as a retryable failure
            log.warning("http delivery raised route=%s error=%s", route.route_code, type(exc).__name__)
            outcome = failed(
                plan.kind,
                retryable=True,
                failure="internal_error",
                reason=f"internal error: {type(exc).__name__}",
            )
        if outcome.detail.get("disable_route"):
            self._policy.mark_gone(route.route_code)
        if span is not None:
            tracing.end_attempt(span, outcome.status, outcome.detail)
        self._completer.put(
            records.result(route, item, outcome.status, outcome.detail, started, traceparent=header)
        )

    def stop(self, timeout: float) -> None:
        """Let running deliveries finish for ``timeout`` seconds, then cancel the rest (their
        leases expire and another worker delivers them again with the same webhook-id)."""
        if not self._thread.is_alive():
            return

        async def finish() -> None:
            pending = set(self._tasks)
            if pending:
                _done, late = await asyncio.wait(pending, timeout=max(timeout, 0.0))
                for task in late:
                    task.cancel()
                if late:
                    log.warning("drain: %d deliveries still running were cancelled", len(late))
                    await asyncio.gather(*late, return_exceptions=True)
            await self._client.aclose()

        future = asyncio.run_coroutine_threadsafe(finish(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
