"""The embedder port: turns texts into unit-length vectors of a fixed size.

An embedder is named by its model (``name``) and the version of the recipe
that produced a vector (``version``); a stored vector whose name or version
differs from the embedder's is re-embedded. Passages and queries are embedded
separately because asymmetric models (E5) mark them differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["DIMS", "Embedder", "Matrix", "Vector", "vector_literal"]

Matrix = npt.NDArray[np.float32]  # (n, dims), one row per text
Vector = npt.NDArray[np.float32]  # (dims,)

# The width of iu_vector_piece.embedding (migration 010).
DIMS = 384


@runtime_checkable
class Embedder(Protocol):
    """Embedder contract: name, version, dims, embed_passages(texts), embed_query(text)."""

    name: str
    version: str
    dims: int

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised row per passage (document text), in order."""
        ...

    def embed_query(self, text: str) -> Vector:
        """The L2-normalised vector of a search query."""
        ...


def vector_literal(vector: Vector) -> str:
    """pgvector's text form, ``[0.1,0.2,...]``, for a bound ``%s::public.vector`` parameter."""
    return "[" + ",".join(repr(float(x)) for x in vector.tolist()) + "]"
