"""How a worker service survives what it did not expect: log one line, count it, back off, go on.

Every service of the worker (the scheduler's lanes, the HTTP dispatcher's
loop, the completer, the rescuer, the notifier) is a thread that must outlive
any exception: a thread that dies silently leaves the process running while
its job stops (held deliveries never released, leases never renewed,
outcomes never recorded). Each service catches what it knows how to handle
itself (a lost connection) and hands everything else to ``failed``:

- one log line at ERROR: the service, the exception's type and its message
  folded to one line and cut short (never a traceback at that level, which
  may quote values; the traceback goes to DEBUG). A service failing the same
  way again and again logs it once a minute, with how many it held back;
- the counter ``iu_worker_service_errors_total{service=...}``, on the
  worker's metrics registry, counts every one;
- the caller then waits ``Backoff.next_delay()`` (capped exponential, with
  jitter) before its next round, so a failure that repeats costs little.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from prometheus_client import Counter

from iu_core.errors import one_line
from iu_core.metrics import REGISTRY

log = logging.getLogger("iu_core.worker")

SERVICES = ("scheduler", "http_dispatcher", "pool_dispatcher", "completer", "rescuer", "notifier")
REPEAT_LOG_EVERY_S = 60.0
BACKOFF_MAX_S = 5.0

SERVICE_ERRORS = Counter(
    "iu_worker_service_errors",
    "Unexpected exceptions a worker service survived (logged, then retried after a back-off), by service.",
    ["service"],
    registry=REGISTRY,
)

_lock = threading.Lock()
_last_logged: dict[tuple[str, str], tuple[float, int]] = {}  # (service, type) -> (when, held back)


def failed(service: str, exc: BaseException) -> None:
    """Record that ``service`` survived ``exc``: count it and log one line (once a minute per kind)."""
    SERVICE_ERRORS.labels(service).inc()
    kind = type(exc).__name__
    now = time.monotonic()
    with _lock:
        when, held = _last_logged.get((service, kind), (-REPEAT_LOG_EVERY_S, 0))
        if now - when < REPEAT_LOG_EVERY_S:
            _last_logged[(service, kind)] = (when, held + 1)
            return
        _last_logged[(service, kind)] = (now, 0)
    more = f" ({held} more like it since the last report)" if held else ""
    log.error("service=%s survived %s: %s; going on%s", service, kind, one_line(str(exc), 200), more)
    log.debug("service=%s traceback", service, exc_info=exc)


class Backoff:
    """Capped exponential delays with jitter: 0.1 s, 0.2 s, ... up to ``BACKOFF_MAX_S``."""

    def __init__(self, cap: float = BACKOFF_MAX_S) -> None:
        self.failures = 0
        self._cap = cap

    def next_delay(self) -> float:
        self.failures += 1
        cap = min(self._cap, 0.1 * float(2 ** min(self.failures, 10)))
        return cap / 2 + random.random() * cap / 2

    def reset(self) -> None:
        self.failures = 0
