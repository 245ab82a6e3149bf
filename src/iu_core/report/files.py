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

Hostile directories. Anyone who can write to the directory can plant
something at a report's name: a FIFO (opening it for reading would block
the worker inside its delivery transaction for ever), a symlink (to make the
worker read or chmod a file elsewhere), a directory. Nothing is ever opened
but a regular file: the marker is read through ``O_NOFOLLOW | O_NONBLOCK``
and an ``fstat`` of the descriptor, and anything else at the name is one
``UnsafeReportFile`` error (the delivery fails, retryably, with that reason).
The temporary file is created by ``mkstemp`` (``O_EXCL``, never through a
link) and its mode set with ``fchmod`` on the descriptor, never by path.
Its mode is what the worker's umask gives a new file (``0o666 & ~umask``),
or ``IU_CORE_REPORT_FILE_MODE`` (octal, e.g. ``640``) when set.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_MARKER = re.compile(r"^<!-- iu-core report event_seq=(?P<seq>\d+) digest=(?P<digest>[0-9a-f]{64}) -->$")
_MAX_NAME = 200  # bytes left for the code in a file name (limits are 255)
FILE_MODE_ENV = "IU_CORE_REPORT_FILE_MODE"
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_umask_lock = threading.Lock()


class UnsafeReportFile(OSError):
    """Something other than a regular file sits at a report file's name."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _unsafe(path: Path, what: str) -> UnsafeReportFile:
    return UnsafeReportFile(f"{path} is {what}, not a regular file: refusing to use it (remove it)")


def _process_umask() -> int:
    """This process's umask, read without changing it where Linux allows (``/proc``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # elsewhere: set and restore it (other threads may create files meanwhile)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode report files get: ``IU_CORE_REPORT_FILE_MODE`` (octal), else ``0o666 & ~umask``."""
    configured = os.environ.get(FILE_MODE_ENV, "").strip()
    if configured:
        try:
            mode = int(configured, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o777:
            raise UnsafeReportFile(f"{FILE_MODE_ENV}={configured!r} is not an octal file mode such as 640")
        return mode
    return 0o666 & ~_process_umask()


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
        fd = os.open(md, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
            raise _unsafe(md, "a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _unsafe(md, _kind(info.st_mode))
        first = os.read(fd, 300).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    finally:
        os.close(fd)
    try:
        html_mode = os.lstat(html).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(html_mode):
        raise _unsafe(html, _kind(html_mode))
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
    mode = file_mode()
    with contextlib.suppress(FileNotFoundError):
        found = os.lstat(path).st_mode
        if not stat.S_ISREG(found):
            raise _unsafe(path, _kind(found))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fchmod(handle.fileno(), mode)  # on the descriptor: a path could be swapped for a link
            os.fsync(handle.fileno())
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
