"""The notifier: LISTENs on ``iu_core_delivery`` and wakes the scheduler's lanes.

A notification with payload ``config`` (a route, the gate or the allowlist
changed) marks the routes stale and wakes every lane; any other wakes one.
Lanes also poll every ``poll_interval`` seconds, so a lost notification (a
dropped connection) delays nothing by more than that. Anything else raised
while listening is survived (``service_loop``) and the notifier listens again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from iu_core.worker import service_loop

log = logging.getLogger("iu_core.worker")

CHANNEL = "iu_core_delivery"


class Notifier:
    def __init__(
        self,
        url: str,
        wake_one: Callable[[], None],
        config_changed: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        self._url = url
        self._wake_one = wake_one
        self._config_changed = config_changed
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="iu-core-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = service_loop.Backoff()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff.reset()
                    self._config_changed()  # anything committed while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if note.payload == "config":
                                self._config_changed()
                            else:
                                self._wake_one()
            except psycopg.Error as exc:
                log.debug("listener lost its connection: %s", type(exc).__name__)
                self._stop.wait(backoff.next_delay())
            except Exception as exc:  # a wake-up callback raised: listen again after a pause
                service_loop.failed("notifier", exc)
                self._stop.wait(backoff.next_delay())
