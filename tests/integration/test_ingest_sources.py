"""Ingesting Word, HTML and PDF files: each piece's source in the database, the tree and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain.autocut import autocut
from iu_core.errors import IuCoreError
from iu_core.report import build, collect, render
from iu_core.report.render import generation_time
from tests.support import source_files as sf

Conn = psycopg.Connection[Any]
FONT = sf.unicode_font()


def _sources(conn: Conn, code: str) -> list[tuple[str, dict[str, Any] | None]]:
    return [(p.label, p.source) for _, p in domain.get_tree(conn, code).walk()]  # type: ignore[misc]


def test_a_word_document_records_each_piece_paragraph(conn: Conn, tmp_path: Path) -> None:
    text = sf.statute("vn_hien_phap_2013.txt")
    path = sf.write_docx(text, tmp_path / "hien-phap.docx", nfd=True)
    result = domain.ingest_document(conn, path, code="HP")
    assert result.source["format"] == "docx" and result.as_dict()["source"]["units"] > 60
    tree = domain.get_tree(conn, "HP")
    assert [(p.kind, p.label) for _, p in tree.walk()] == [(n.kind, n.label) for n in autocut(text).walk()]
    article = next(p for _, p in tree.walk() if p.label == "Điều 2")
    assert article.source is not None and article.source["format"] == "docx"
    start, end = article.source["start"]["paragraph"], article.source["end"]["paragraph"]
    assert 1 <= start == end  # the article's own text is its heading paragraph
    clauses = [p for p in tree.children(article.piece_id)]
    assert [c.label for c in clauses] == ["1.", "2.", "3."]
    paragraphs = [c.source["start"]["paragraph"] for c in clauses if c.source]
    assert end < paragraphs[0] < paragraphs[1] < paragraphs[2]  # its clauses follow, in order
    as_json = domain.tree_as_dict(tree)
    assert as_json["children"][0]["source"]["format"] == "docx"
    row = conn.execute(
        "SELECT parameters FROM iu_structure_operation WHERE iu_id = %s", (result.unit.iu_id,)
    ).fetchone()
    assert row is not None and row[0]["format"] == "docx" and row[0]["source"] == "hien-phap.docx"


@pytest.mark.skipif(FONT is None, reason="no Unicode TTF font on this machine")
def test_a_pdf_reingested_over_the_text_keeps_pieces_and_gives_them_pages(conn: Conn, tmp_path: Path) -> None:
    assert FONT is not None
    body = sf.fraud_act_text()
    (tmp_path / "fraud.txt").write_text(body, encoding="utf-8")
    sf.write_pdf(body, tmp_path / "fraud.pdf", font=FONT, headers=sf.legislation_headers("Fraud Act 2006"))
    domain.ingest_document(conn, tmp_path / "fraud.txt", code="FRAUD")
    before = {p.piece_id for _, p in domain.get_tree(conn, "FRAUD").walk()}
    text_sources = dict(_sources(conn, "FRAUD"))
    assert text_sources["1"] == {"format": "text", "start": {"line": 9}, "end": {"line": 9}}  # "1 Fraud"
    result = domain.ingest_document(conn, tmp_path / "fraud.pdf", code="FRAUD", replace=True)
    assert result.changed and result.operation is not None
    tree = domain.get_tree(conn, "FRAUD")
    sections = [p for _, p in tree.walk() if p.kind == "section"]
    assert [s.label for s in sections] == [str(i) for i in range(1, 9)]
    assert {s.piece_id for s in sections} <= before  # the same pieces, now traced to the PDF
    for s in sections:
        assert s.source is not None and s.source["format"] == "pdf"
        assert s.source["start"]["page"] >= 1 and s.source["start"]["line"] >= 1
    assert [s.source["start"]["page"] for s in sections if s.source] == sorted(
        s.source["start"]["page"] for s in sections if s.source
    )
    # The structure report carries where each piece came from.
    data = collect(conn, result.unit.iu_id)
    assert data is not None
    outline = render(build(data, generation_time())).json["outline"]
    by_label = {e["label"]: e for e in outline if e["status"] == "active"}
    assert by_label["5"]["source"]["format"] == "pdf"
    assert by_label["5"]["source"]["start"]["page"] == sections[4].source["start"]["page"]  # type: ignore[index]


def test_a_refused_file_writes_nothing(conn: Conn, tmp_path: Path) -> None:
    (tmp_path / "nav.html").write_text("<html><body><nav>Home</nav><script>x</script></body></html>")
    with pytest.raises(IuCoreError, match="has no visible text"):
        domain.ingest_document(conn, tmp_path / "nav.html", code="NAV")
    row = conn.execute("SELECT (SELECT count(*) FROM information_unit), (SELECT count(*) FROM event_outbox)")
    assert row.fetchone() == (0, 0)


def test_pieces_made_by_a_split_have_no_source_and_the_rest_keep_theirs(conn: Conn, tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(sf.thuvienphapluat_html(sf.statute("vn_hien_phap_2013.txt"), "HP"))
    domain.ingest_document(conn, tmp_path / "a.html", code="HTML")
    tree = domain.get_tree(conn, "HTML")
    article = next(p for _, p in tree.walk() if p.label == "Điều 3")
    assert article.source is not None and article.source["start"]["path"].startswith("/html[1]/body[1]/")
    result = domain.split_piece(conn, article.piece_id, offset=len(article.text) // 2)
    after = domain.get_tree(conn, "HTML")
    assert after.pieces[article.piece_id].source == article.source
    assert all(after.pieces[p].source is None for p in result.created)


def test_the_same_file_again_writes_nothing(conn: Conn, tmp_path: Path) -> None:
    path = sf.write_docx(sf.statute("eu_gdpr_articles_1_2.txt"), tmp_path / "gdpr.docx")
    domain.ingest_document(conn, path, code="GDPR")
    events = conn.execute("SELECT count(*) FROM event_outbox").fetchone()
    again = domain.ingest_document(conn, path, code="GDPR", replace=True)
    assert not again.changed and again.operation is None
    assert conn.execute("SELECT count(*) FROM event_outbox").fetchone() == events
