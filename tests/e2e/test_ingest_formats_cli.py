"""`iu-core ingest` on Word, HTML and PDF files, as a user runs it: docs/ingest-formats.md, bad files."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pypdf import PdfWriter

from tests.conftest import CliRunner
from tests.support import source_files as sf
from tests.support.docs import page_commands

DOCS = Path(__file__).parents[2] / "docs" / "ingest-formats.md"
FONT = sf.unicode_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no Unicode TTF font on this machine")


def _page_commands() -> list[list[str]]:
    return page_commands(DOCS)


def _write_page_files(folder: Path) -> None:
    assert FONT is not None
    body = sf.fraud_act_text()
    (folder / "fraud-act-2006.txt").write_text(body, encoding="utf-8")
    sf.write_pdf(
        body, folder / "fraud-act-2006.pdf", font=FONT, headers=sf.legislation_headers("Fraud Act 2006")
    )
    sf.write_docx(sf.statute("vn_hien_phap_2013.txt"), folder / "hien-phap-2013.docx", nfd=True)
    page = sf.thuvienphapluat_html(sf.statute("vn_luat_an_ninh_mang_2018.txt"), "Luật An ninh mạng")
    (folder / "luat-an-ninh-mang-2018.html").write_text(page, encoding="utf-8")


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


@needs_font
@pytest.mark.slow
def test_the_commands_of_the_formats_page_run(cli: CliRunner, tmp_path: Path) -> None:
    _write_page_files(tmp_path)
    commands = _page_commands()
    assert [c[0] for c in commands] == ["ingest", "tree", "ingest", "ingest", "ingest"]
    outputs = []
    for args in commands:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result.stdout)
    assert "from PDF, " in outputs[0] and " pages: " in outputs[0]
    tree = json.loads(outputs[1])
    sections = [k for k in tree["root"]["children"] if k["kind"] == "section"]
    assert [s["label"] for s in sections] == [str(i) for i in range(1, 9)]
    five = sections[4]["source"]
    assert five["format"] == "pdf"
    shown = re.search(r'"source": (\{"format": "pdf".*\})', DOCS.read_text(encoding="utf-8"))
    assert shown is not None and json.loads(shown.group(1)) == five  # the page shows the real value
    word = json.loads(outputs[2])
    assert word["source"]["format"] == "docx" and word["created"]
    assert "re-ingested UKPGA-2006-35" in outputs[4]
    after = json.loads(cli("tree", "UKPGA-2006-35", "--json").stdout)
    again = [k for k in after["root"]["children"] if k["kind"] == "section"]
    assert [s["piece_id"] for s in again] == [s["piece_id"] for s in sections]  # same pieces
    assert again[0]["source"] == {"format": "text", "start": {"line": 9}, "end": {"line": 9}}


def _encrypted_pdf(folder: Path) -> bytes:
    assert FONT is not None
    sf.write_pdf("Article 1 Scope\nText.\n", folder / "plain.pdf", font=FONT)
    writer = PdfWriter(clone_from=str(folder / "plain.pdf"))
    writer.encrypt("secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


@needs_font
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("locked.pdf", "is encrypted with a password"),
        ("budget.docx", "is a zip archive but not a Word document"),
        ("menu.html", "has no visible text"),
        ("old.doc", "save it as .docx"),
    ],
)
def test_bad_files_give_one_error_line_and_write_nothing(
    cli: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path, name: str, message: str
) -> None:
    data = {
        "locked.pdf": lambda: _encrypted_pdf(tmp_path),
        "budget.docx": _workbook,
        "menu.html": lambda: (
            b"<html><head><style>p{}</style></head><body><nav><a>Home</a></nav></body></html>"
        ),
        "old.doc": lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024),
    }[name]()
    (tmp_path / name).write_bytes(data)
    result = cli("ingest", str(tmp_path / name), "--code", "BAD")
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert _count(conn, "SELECT count(*) FROM information_unit") == 0
    assert _count(conn, "SELECT count(*) FROM event_outbox") == 0
    assert _count(conn, "SELECT count(*) FROM iu_structure_operation") == 0
