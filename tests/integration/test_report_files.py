"""Report files are replaced atomically: a process killed mid-write leaves the previous file whole."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iu_core.report import files

# Runs in a child process that is killed (SIGKILL, no cleanup) at the step named by argv[2].
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from iu_core.report import files

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(os, sys.argv[2], die)
    files.atomic_write(Path(sys.argv[1]), "NEW " * 200_000)
    """
)


@pytest.mark.parametrize("step", ["replace", "fsync"])
def test_a_kill_before_the_rename_leaves_the_previous_file(tmp_path: Path, step: str) -> None:
    target = tmp_path / "REG-EN.md"
    files.atomic_write(target, "previous report\n")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(target), step],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert target.read_text(encoding="utf-8") == "previous report\n"
    leftovers = list(tmp_path.glob(".REG-EN.md.*.tmp"))
    assert len(leftovers) == 1  # the new content never took the old file's name
    if step == "replace":  # killed after the temporary file was complete and synced
        assert leftovers[0].read_text(encoding="utf-8") == "NEW " * 200_000


def test_a_failed_write_removes_its_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "QC-VI.html"
    files.atomic_write(target, "<p>previous</p>")

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError):
        files.atomic_write(target, "<p>new</p>")
    assert target.read_text(encoding="utf-8") == "<p>previous</p>"
    assert [p.name for p in tmp_path.iterdir()] == ["QC-VI.html"]


def test_written_files_carry_what_they_reflect(tmp_path: Path) -> None:
    assert files.reflected(tmp_path, "X-1") is None
    files.write_report(tmp_path, "X-1", markdown="# X-1\n", html="<p>x</p>", event_seq=7, digest="a" * 64)
    assert files.reflected(tmp_path, "X-1") == files.Reflected(7, "a" * 64)
    assert files.strip_marker((tmp_path / "X-1.md").read_text(encoding="utf-8")) == "# X-1\n"
    (tmp_path / "X-1.html").unlink()  # half a report counts as none: both are written again
    assert files.reflected(tmp_path, "X-1") is None
