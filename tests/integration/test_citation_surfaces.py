"""Citations where people look: search results, reports (Markdown, HTML, JSON), the console."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from iu_core import domain
from iu_core.vector.hashing import HashingEmbedder
from iu_core.vector.store import sync_units
from tests.conftest import CliRunner
from tests.integration.test_citation_store import ACT, OTHER
from tests.support.console import client, login, make_user
from tests.support.vector import require_pgvector


def _ingest(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, ACT, code="TA", title="Test Act 2020")
    domain.ingest_document(conn, OTHER, code="OA", title="Other Act 2021")


def test_search_results_carry_what_the_provision_cites_and_what_cites_it(
    cli: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    require_pgvector(conn)
    _ingest(conn)
    ids = [r[0] for r in conn.execute("SELECT iu_id FROM information_unit")]
    with conn.transaction():
        sync_units(conn, "docs", ids, HashingEmbedder())
    done = cli(
        "search", "person breaches offence", "--collection", "docs", "--iu", "TA", "--limit", "20", "--json"
    )
    assert done.returncode == 0, done.stderr
    hits = {h["eid"]: h for h in json.loads(done.stdout)["hits"]}
    offences = hits["sec_3"]
    assert [(c["matched_text"], c["to_code"], c["to_eid"]) for c in offences["cites"]] == [
        ("section 2", "TA", "sec_2"),
        ("section 2(1)", "TA", "sec_2__subsec_1"),
    ]
    assert [(c["from_code"], c["from_eid"]) for c in offences["cited_by"]] == [("TA", "sec_4")]
    again = cli(
        "search", "covers everything", "--collection", "docs", "--iu", "TA", "--limit", "20", "--json"
    )
    clause = {h["eid"]: h for h in json.loads(again.stdout)["hits"]}["sec_2__subsec_1"]
    assert [(c["from_code"], c["from_eid"]) for c in clause["cited_by"]] == [("TA", "sec_3")]
    assert clause["cites"] == []


def test_reports_list_outgoing_and_incoming_citations(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    _ingest(conn)
    assert cli("report", "build", "--iu", "TA").returncode == 0
    document = json.loads(cli("report", "show", "TA", "--json").stdout)
    outgoing = [(c["from_eid"], c["text"], c["eid"]) for c in document["citations"]["outgoing"]]
    assert ("sec_3", "section 2(1)", "sec_2__subsec_1") in outgoing and len(outgoing) == 4
    assert [(c["code"], c["from_eid"], c["eid"]) for c in document["citations"]["incoming"]] == [
        ("OA", "sec_1", "sec_2")
    ]
    markdown = cli("report", "show", "TA").stdout
    assert "## Citations" in markdown and "`sec_4` “section 3” → `sec_3`" in markdown
    assert "**OA** `sec_1` “Section 2 of the Test Act 2020” → `sec_2`" in markdown
    html = cli("report", "show", "TA", "--format", "html").stdout
    assert '<section id="citations">' in html and "<strong>OA</strong>" in html


def test_console_provision_page_links_cites_and_cited_by(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    _ingest(conn)
    with client(database_url) as c:
        login(c)
        page = c.get("/ius/TA/sec_2")
        assert page.status_code == 200
        assert "Cited by" in page.text
        for href in ('href="/ius/TA/sec_1"', 'href="/ius/TA/sec_3"', 'href="/ius/OA/sec_1"'):
            assert href in page.text
        cites = c.get("/ius/OA/sec_1").text
        assert 'href="/ius/TA/sec_2"' in cites and "No provision cites this one." in cites
