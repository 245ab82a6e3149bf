"""The rescuer: keeps leases alive and held deliveries moving.

- Every ``sweep_interval_s``: ``fn_iu_worker_sweep`` releases held rows whose
  stream has nothing unfinished before them any more (a safety net).
- Retention: the pruner deletes finished history in short batches when it is
  due (``iu_core.retention.Pruner``: one worker at a time, a short budget per
  call), on this thread's own connection, so no lane waits for it.
- Every second: leases of deliveries still in flight past half their length
  are renewed in one statement (``fn_iu_worker_renew``). A lease that was not
  renewed (the worker died) expires, and the next claim takes the delivery
  over, recording the lost attempt.

Each duty runs on its own: an exception one of them did not expect (a
retention setting out of range, a bug) is logged, counted and backed off
(``service_loop``), and the other duties go on every round.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from iu_core import db
from iu_core.retention import Pruner
from iu_core.worker import service_loop, store
from iu_core.worker.config import WorkerConfig
from iu_core.worker.policy import RoutePolicy
from iu_core.worker.service_loop import Backoff

log = logging.getLogger("iu_core.worker")

RENEW_EVERY_S = 1.0


class Rescuer:
    def __init__(self, url: str, config: WorkerConfig, policy: RoutePolicy, wake: Callable[[], None]) -> None:
        self._url = url
        self._config = config
        self._policy = policy
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iu-core-rescuer", daemon=True)
        self._pruner = Pruner() if config.prune else None
        self._backoffs: dict[str, Backoff] = {}
        self._not_before: dict[str, float] = {}  # a duty that failed waits until then

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        last_sweep = 0.0
        delay = 0.0
        try:
            while not self._stop.wait(delay):
                delay = RENEW_EVERY_S
                try:
                    if conn is None or conn.closed:
                        conn = db.connect(self._url, autocommit=True)
                        conn.execute("SET application_name = 'iu-core worker rescuer'")
                    # Each duty on its own: one that keeps failing never stops the others.
                    self._duty("renew", self._renew, conn)
                    if time.monotonic() - last_sweep >= self._config.sweep_interval_s:
                        last_sweep = time.monotonic()
                        self._duty("sweep", self._sweep, conn)
                    if self._pruner is not None:
                        self._duty("prune", self._pruner.run_due, conn)
                except psycopg.Error as exc:
                    log.debug("rescuer: %s", type(exc).__name__)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
                except Exception as exc:  # connecting raised something unexpected
                    service_loop.failed("rescuer", exc)
                    delay = self._backoffs.setdefault("connect", Backoff()).next_delay()
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _duty(
        self, name: str, duty: Callable[[psycopg.Connection[Any]], object], conn: psycopg.Connection[Any]
    ) -> None:
        """Run one duty unless it is backing off; a lost connection goes up (a new one is made),
        anything else (a statement refused, a bug) is survived: logged, counted, and the duty
        waits its back-off."""
        if time.monotonic() < self._not_before.get(name, 0.0):
            return
        backoff = self._backoffs.setdefault(name, Backoff())
        try:
            duty(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except Exception as exc:
            service_loop.failed("rescuer", exc)
            self._not_before[name] = time.monotonic() + backoff.next_delay()
            return
        backoff.reset()

    def _renew(self, conn: psycopg.Connection[Any]) -> None:
        for lease_s, leases in self._policy.leases_to_renew().items():
            renewed = store.renew(conn, leases, lease_s)
            log.debug("renewed %d of %d leases", renewed, len(leases))

    def _sweep(self, conn: psycopg.Connection[Any]) -> None:
        released = store.sweep(conn)
        if released:
            log.info("sweep released=%d held deliveries", released)
            self._wake()

    def sweep_now(self, conn: psycopg.Connection[Any]) -> int:
        """One sweep on the caller's connection (``--once`` runs have no rescuer thread)."""
        return store.sweep(conn)
