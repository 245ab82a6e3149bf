"""PDF (text layer): lines page by page, running headers, footers and page numbers removed.

pypdf extracts each page's text in the order its content stream draws it,
which for a printed single-column Act is reading order (multi-column pages
are not re-ordered). Then:

- **Running headers and footers**: the lines that open a page (up to
  ``_TOP``) and close it (up to ``_BOTTOM``) are dropped for as long as each
  is a header: a line that reads the same once its digits are set aside
  (``2 Fraud Act 2006 (c. 35)`` and ``Fraud Act 2006 (c. 35)`` are one
  header) and opens or closes at least three pages and a quarter of them, or
  stands at the same place on two and an eighth of them; or a page number (``3``, ``Page 3
  of 9``, ``- 3 -``, ``iv``). The first line that is not ends the run, so a
  sentence the statute repeats is not taken for a header below it.
- **Hyphenation**: a line ending in a letter and ``-`` whose next kept line
  (on the same page or the next) starts with a lower-case letter is joined to
  it without the hyphen (``repre-`` + ``sentation,`` -> ``representation,``).
- **Paragraphs**: a printed line break inside a paragraph is layout, not
  structure, so a line that continues the one before it is joined to it with
  a space, as Word and HTML give a paragraph: the next line starts no piece
  (autocut would not take it as a label, and it is not a UK section line
  ``1 Fraud``), is not in capitals, and the line before is prose that does
  not end a sentence (``.``, ``;``, ``:``, ``!``, ``?``) unless the next line
  starts in lower case (``… Nhân dân;`` / ``kiên quyết …``). After a part,
  chapter, section or article line only a lower-case line is joined (its
  heading wrapped: ``Điều 9. Trách nhiệm … công nghệ`` / ``thông tin``);
  after a UK section line or a line in capitals, none. A clause then has the
  same heading in a PDF as in the Word file.

A page's locator is its number (1-based) and the line's number on the page as
extracted (1-based, headers counted). A PDF whose pages carry no text (a scan)
is refused, and so is one encrypted with a password.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError

from iu_core.domain.autocut import classify_line
from iu_core.domain.sources.result import Extracted, Lines, Locator, clean_line
from iu_core.errors import IuCoreError

_TOP, _BOTTOM = 6, 4
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-\u2013\u2014\s]*(?:\d{1,4}|[ivxlc]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?[-\u2013\u2014\s]*$",
    re.IGNORECASE,
)
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SENTENCE_END = re.compile("[.;:!?][\"'\u201d\u2019)\\]]*$")
_UK_SECTION_LINE = re.compile("^\\d{1,3}[A-Z]{0,2} [\"'\u201c\u2018]?[A-Z]")
_KEY_DROP = re.compile(r"[\d\s]+")


def _open(data: bytes, where: str) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except (PdfReadError, PyPdfError, ValueError, KeyError) as exc:
        raise IuCoreError(f"{where} is not a readable PDF: {exc}") from exc
    except Exception as exc:  # a malformed file can break pypdf anywhere: still one line for the user
        raise IuCoreError(f"{where} is a damaged PDF ({type(exc).__name__}: {exc})") from exc
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))  # an owner password alone still lets anyone read it
        except Exception:  # an unsupported cipher is the same answer: it cannot be opened
            opened = False
        if not opened:
            raise IuCoreError(
                f"{where} is encrypted with a password; save a decrypted copy "
                "(for example: qpdf --decrypt --password=PASSWORD in.pdf out.pdf) and ingest that"
            )
    return reader


def _page_lines(reader: PdfReader, where: str) -> list[list[str]]:
    pages: list[list[str]] = []
    try:
        for page in reader.pages:
            pages.append([clean_line(line) for line in page.extract_text().split("\n")])
    except Exception as exc:  # a malformed page can break pypdf anywhere: still one line for the user
        raise IuCoreError(f"{where} is a damaged PDF ({type(exc).__name__}: {exc})") from exc
    return pages


def _bands(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of the page's top band (first lines down) and bottom band (last lines up)."""
    filled = [i for i, line in enumerate(lines) if line]
    return filled[:_TOP], filled[::-1][:_BOTTOM]


