"""Which language a text is in: English or Vietnamese, by a diacritics heuristic.

Vietnamese writes tones and vowel qualities with diacritics that English never
uses (ă â đ ê ô ơ ư and the tone marks on any vowel). A text in which enough
letters carry them is Vietnamese. A text typed without diacritics is caught
by a short list of very common Vietnamese syllables; anything else is English.
"""

from __future__ import annotations

import enum
import re
import unicodedata

__all__ = ["Language", "detect_language"]


class Language(enum.StrEnum):
    """Mirrors the CHECK on iu_vector_piece.language."""

    EN = "en"
    VI = "vi"


# Base letters that only Vietnamese (of the two) uses, and the combining marks only it
# uses: hook above, dot below, breve, circumflex, horn. Acute, grave and tilde are left
# out: French or Spanish words in an English text carry them too.
_VI_LETTERS = frozenset("ăâđêôơư")
_VI_MARKS = frozenset("\u0309\u0323\u0306\u0302\u031b")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Frequent Vietnamese syllables as typed without diacritics (none is an English word
# one meets often in a question).
_VI_PLAIN = frozenset(
    (
        *("cua", "duoc", "nguoi", "khong", "nhung", "trong", "cac", "mot", "nay", "thi"),
        *("voi", "cho", "tai", "lieu", "bao", "nhieu", "gio", "lam", "sao", "nao"),
        *("quy", "che", "dieu", "khoan", "muon", "phai", "vien", "dung"),
        *("toi", "luc", "luong", "ve", "ninh", "mang", "gom", "nhung", "du", "nhan", "tren", "gian"),
        *("thoi", "sach", "cuon", "quyen", "nghia", "vu", "phap", "luat", "nha", "nuoc", "cong"),
        *("xa", "hoi", "thong", "phat", "hanh", "xu", "trach", "nhiem", "chuc", "dinh", "ngay"),
        *("thang", "kinh", "doanh", "tien", "phi", "hoc", "sinh", "benh", "giay", "phep", "dang"),
        *("chieu", "khau", "truong", "tuong", "chinh", "quoc", "gi", "ai", "thu", "co", "khi"),
    )
)
# Share of letters with a Vietnamese diacritic above which a text is Vietnamese.
_THRESHOLD = 0.04


def _marked(word: str) -> int:
    """Letters of ``word`` that are ă/â/đ/ê/ô/ơ/ư or carry a mark only Vietnamese uses."""
    count = 0
    for char in word:
        decomposed = unicodedata.normalize("NFD", char)
        if char in _VI_LETTERS or decomposed[0] in _VI_LETTERS or any(m in _VI_MARKS for m in decomposed[1:]):
            count += 1
    return count


def detect_language(text: str) -> Language:
    """``Language.VI`` when ``text`` reads as Vietnamese, else ``Language.EN``."""
    words = _WORD.findall(text.lower())
    if not words:
        return Language.EN
    letters = sum(len(w) for w in words)
    marked = sum(_marked(w) for w in words)
    if marked / letters >= _THRESHOLD:
        return Language.VI
    plain = sum(1 for w in words if w in _VI_PLAIN)
    if plain >= 2 and plain / len(words) >= 0.25:
        return Language.VI
    return Language.EN
