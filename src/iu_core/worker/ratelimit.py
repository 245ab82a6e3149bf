"""A per-route token bucket (per worker process: N workers share a rate N times)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _fill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, wanted: int) -> int:
        """Take up to ``wanted`` whole tokens; return how many were granted (maybe 0)."""
        with self._lock:
            self._fill()
            granted = min(wanted, int(self._tokens))
            self._tokens -= granted
            return max(granted, 0)

    def refund(self, unused: int) -> None:
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + unused)
