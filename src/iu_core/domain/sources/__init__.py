"""Documents in: a file's format found from its content, and its text extracted for autocut.

API::

    read_source(path) -> Extracted        # sniff, then the format's extractor
    extract(data, name) -> Extracted      # the same from bytes (``name`` for messages and the extension)
    sniff(data, name) -> str              # "pdf", "docx", "html" or "text"; refuses .doc and other binaries
    plain_text(text) -> Extracted         # a text or Markdown document as it is
    Extracted                             # the text, each line's source, ``sources(piece_texts)``

The format is chosen by the bytes: ``%PDF-`` is a PDF, a zip holding
``word/document.xml`` is a Word document, a page that opens with
``<!doctype html`` or ``<html`` (or any file named ``.html``/``.htm``) is
HTML; anything else must be UTF-8 text. A file named ``.pdf`` or ``.docx``
whose bytes are not that format is refused rather than read as text. An
OLE2 file (Word 97-2003 ``.doc``) is refused with what to do instead.
Every refusal is an ``IuCoreError``: one line for the user, nothing written.
"""

from __future__ import annotations

from pathlib import Path

from iu_core.domain.sources.result import FIELDS, Extracted, Lines, clean_line, plain_text
from iu_core.errors import IuCoreError

__all__ = [
    "FIELDS",
    "FORMATS",
    "Extracted",
    "Lines",
    "clean_line",
    "extract",
    "plain_text",
    "read_source",
    "sniff",
]

FORMATS = ("text", "docx", "html", "pdf")

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_HTML_START = (b"<!doctype html", b"<html", b"<?xml version", b"<head", b"<body")


def sniff(data: bytes, name: str) -> str:
    """The format of a file, from its first bytes (the name only breaks a tie for HTML)."""
    suffix = Path(name).suffix.lower()
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if data.startswith(b"%PDF-") or (b"%PDF-" in data[:1024] and b"%%EOF" in data[-2048:]):
        return "pdf"
    if data.startswith(_OLE):
        raise IuCoreError(
            f"{name} is a Word 97-2003 (.doc) or other OLE2 file, which IU Core does not read; "
            "open it in Word or LibreOffice and save it as .docx (or export it as PDF), then ingest that"
        )
    if data.startswith(_ZIP):
        return "docx"  # the Word extractor refuses a zip that is not a Word document
    if head.startswith(_HTML_START[:2]) or suffix in (".html", ".htm", ".xhtml"):
        return "html"
    if head.startswith(_HTML_START[2:]) and b"<html" in data[:4096].lower():
        return "html"
    if suffix == ".pdf":
        raise IuCoreError(f"{name} is named .pdf but is not a PDF (no %PDF- header)")
    if suffix in (".docx", ".docm", ".dotx"):
        raise IuCoreError(f"{name} is named {suffix} but is not a Word document (not a zip archive)")
    if suffix == ".doc":
        raise IuCoreError(f"{name} is named .doc but is not a Word 97-2003 file; save it as .docx")
    return "text"


def extract(data: bytes, name: str) -> Extracted:
    """The text autocut cuts, from a file's bytes."""
    fmt = sniff(data, name)
    # Each format's parser (pypdf, python-docx, lexbor) is imported when a file of that format
    # arrives: together they cost every command ~0.2 s of start-up, and most never ingest.
    if fmt == "pdf":
        from iu_core.domain.sources.pdf import extract_pdf

        result = extract_pdf(data, name)
    elif fmt == "docx":
        from iu_core.domain.sources.word import extract_docx

        result = extract_docx(data, name)
    elif fmt == "html":
        from iu_core.domain.sources.html import extract_html

        result = extract_html(data, name)
    else:
        result = plain_text(_utf8(data, name))
    if fmt != "text" and not result.text.strip():  # an empty text file: ingest says "is empty"
        what = {"docx": "paragraphs", "html": "visible text (scripts, styles and navigation are skipped)"}
        raise IuCoreError(f"{name} has no {what.get(fmt, 'text')}: nothing to ingest")
    return result


def read_source(path: Path) -> Extracted:
    """Read and extract a document file; a missing or unreadable file is a user error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IuCoreError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return extract(data, str(path))


def _utf8(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IuCoreError(f"{name} is not UTF-8 text (invalid byte at offset {exc.start})") from exc
    if "\x00" in text:
        raise IuCoreError(f"{name} contains NUL characters; it is not a text document")
    return text.removeprefix("\ufeff")
