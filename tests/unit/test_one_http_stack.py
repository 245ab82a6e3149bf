"""One HTTP stack in src/: no second client library, no hand-written HTTP parsing."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "iu_core"


def _modules() -> list[tuple[str, str]]:
    return [(str(p.relative_to(SRC)), p.read_text(encoding="utf-8")) for p in sorted(SRC.rglob("*.py"))]


def test_no_module_imports_httpx_or_httpcore() -> None:
    found = [
        name for name, text in _modules() if re.search(r"^\s*(import|from)\s+(httpx|httpcore)\b", text, re.M)
    ]
    assert found == []


def test_no_module_parses_a_status_line_or_a_chunked_body_itself() -> None:
    # What a hand-written HTTP/1.1 reader needs: the status line's prefix, the
    # end of a head, a chunk size read as hex. llhttp (httptools) does all three.
    patterns = [rb'b"HTTP/1\.', rb'readuntil\(b"\\r\\n', rb"int\([^)]*,\s*16\)"]
    found = [
        (name, pattern)
        for name, text in _modules()
        for pattern in patterns
        if re.search(pattern.decode(), text)
    ]
    assert found == []


def test_the_client_reads_answers_through_httptools() -> None:
    client = (SRC / "targets" / "http" / "client.py").read_text(encoding="utf-8")
    assert "import httptools" in client and "httptools.HttpResponseParser(" in client
