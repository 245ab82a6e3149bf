"""The eid where a consumer looks: reports (Markdown, HTML, JSON), search results, the console."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from iu_core import domain
from iu_core.vector.hashing import HashingEmbedder
from iu_core.vector.search import search
from iu_core.vector.store import sync_units
from tests.conftest import CliRunner
from tests.support.console import client, login, make_user
from tests.support.vector import require_pgvector

LAW = """Chapter I General
Article 1 Scope
1. This law applies to the booking of laboratory equipment.
(a) to microscopes;
(b) to centrifuges.
Article 2 Terms
Text of two.
"""


def test_reports_carry_eids_in_every_format(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, LAW, code="LAW")
    assert cli("report", "build", "--iu", "LAW").returncode == 0
    document = json.loads(cli("report", "show", "LAW", "--json").stdout)
    eids = {e["label"]: e["eid"] for e in document["outline"]}
    assert eids["Article 1"] == "chp_I__art_1" and eids["(b)"] == "chp_I__art_1__para_1__point_b"
    markdown = cli("report", "show", "LAW").stdout
    assert "`chp_I__art_1__para_1__point_a`" in markdown
    html = cli("report", "show", "LAW", "--format", "html").stdout
    assert '<code class="eid">chp_I__art_2</code>' in html


def test_search_results_carry_the_eid(conn: psycopg.Connection[Any]) -> None:
    require_pgvector(conn)
    unit = domain.ingest_document(conn, LAW, code="LAW").unit
    embedder = HashingEmbedder()
    with conn.transaction():
        sync_units(conn, "docs", [unit.iu_id], embedder)
    found = search(conn, "centrifuges", collection="docs", embedder=embedder, limit=20)
    eids = {h.eid for h in found.hits}
    assert "chp_I__art_1__para_1__point_b" in eids
    assert all(h.as_dict()["eid"] for h in found.hits)


def test_console_tree_links_each_provision_and_serves_it_by_eid(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    domain.ingest_document(conn, LAW, code="LAW")
    with client(database_url) as c:
        assert c.get("/ius/LAW/chp_I__art_1", headers={"HX-Request": "true"}).status_code == 401
        login(c)
        page = c.get("/ius/LAW").text
        assert 'href="/ius/LAW/chp_I__art_1__para_1"' in page
        provision = c.get("/ius/LAW/chp_I__art_1__para_1")
        assert provision.status_code == 200
        assert "This law applies to the booking" in provision.text
        assert 'href="/ius/LAW/chp_I__art_1__para_1__point_a"' in provision.text
        assert c.get("/ius/LAW/art_99").status_code == 404
