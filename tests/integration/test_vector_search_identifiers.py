"""A question that names a provision by its identifier gets that provision first.

The hashing embedder (no model) ranks by shared words only, so whatever comes
first here came first because the identifier named it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import vector
from iu_core.vector.search import search as search_pieces
from tests.support.vector import ingest_sample, require_pgvector

Conn = psycopg.Connection[Any]


@pytest.fixture
def indexed(conn: Conn) -> Conn:
    require_pgvector(conn)
    ingest_sample(conn, "regulation_en.md", "REG-EN")
    ingest_sample(conn, "quy_che_vi.md", "QC-VI")
    vector.reindex(conn, "hub", vector.get_embedder("hashing"))
    return conn


def test_a_bare_article_number_ranks_that_article_first(indexed: Conn) -> None:
    # Điều 3 is a heading over its two clauses: the clauses stand for it
    result = search_pieces(indexed, "Điều 3", collection="hub", iu_code="QC-VI", limit=5)
    top = result.hits[0]
    assert top.identified and top.eid is not None and "art_3__" in top.eid
    assert "Điều 3" in top.heading_path
    assert [h.identified for h in result.hits[:2]] == [True, True]  # both clauses of Điều 3


def test_a_clause_of_an_article_ranks_that_clause_first(indexed: Conn) -> None:
    result = search_pieces(indexed, "khoản 2 Điều 3 nói gì", collection="hub", iu_code="QC-VI")
    top = result.hits[0]
    assert top.identified and top.eid is not None and top.eid.endswith("art_3__para_2")
    assert "không được chia sẻ tài khoản" in top.snippet
    assert sum(h.identified for h in result.hits) == 1


def test_an_english_article_is_found_across_the_collection(indexed: Conn) -> None:
    result = search_pieces(indexed, "what does Article 5 say", collection="hub", limit=3)
    top = result.hits[0]
    assert top.code == "REG-EN" and top.identified
    assert "Article 5" in top.heading_path


def test_a_question_without_an_identifier_is_ranked_by_similarity_alone(indexed: Conn) -> None:
    result = search_pieces(indexed, "booking lasts four hours", collection="hub", limit=5)
    assert result.hits and not any(h.identified for h in result.hits)
    assert "Article 3" in result.hits[0].heading_path


def test_an_identifier_that_names_no_piece_leaves_the_ranking_to_similarity(indexed: Conn) -> None:
    result = search_pieces(indexed, "Article 99 booking", collection="hub", limit=5)
    assert result.hits and not any(h.identified for h in result.hits)
