"""Report files of ``dir:PATH`` targets: names, atomic writes, and what a file reflects.

A report is written as ``CODE.md`` and ``CODE.html``. Each file is written
atomically: a temporary file in the same directory, fsync, ``os.replace``
over the old file, then fsync of the directory so the rename itself is
durable. A reader (or a crash at any moment) sees the old file or the new
one, never a half-written one; a crash before the rename leaves the old file
and a stray ``.CODE.md.*.tmp`` behind.

The first line of ``CODE.md`` is an HTML comment (invisible when rendered)
that names the event and digest the files reflect. ``CODE.html`` is written
first and ``CODE.md`` last, so the marker never claims more than both hold:
a crash between the two leaves an old marker and the next generation
writes both again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_MARKER = re.compile(r"^<!-- iu-core report event_seq=(?P<seq>\d+) digest=(?P<digest>[0-9a-f]{64}) -->$")
_MAX_NAME = 200  # bytes left for the code in a file name (limits are 255)


@dataclass(frozen=True, slots=True)
class Reflected:
    """What the report files of one IU in a directory reflect."""

    event_seq: int
    digest: str


def file_stem(code: str) -> str:
    """A file name for ``code``: safe characters kept, anything else percent-encoded.

    ``REG-EN`` stays ``REG-EN``; ``a/b`` becomes ``a%2Fb``; a leading dot is
    encoded so a report is never a hidden file; very long codes are cut and
    suffixed with a hash so two codes never share a file.
    """
    stem = quote(code, safe="-_.~")
    if stem.startswith("."):
        stem = "%2E" + stem[1:]
    if len(stem) > _MAX_NAME:
        stem = stem[: _MAX_NAME - 17] + "-" + hashlib.sha256(code.encode()).hexdigest()[:16]
    return stem


def paths(directory: Path, code: str) -> tuple[Path, Path]:
    """(markdown, html) paths of ``code``'s report in ``directory``."""
    stem = file_stem(code)
    return directory / f"{stem}.md", directory / f"{stem}.html"


def marker(event_seq: int, digest: str) -> str:
    return f"<!-- iu-core report event_seq={event_seq} digest={digest} -->"


def reflected(directory: Path, code: str) -> Reflected | None:
    """What ``code``'s files in ``directory`` reflect (None: missing, or not written by iu-core)."""
    md, html = paths(directory, code)
    try:
        with md.open("r", encoding="utf-8", errors="replace") as handle:
            first = handle.readline(200).rstrip("\n")
    except FileNotFoundError:
        return None
    if not html.is_file():
        return None
    found = _MARKER.match(first)
    return Reflected(int(found["seq"]), found["digest"]) if found else None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that it is either the old or the whole new content."""
    directory = path.parent
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def write_report(
    directory: Path, code: str, *, markdown: str, html: str, event_seq: int, digest: str
) -> None:
    """Write ``CODE.html`` then ``CODE.md`` (with its marker line), each atomically."""
    md_path, html_path = paths(directory, code)
    atomic_write(html_path, html)
    atomic_write(md_path, marker(event_seq, digest) + "\n" + markdown)


def strip_marker(text: str) -> str:
    """The Markdown of a report file without its marker line."""
    first, _, rest = text.partition("\n")
    return rest if _MARKER.match(first) else text