def _running(pages: list[list[str]]) -> set[tuple[int, int]]:
    """(page, line) of every running header, footer and page number.

    Statutes repeat themselves ("(i) to make a gain for himself or another, or" closes
    three sections of the Fraud Act), so a repeated line is a header only when it is
    part of the run of header lines that opens (or closes) its page, and it repeats
    either on many pages (three, and a quarter of them) or at the same place in that
    run on several (two, and an eighth of them).
    """
    pages_with: dict[str, set[int]] = defaultdict(set)
    at_place: dict[tuple[str, int, str], set[int]] = defaultdict(set)
    for p, lines in enumerate(pages):
        for side, band in zip(("top", "bottom"), _bands(lines), strict=True):
            for place, i in enumerate(band):
                key = _key(lines[i])
                pages_with[key].add(p)
                at_place[(side, place, key)].add(p)
    many = max(3, math.ceil(len(pages) / 4))
    placed = max(2, math.ceil(len(pages) / 8))
    drop: set[tuple[int, int]] = set()
    for p, lines in enumerate(pages):
        for side, band in zip(("top", "bottom"), _bands(lines), strict=True):
            for place, i in enumerate(band):
                key = _key(lines[i])
                header = bool(key) and (
                    len(pages_with[key]) >= many or len(at_place[(side, place, key)]) >= placed
                )
                if not (header or _PAGE_NUMBER.match(lines[i])):
                    break  # the page's own text starts here
                drop.add((p, i))
    return drop


def _key(line: str) -> str:
    """What repeats in a running header: the line without its digits (the page number, the
    section number printed beside it). A line autocut takes as a label ("Article 3") must
    repeat exactly: two pages that happen to start with an article are not a header."""
    if classify_line(line) is not None:
        return "=" + line
    return _KEY_DROP.sub("", line).lower()


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs what it repairs (a wrong xref offset, an odd font) on stderr; the user
    gets one line from us instead, so its logger is silenced while we read."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def extract_pdf(data: bytes, where: str) -> Extracted:
    """The text layer of a PDF, without running headers, footers and page numbers."""
    with _quiet_pypdf():
        reader = _open(data, where)
        pages = _page_lines(reader, where)
    if not any(line for lines in pages for line in lines):
        raise IuCoreError(
            f"{where} has no text layer (a scanned document?): run OCR on it first "
            "(for example: ocrmypdf in.pdf out.pdf) and ingest the result"
        )
    drop = _running(pages)
    kept: list[tuple[str, Locator]] = [
        (line, (p + 1, i + 1))
        for p, lines in enumerate(pages)
        for i, line in enumerate(lines)
        if line and (p, i) not in drop
    ]
    out = Lines("pdf")
    k = 0
    while k < len(kept):
        text, start = kept[k]
        end = start
        while k + 1 < len(kept):
            following = kept[k + 1][0]
            if _HYPHENATED.search(text) and following[:1].islower():
                text = text[:-1] + following
            elif _continues(text, following):
                text = text + " " + following
            else:
                break
            k += 1
            end = kept[k][1]
        out.add(text, start, end)
        k += 1
    return out.build(len(pages))


def _continues(line: str, following: str) -> bool:
    """Whether ``following`` is the same paragraph as ``line``, wrapped (see the docstring)."""
    if line.isupper() or following.isupper():
        return False
    if _UK_SECTION_LINE.match(line) or _UK_SECTION_LINE.match(following) or classify_line(following):
        return False
    if _SENTENCE_END.search(line) and not following[:1].islower():
        return False
    match = classify_line(line)
    return match is None or match.rank >= 50 or following[:1].islower()
