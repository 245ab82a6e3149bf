"""The completer: records finished deliveries in batches, on its own connection.

Dispatchers ``put`` results and ``give_back`` deliveries they did not send;
the completer takes whatever has accumulated (waiting at most ``LINGER_S``
for more once something arrived), groups it by route and records each group
with ONE statement (``store.record``: attempts, states, retries, dead letters,
circuit, 410 disable, failing-too-long disable), and gives unsent ones back
with one ``store.release``.

A batch that cannot be recorded (a value the database refuses) is recorded
result by result; a result that still fails is recorded as a failed attempt
with the reason and nothing of its detail; if even that fails it is left to
its lease, which expires: the delivery is retried, alone. One bad result never
stops the others, other routes or the drain. A lost connection keeps the
results for the next one. Anything else a batch raises is survived
(``service_loop``): logged, counted, that batch let go, the next one taken.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from iu_core import db, tracing
from iu_core.errors import one_line
from iu_core.metrics import record_results
from iu_core.worker import service_loop, store
from iu_core.worker.config import WorkerStats
from iu_core.worker.policy import RoutePolicy

log = logging.getLogger("iu_core.worker")

LINGER_S = 0.002  # gather results arriving together into one statement
MAX_BATCH = 2000


class _GiveBack:
    __slots__ = ("delivery_id", "token")

    def __init__(self, delivery_id: int, token: uuid.UUID) -> None:
        self.delivery_id = delivery_id
        self.token = token


class Completer:
    """One thread, one connection; ``on_recorded(config_changed)`` wakes the scheduler."""

    def __init__(
        self, url: str, stats: WorkerStats, policy: RoutePolicy, on_recorded: Callable[[bool], None]
    ) -> None:
        self._url = url
        self._policy = policy
        self._stats = stats
        self._on_recorded = on_recorded
        self._queue: queue.SimpleQueue[store.Result | _GiveBack] = queue.SimpleQueue()
        self._open = 0  # items put and not yet completed (idle means none)
        self.completions = 0  # batches completed so far (a lane compares before/after a round)
        self._open_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iu-core-completer", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None

    # -- used by dispatchers -------------------------------------------------------------
    def put(self, result: store.Result) -> None:
        if result.status == "failed":
            self._policy.failure_seen(result.route_code)
        with self._open_lock:
            self._open += 1
        self._queue.put(result)

    def give_back(self, delivery_id: int, token: uuid.UUID) -> None:
        with self._open_lock:
            self._open += 1
        self._queue.put(_GiveBack(delivery_id, token))

    def idle(self) -> bool:
        return self._open == 0

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Record what is queued, then end."""
        self._stop.set()
        self._thread.join(timeout)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self._url, autocommit=True)
            self._conn.execute("SET application_name = 'iu-core worker completer'")
        return self._conn

    def _run(self) -> None:
        failures = 0
        backoff = service_loop.Backoff()
        try:
            while True:
                items = self._take()
                if not items:
                    if self._stop.is_set():
                        return
                    continue
                try:
                    self._complete(items)
                    failures = 0
                    with self._open_lock:
                        self._open -= len(items)
                        self.completions += 1
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    failures += 1
                    log.warning("completer lost the database (%s); retrying", one_line(str(exc), 200))
                    for item in items:
                        self._queue.put(item)
                    with contextlib.suppress(Exception):
                        if self._conn is not None:
                            self._conn.close()
                    self._conn = None
                    if self._stop.is_set() and failures > 5:
                        return  # leases expire: the deliveries are redelivered
                    time.sleep(min(5.0, 0.1 * 2**failures))
                except Exception as exc:
                    # Not the connection: retrying the same items would fail the same way. They are
                    # let go (what was recorded stays recorded; the rest is redelivered when its
                    # lease expires) and the completer goes on with the next ones.
                    service_loop.failed("completer", exc)
                    with self._open_lock:
                        self._open -= len(items)
                        self.completions += 1
                    self._stop.wait(backoff.next_delay())
                else:
                    backoff.reset()
        finally:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()

    def _take(self) -> list[store.Result | _GiveBack]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        items = [first]
        deadline = time.monotonic() + LINGER_S
        while len(items) < MAX_BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.0005)
        return items

    # -- recording ---------------------------------------------------------------------------
    def _complete(self, items: list[store.Result | _GiveBack]) -> None:
        conn = self._connection()
        back = [(i.delivery_id, i.token) for i in items if isinstance(i, _GiveBack)]
        by_route: dict[str, list[store.Result]] = defaultdict(list)
        for item in items:
            if isinstance(item, store.Result):
                by_route[item.route_code].append(item)
        changed = False
        for route_code, results in by_route.items():
            changed |= self._record(conn, route_code, results)
            self._policy.failures_recorded(route_code, sum(r.status == "failed" for r in results))
        if back:
            released = store.release(conn, back)
            self._stats.add(round_trips=1, released=released)
            log.info("gave back %d unsent deliveries", released)
            changed = True
        self._on_recorded(changed)

    def _record(self, conn: psycopg.Connection[Any], route_code: str, results: list[store.Result]) -> bool:
        t0 = time.perf_counter()
        spans = tracing.start_records(results)  # [] when tracing is off
        try:
            recorded = store.record(conn, route_code, results)
            self._stats.add(round_trips=1)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            tracing.end_records(spans, exc)
            raise
        except psycopg.Error as exc:
            log.warning(
                "route=%s a batch of %d results could not be recorded (%s); recording one by one",
                route_code,
                len(results),
                one_line(str(exc), 200),
            )
            recorded = self._record_alone(conn, route_code, results)
        tracing.end_records(spans)
        record_results(route_code, results, recorded.dead)
        self._stats.add(
            sent=recorded.sent,
            skipped=recorded.skipped,
            retrying=recorded.retrying,
            dead=recorded.dead,
            fenced=recorded.fenced,
            batches=1,
        )
        if recorded.fenced:
            log.warning(
                "route=%s %d late results not recorded: their lease had passed to another worker",
                route_code,
                recorded.fenced,
            )
        if recorded.auto_disabled:
            log.warning("route=%s %s", route_code, recorded.auto_disabled)
        log.info(
            "batch route=%s recorded=%d sent=%d skipped=%d retrying=%d dead=%d ms=%.1f",
            route_code,
            len(results),
            recorded.sent,
            recorded.skipped,
            recorded.retrying,
            recorded.dead,
            (time.perf_counter() - t0) * 1000,
        )
        return bool(recorded.dead or recorded.retrying or recorded.auto_disabled)

    def _record_alone(
        self, conn: psycopg.Connection[Any], route_code: str, results: list[store.Result]
    ) -> store.Recorded:
        totals = dict(sent=0, skipped=0, retrying=0, dead=0, fenced=0)
        for result in results:
            for attempt in (result, _bare_failure(result)):
                try:
                    one = store.record(conn, route_code, [attempt])
                    self._stats.add(round_trips=1)
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    raise
                except psycopg.Error as exc:
                    log.warning(
                        "route=%s delivery=%d result not recordable (%s)",
                        route_code,
                        result.delivery_id,
                        one_line(str(exc), 200),
                    )
                    continue
                for key in totals:
                    totals[key] += getattr(one, key)
                break
            # Neither could be written: the lease expires and the delivery is retried alone.
        return store.Recorded(
            totals["sent"], totals["skipped"], totals["retrying"], totals["dead"], totals["fenced"]
        )


def _bare_failure(result: store.Result) -> store.Result:
    detail = {
        "reason": "the outcome could not be recorded as received; retryable",
        "retryable": True,
        "unrecordable": True,
    }
    return replace(result, status="failed", detail=detail)
