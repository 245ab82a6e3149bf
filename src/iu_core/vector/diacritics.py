"""Vietnamese typed without diacritics, restored from the indexed texts before it is embedded.

"toi co duoc cho nguoi khac dung chung tai khoan khong" is Vietnamese to a
reader and noise to the model: its syllables, stripped of their marks, are
other tokens than the marked ones the passages were embedded with. Each plain
syllable stands for a few marked ones ("dung" for dùng, đúng, dụng, dung ...),
and which one is meant depends on its neighbours. So the restorer learns, from
the Vietnamese texts in the search's scope plus a short list of words that
questions use and laws rarely do, how often each marked syllable and each pair
of neighbouring syllables occurs, then picks for the whole query the most
probable sequence of marked syllables (Viterbi over bigrams, unigram back-off).
Syllables the texts never show, and syllables typed with marks, stay as typed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import pairwise

__all__ = ["Restorer", "has_marks", "strip_marks"]

_SYLLABLE = re.compile(r"[^\W\d_]+", re.UNICODE)
# Phrases of questions that statutes seldom print (first person, question words),
# counted as if the texts used each of them now and then.
_QUESTION_PHRASES = (
    "tôi", "mình", "bạn", "em", "anh", "chị", "chúng tôi", "có được không", "được không", "có phải",
    "có không", "là gì", "là ai", "bao lâu", "bao nhiêu", "bao giờ", "mấy ngày", "như thế nào",
    "thế nào", "làm sao", "làm thế nào", "tại sao", "vì sao", "ở đâu", "khi nào", "ai", "gì",
    "nào", "hay không", "hoặc", "muốn", "cần", "phải làm gì", "dùng chung", "người khác",
    "cho người khác", "tôi có", "tôi muốn", "tôi cần", "tôi phải", "có bị", "bị phạt",
)


def strip_marks(text: str) -> str:
    """The text without Vietnamese diacritics (đ -> d), case kept."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def has_marks(word: str) -> bool:
    return strip_marks(word) != word


class Restorer:
    """Restores the marks of plain Vietnamese syllables from unigram and bigram counts."""

    def __init__(self, texts: Iterable[str]) -> None:
        self._unigrams: Counter[str] = Counter()
        self._bigrams: Counter[tuple[str, str]] = Counter()
        self._forms: dict[str, set[str]] = defaultdict(set)
        for text in texts:
            words = [w.lower() for w in _SYLLABLE.findall(text)]
            self._unigrams.update(words)
            self._bigrams.update(pairwise(words))
        weight = max(20, sum(self._unigrams.values()) // 1000)
        for phrase in _QUESTION_PHRASES:
            words = phrase.split()
            for word in words:
                self._unigrams[word] += weight
            for pair in pairwise(words):
                self._bigrams[pair] += weight
        for word in self._unigrams:
            self._forms[strip_marks(word)].add(word)
        self._total = sum(self._unigrams.values()) or 1

    def restore(self, query: str) -> str:
        """``query`` with each plain syllable replaced by its most probable marked form."""
        parts = re.split(r"([^\W\d_]+)", query)  # odd indexes are syllables
        syllables = parts[1::2]
        if not syllables:
            return query
        options = [self._options(word) for word in syllables]
        # Viterbi: best[i][form] = (log probability, previous form)
        best: list[dict[str, tuple[float, str | None]]] = [
            {form: (self._unigram(form), None) for form in options[0]}
        ]
        for i in range(1, len(syllables)):
            column: dict[str, tuple[float, str | None]] = {}
            for form in options[i]:
                column[form] = max(
                    ((score + self._transition(prev, form), prev) for prev, (score, _) in best[-1].items()),
                    key=lambda pair: pair[0],
                )
            best.append(column)
        form = max(best[-1], key=lambda f: best[-1][f][0])
        chosen = [form]
        for i in range(len(syllables) - 1, 0, -1):
            previous = best[i][chosen[-1]][1]
            assert previous is not None
            chosen.append(previous)
        chosen.reverse()
        parts[1::2] = [_same_case(typed, form) for typed, form in zip(syllables, chosen, strict=True)]
        return "".join(parts)

    def _options(self, typed: str) -> list[str]:
        lower = typed.lower()
        if has_marks(lower):
            return [lower]
        return sorted(self._forms.get(lower, set()) | {lower})

    def _unigram(self, form: str) -> float:
        return math.log((self._unigrams[form] + 0.1) / self._total)

    def _transition(self, previous: str, form: str) -> float:
        # Interpolated: the pair when the texts show it, else the syllable alone, discounted.
        pair = self._bigrams[(previous, form)]
        alone = (self._unigrams[form] + 0.1) / self._total
        follows = pair / self._unigrams[previous] if self._unigrams[previous] else 0.0
        return math.log(0.8 * follows + 0.2 * alone)


def _same_case(typed: str, form: str) -> str:
    if typed.isupper() and len(typed) > 1:
        return form.upper()
    if typed[:1].isupper():
        return form[:1].upper() + form[1:]
    return form
