"""Vectors computed before the delivery's transaction, so the model never runs under its locks.

A vector delivery's transaction claims rows of ``iu_delivery`` (row locks) and
the advisory lock of each unit and collection; embedding a unit takes the
model seconds to minutes. So, before it claims, the worker asks the vector
target to ``prepare``: read (no lock taken) which units the next due
deliveries name, plan their sync as the transaction will, and embed every
passage that needs it into ``PreparedEmbedder``'s cache, keyed by the text.
The transaction then plans again under its locks, checks each piece's content
hash as always, and takes the vectors from the cache: only a text that changed
in between (a rare race) is embedded inside it. Nothing about the effect
changes: the transaction alone writes, exactly once, as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from iu_core.vector.embedder import Embedder, Matrix, Vector

__all__ = ["PreparedEmbedder"]

# Vectors kept (384 float32 each: 1.5 KiB): a few batches' worth of units.
CACHE_SIZE = 20_000


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class PreparedEmbedder:
    """An embedder that answers from vectors computed earlier by ``warm`` and embeds only the rest."""

    def __init__(self, inner: Embedder, capacity: int = CACHE_SIZE) -> None:
        self.inner = inner
        self.name, self.version, self.dims = inner.name, inner.version, inner.dims
        self._cache: OrderedDict[bytes, Vector] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.embedded = 0  # passages this wrapper sent to the model (for tests and metrics)

    def warm(self, texts: Sequence[str]) -> int:
        """Embed the texts not cached yet; returns how many went to the model."""
        return len(self._fill(texts))

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        self._fill(texts)
        with self._lock:
            rows = [self._cache.get(_key(text)) for text in texts]
        if any(row is None for row in rows):  # evicted meanwhile (a batch larger than the cache)
            return self.inner.embed_passages(texts)
        return np.stack(rows) if rows else np.zeros((0, self.dims), dtype=np.float32)  # type: ignore[arg-type]

    def embed_query(self, text: str) -> Vector:
        return self.inner.embed_query(text)

    def _fill(self, texts: Sequence[str]) -> list[str]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if _key(t) not in self._cache))
        if missing:
            vectors = self.inner.embed_passages(missing)
            with self._lock:
                self.embedded += len(missing)
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[_key(text)] = vector
                    self._cache.move_to_end(_key(text))
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return missing
