"""The common result of every extractor: the text autocut cuts, and where each line came from.

An extractor turns a file into lines. ``Lines`` collects them, normalising each
the same way for every rich format (NFC; non-breaking and other Unicode spaces
become one space; soft hyphens and zero-width spaces go; empty lines go), and
``Extracted`` is the text (lines joined with ``\\n``) with, for every line, the
locator of the first and the last source unit it came from: a PDF page and
line, a Word paragraph, an HTML element path, a text line. ``source_of`` turns
a range of lines into the ``source`` recorded on a piece.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iu_core.domain.autocut import classify_line

Locator = tuple[int | str, ...]

# What a locator's values mean, per format (all numbers 1-based).
FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("line",),
    "docx": ("paragraph",),
    "html": ("path",),
    "pdf": ("page", "line"),
}

_ODD = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(f"[ {_ODD}]+")
_ODD_SPACE = re.compile(f"[{_ODD}]")  # a cheap test first: most lines have single plain spaces only
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
# Every character str.splitlines() breaks at, so a line never hides a second one.
_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


_NUMBERED = re.compile(r"^\d{1,3}[A-Z]{0,2}\s+\S")


def labelled(line: str) -> bool:
    """Whether a heading's text carries its own number, so it needs no Markdown level.

    A legal label autocut knows (``Article 5``, ``Chương II``, ``(a)``), or a number and
    its words (``1 Fraud``: a UK section, which autocut decides with the whole document).
    """
    return classify_line(line) is not None or _NUMBERED.match(line) is not None


def clean_line(text: str) -> str:
    """One line as every rich format gives it: NFC, single spaces, no invisible characters."""
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFC", text)
    if "  " in text or _ODD_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    return text.strip()


@dataclass(frozen=True, slots=True)
class Extracted:
    """A document's text as autocut cuts it, and the source of each of its lines."""

    format: str  # "text", "docx", "html" or "pdf"
    text: str
    starts: Sequence[Locator]  # per line of ``text``: where it starts in the file
    ends: Sequence[Locator]  # and where it ends (a PDF line joined across a hyphen: the next line)
    units: int  # pages (PDF), paragraphs (Word), blocks (HTML), lines (text)
    _offsets: list[int] = field(default_factory=list, compare=False, repr=False)

    def line_offsets(self) -> list[int]:
        """The character offset at which each line starts (cached)."""
        if not self._offsets:
            pos = 0
            for line in self.text.splitlines(keepends=True):
                self._offsets.append(pos)
                pos += len(line)
        return self._offsets

    def source_of(self, first: int, last: int) -> dict[str, Any]:
        """The source of lines ``first``..``last`` (0-based, inclusive)."""
        names = FIELDS[self.format]
        return {
            "format": self.format,
            "start": dict(zip(names, self.starts[first], strict=True)),
            "end": dict(zip(names, self.ends[last], strict=True)),
        }

    def sources(self, texts: Sequence[str]) -> list[dict[str, Any] | None]:
        """The source of each consecutive slice of ``text`` (pieces in document order).

        ``texts`` joined must be ``self.text``; an empty slice has no source (None).
        """
        offsets = self.line_offsets()
        out: list[dict[str, Any] | None] = []
        pos = 0
        for piece in texts:
            if not piece:
                out.append(None)
                continue
            first = bisect_right(offsets, pos) - 1
            pos += len(piece)
            last = bisect_right(offsets, pos - 1) - 1
            out.append(self.source_of(first, last))
        return out

    def summary(self) -> dict[str, Any]:
        return {"format": self.format, "units": self.units, "chars": len(self.text)}


@dataclass(slots=True)
class Lines:
    """Collects an extractor's lines; ``build`` makes the ``Extracted``."""

    format: str
    texts: list[str] = field(default_factory=list)
    starts: list[Locator] = field(default_factory=list)
    ends: list[Locator] = field(default_factory=list)

    def add(self, text: str, start: Locator, end: Locator | None = None) -> None:
        """Add ``text`` (line breaks inside it make several lines); empty lines are dropped."""
        for part in _BREAKS.split(text):
            line = clean_line(part)
            if line:
                self.texts.append(line)
                self.starts.append(start)
                self.ends.append(end or start)

    def build(self, units: int) -> Extracted:
        text = "\n".join(self.texts) + "\n" if self.texts else ""
        return Extracted(self.format, text, tuple(self.starts), tuple(self.ends), units)


def plain_text(text: str) -> Extracted:
    """A text or Markdown document, kept byte for byte; each line is its own source."""
    count = len(text.splitlines())
    numbers = tuple((i + 1,) for i in range(count))
    return Extracted("text", text, numbers, numbers, count)
