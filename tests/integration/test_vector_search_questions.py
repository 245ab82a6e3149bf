"""Questions as users type them find their provision (the real e5 model, the shipped samples)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import vector
from iu_core.vector.search import search as search_pieces
from tests.support.vector import ingest_sample, require_pgvector

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow  # indexes with the real model: a minute on a busy 2-core machine


@pytest.fixture
def indexed(conn: Conn) -> Conn:
    require_pgvector(conn)
    ingest_sample(conn, "regulation_en.md", "REG-EN")
    ingest_sample(conn, "quy_che_vi.md", "QC-VI")
    vector.reindex(conn, "hub", vector.get_embedder("e5"))
    return conn


def _top(result: vector.SearchResult) -> tuple[str, str]:
    hit = result.hits[0]
    return hit.code, hit.heading_path


def test_a_vietnamese_question_typed_without_diacritics_finds_its_article(indexed: Conn) -> None:
    result = search_pieces(indexed, "toi co duoc cho nguoi khac dung chung tai khoan khong", collection="hub")
    assert result.language == vector.Language.VI
    assert result.searched_as.startswith("tôi có được cho người khác")  # restored before embedding
    code, path = _top(result)
    assert code == "QC-VI" and "Điều 3" in path  # Tài khoản truy cập


def test_a_vietnamese_question_about_an_english_law_finds_its_article(indexed: Conn) -> None:
    question = "Tôi phải đặt lịch dùng thiết bị trước bao nhiêu ngày?"
    # Asked of the English regulation, which holds no Vietnamese piece: every language is searched.
    scoped = search_pieces(indexed, question, collection="hub", iu_code="REG-EN", limit=3)
    assert scoped.language == "any"
    assert any("Article 3 Booking" in h.heading_path for h in scoped.hits)
    # Asked of the whole collection with --lang any, the English article still comes first.
    ranked = search_pieces(indexed, question, collection="hub", language="any", limit=5)
    assert any(h.code == "REG-EN" and "Article 3 Booking" in h.heading_path for h in ranked.hits)
