"""A deterministic hashing embedder: no model, for fast tests and the index's own cost.

Each word and each character trigram of the lower-cased, NFC-normalised text
adds ±1 to one of ``dims`` buckets chosen by BLAKE2b (not Python's salted
``hash``), and the sum is L2-normalised. Texts sharing words land close
together, so ranking in tests is meaningful, but it knows no synonyms and no
language: it is never the default.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from iu_core.vector.embedder import DIMS, Matrix, Vector

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Feature hashing of words and character trigrams into ``dims`` buckets."""

    name = "hashing"
    version = "1"

    def __init__(self, dims: int = DIMS) -> None:
        self.dims = dims

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
        features = [f"w:{w}" for w in words]
        for word in words:
            padded = f"#{word}#"
            features.extend(f"c:{padded[i : i + 3]}" for i in range(max(len(padded) - 2, 1)))
        return features

    def _embed(self, text: str) -> Vector:
        vector = np.zeros(self.dims, dtype=np.float32)
        for feature in self._features(text):
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dims
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:  # no word at all: a fixed unit vector, so cosine stays defined
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._embed(text)
        return out

    def embed_query(self, text: str) -> Vector:
        return self._embed(text)
