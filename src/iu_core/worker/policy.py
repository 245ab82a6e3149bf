"""The worker's per-route policy in this process: rate limits, in-flight slots, routes gone.

- **Rate limit**: a token bucket per route (``rate_limit_per_s``; N worker
  processes share a rate N times).
- **In-flight slots**: a route has at most its ``max_in_flight`` deliveries
  in flight, and the process at most ``http_concurrency`` over all routes.
- **Gone**: once a receiver answered HTTP 410 (the target asked to disable the
  route), nothing more is sent to that route from this process: deliveries
  still waiting to be sent are given back unsent. The mark holds until the
  scheduler sees the route disabled in the database (the record step did it),
  or for ``GONE_HOLD_S`` at most.
- **Leases** of deliveries in flight, so the rescuer can renew the long ones.

The circuit breaker itself lives in SQL (``fn_iu_worker_record`` counts,
the claim refuses while open); ``store.Route.refusal`` carries its answer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from iu_core.worker.ratelimit import TokenBucket
from iu_core.worker.store import Route

GONE_HOLD_S = 60.0


@dataclass(frozen=True, slots=True)
class Lease:
    delivery_id: int
    token: uuid.UUID
    lease_s: float
    since: float  # time.monotonic() of the claim or the last renewal


class RoutePolicy:
    """Thread-safe; shared by the scheduler, the dispatchers and the rescuer."""

    def __init__(self, http_concurrency: int) -> None:
        self.http_concurrency = http_concurrency
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._inflight: dict[str, int] = defaultdict(int)
        self._total = 0
        self._gone: dict[str, float] = {}
        self._leases: dict[int, Lease] = {}
        self._unrecorded_failures: dict[str, int] = defaultdict(int)

    # -- rate ----------------------------------------------------------------------
    def take_rate(self, route: Route, wanted: int) -> int:
        if route.rate_limit_per_s is None:
            return wanted
        with self._lock:
            bucket = self._buckets.get(route.route_code)
            if bucket is None or bucket.rate != route.rate_limit_per_s:
                bucket = self._buckets[route.route_code] = TokenBucket(route.rate_limit_per_s)
        return bucket.take(wanted)

    def refund_rate(self, route: Route, unused: int) -> None:
        bucket = self._buckets.get(route.route_code)
        if bucket is not None and unused > 0:
            bucket.refund(unused)

    # -- in-flight -------------------------------------------------------------------
    def busy(self, route_code: str) -> bool:
        with self._lock:
            return self._inflight.get(route_code, 0) > 0

    def reserve(self, route: Route, wanted: int) -> int:
        """Take up to ``wanted`` free slots of the route for a claim (0: claim nothing now).

        Check and take are one step, so lanes claiming at the same time never
        exceed the route's ``max_in_flight`` together. While the route is busy
        a claim waits for half its window: fewer, larger claims at the same depth.
        """
        with self._lock:
            used = self._inflight[route.route_code]
            free = min(route.max_in_flight - used, self.http_concurrency - self._total, wanted)
            if free <= 0 or (used > 0 and free < route.max_in_flight // 2):
                return 0
            self._inflight[route.route_code] += free
            self._total += free
            return free

    def unreserve(self, route_code: str, unused: int) -> None:
        """Give back reserved slots a claim did not fill."""
        if unused > 0:
            with self._lock:
                self._inflight[route_code] -= unused
                self._total -= unused

    def acquire(self, route_code: str, leases: list[Lease]) -> None:
        """Register the leases of claimed deliveries (their slots were reserved)."""
        with self._lock:
            for lease in leases:
                self._leases[lease.delivery_id] = lease

    def done(self, route_code: str, delivery_id: int) -> None:
        with self._lock:
            self._inflight[route_code] -= 1
            self._total -= 1
            self._leases.pop(delivery_id, None)

    @property
    def inflight_total(self) -> int:
        with self._lock:
            return self._total

    # -- circuit ---------------------------------------------------------------------
    # A failure not yet recorded may be the one that opens the route's circuit (in
    # SQL): claim nothing more for the route until the completer has recorded it.
    def failure_seen(self, route_code: str) -> None:
        with self._lock:
            self._unrecorded_failures[route_code] += 1

    def failures_recorded(self, route_code: str, count: int) -> None:
        with self._lock:
            left = self._unrecorded_failures[route_code] - count
            if left > 0:
                self._unrecorded_failures[route_code] = left
            else:
                self._unrecorded_failures.pop(route_code, None)

    def failures_pending(self, route_code: str) -> bool:
        return self._unrecorded_failures.get(route_code, 0) > 0

    # -- leases ----------------------------------------------------------------------
    def leases_to_renew(self) -> dict[float, list[tuple[int, uuid.UUID]]]:
        """Leases past half their length, by lease length; marked renewed now."""
        now = time.monotonic()
        due: dict[float, list[tuple[int, uuid.UUID]]] = defaultdict(list)
        with self._lock:
            for key, lease in list(self._leases.items()):
                if now - lease.since > lease.lease_s / 2:
                    due[lease.lease_s].append((lease.delivery_id, lease.token))
                    self._leases[key] = Lease(lease.delivery_id, lease.token, lease.lease_s, now)
        return dict(due)

    # -- gone (HTTP 410) ---------------------------------------------------------------
    def mark_gone(self, route_code: str) -> None:
        with self._lock:
            self._gone[route_code] = time.monotonic()

    def is_gone(self, route_code: str) -> bool:
        if not self._gone:
            return False
        with self._lock:
            since = self._gone.get(route_code)
            if since is not None and time.monotonic() - since > GONE_HOLD_S:
                del self._gone[route_code]
                return False
            return since is not None

    def seen_routes(self, routes: list[Route]) -> None:
        """Forget the gone mark of routes the database now shows disabled."""
        if not self._gone:
            return
        with self._lock:
            for route in routes:
                if not route.enabled:
                    self._gone.pop(route.route_code, None)
