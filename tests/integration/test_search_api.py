"""GET /api/search: applications search over HTTP with a bearer token; without one, 401."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import vector
from iu_core.vector.hashing import HashingEmbedder
from tests.support.console import client
from tests.support.vector import ingest_sample, require_pgvector

Conn = psycopg.Connection[Any]
TOKEN = "search-token-for-tests-0123456789"


@pytest.fixture
def indexed(conn: Conn) -> Conn:
    require_pgvector(conn)
    ingest_sample(conn, "regulation_en.md", "REG-EN")
    ingest_sample(conn, "quy_che_vi.md", "QC-VI")
    vector.reindex(conn, "hub", HashingEmbedder())
    return conn


def test_a_token_gets_results_and_no_token_gets_401(database_url: str, indexed: Conn) -> None:
    with client(database_url, search_tokens=(TOKEN,)) as c:
        refused = c.get("/api/search", params={"q": "booking"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert (
            c.get(
                "/api/search", params={"q": "booking"}, headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
        answer = c.get(
            "/api/search",
            params={"q": "How many days in advance is a booking made?", "collection": "hub", "limit": "3"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["query"] == "How many days in advance is a booking made?" and body["language"] == "en"
    assert 1 <= len(body["hits"]) <= 3
    hit = body["hits"][0]
    assert hit["code"] == "REG-EN" and hit["collection"] == "hub"
    assert {"piece_id", "heading_path", "heading", "label", "score", "snippet"} <= set(hit)


def test_without_a_configured_token_the_endpoint_is_off(database_url: str, indexed: Conn) -> None:
    with client(database_url) as c:
        assert (
            c.get("/api/search", params={"q": "x"}, headers={"Authorization": "Bearer x"}).status_code == 401
        )
        assert (
            c.get("/api/search", params={"q": "x"}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code
            == 401
        )


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({}, 400, "q is required"),
        ({"q": "x", "limit": "0"}, 400, "limit must be between"),
        ({"q": "x", "limit": "ten"}, 400, "whole number"),
        ({"q": "x", "lang": "fr"}, 400, "lang must be one of"),
        ({"q": "x", "iu": "NO-SUCH"}, 404, "unknown information unit"),
        ({"q": "x", "collection": "bad name!"}, 400, "collection"),
    ],
)
def test_bad_requests_are_client_errors(
    database_url: str, indexed: Conn, params: dict[str, str], status: int, says: str
) -> None:
    with client(database_url, search_tokens=(TOKEN,)) as c:
        answer = c.get("/api/search", params=params, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == status, answer.text
    assert says in answer.json()["error"]


def test_a_nul_byte_is_a_client_error(database_url: str, indexed: Conn) -> None:
    with client(database_url, search_tokens=(TOKEN,)) as c:
        answer = c.get("/api/search", params={"q": "x\x00y"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400
