"""Report files in a directory others can write to: only regular files are ever opened or replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from iu_core.report import files

DIGEST = "0" * 64


def _write(directory: Path, code: str = "REG-EN", seq: int = 7) -> None:
    files.write_report(directory, code, markdown="# report\n", html="<p>r</p>", event_seq=seq, digest=DIGEST)


@pytest.mark.timeout(10)  # opening a FIFO for reading without O_NONBLOCK waits for ever
def test_a_fifo_planted_at_the_marker_file_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "REG-EN.md")
    (tmp_path / "REG-EN.html").write_text("<p>r</p>")
    with pytest.raises(files.UnsafeReportFile, match=r"REG-EN\.md is a FIFO, not a regular file"):
        files.reflected(tmp_path, "REG-EN")
    with pytest.raises(files.UnsafeReportFile, match="FIFO"):
        _write(tmp_path)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "REG-EN.md").st_mode)  # left for the operator to see


def test_a_symlink_planted_at_a_report_name_is_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_text(f"<!-- iu-core report event_seq=99 digest={DIGEST} -->\n")
    secret.chmod(0o600)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "REG-EN.md").symlink_to(secret)
    (reports / "REG-EN.html").write_text("<p>r</p>")
    with pytest.raises(files.UnsafeReportFile, match="symbolic link"):
        files.reflected(reports, "REG-EN")
    with pytest.raises(files.UnsafeReportFile, match="symbolic link"):
        _write(reports)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600  # never chmod-ed through the link
    assert secret.read_text().startswith("<!-- iu-core report event_seq=99")


def test_a_symlink_or_directory_at_the_html_name_is_refused(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / "REG-EN.html").unlink()
    (tmp_path / "REG-EN.html").symlink_to(tmp_path / "REG-EN.md")
    with pytest.raises(files.UnsafeReportFile, match=r"REG-EN\.html is a symbolic link"):
        files.reflected(tmp_path, "REG-EN")
    (tmp_path / "REG-EN.html").unlink()
    (tmp_path / "REG-EN.html").mkdir()
    with pytest.raises(files.UnsafeReportFile, match=r"REG-EN\.html is a directory"):
        files.reflected(tmp_path, "REG-EN")


def test_a_directory_planted_at_the_marker_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "REG-EN.md").mkdir()
    (tmp_path / "REG-EN.html").write_text("<p>r</p>")
    with pytest.raises(files.UnsafeReportFile, match="is a directory"):
        files.reflected(tmp_path, "REG-EN")


def test_regular_files_are_read_as_before(tmp_path: Path) -> None:
    assert files.reflected(tmp_path, "REG-EN") is None
    _write(tmp_path, seq=12)
    assert files.reflected(tmp_path, "REG-EN") == files.Reflected(12, DIGEST)


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_the_file_mode_follows_the_umask(tmp_path: Path, umask: int, expected: int) -> None:
    previous = os.umask(umask)
    try:
        _write(tmp_path)
    finally:
        os.umask(previous)
    for name in ("REG-EN.md", "REG-EN.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_the_file_mode_setting_wins_over_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(files.FILE_MODE_ENV, "640")
    _write(tmp_path)
    assert stat.S_IMODE((tmp_path / "REG-EN.md").stat().st_mode) == 0o640
    monkeypatch.setenv(files.FILE_MODE_ENV, "rw-r--r--")
    with pytest.raises(files.UnsafeReportFile, match="not an octal file mode"):
        _write(tmp_path)


def test_the_mode_is_set_on_the_descriptor_never_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def by_path(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("chmod by path: a writer of the directory can swap the name for a link")

    monkeypatch.setattr(files.os, "chmod", by_path)
    _write(tmp_path)
    assert (tmp_path / "REG-EN.md").is_file()
