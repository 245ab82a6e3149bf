"""`iu-core export --format akn`: Akoma Ntoso 3.0 that parses, has its structure, and round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lxml import etree

from iu_core import domain
from iu_core.domain.akn import AKN_NS
from tests.conftest import CliRunner

DATA = Path(__file__).resolve().parent.parent / "data" / "statutes"
STATUTES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".txt", ".md") and p.name != "README.md")
NS = {"a": AKN_NS}
HIERARCHY = {
    "part",
    "chapter",
    "section",
    "division",
    "article",
    "clause",
    "subsection",
    "paragraph",
    "subparagraph",
    "point",
    "hcontainer",
}


def shape(node: dict[str, Any]) -> tuple[Any, ...]:
    """What a round trip must keep: kinds, labels, headings, eids and order."""
    return (
        node["kind"],
        node["label"],
        node["heading"],
        node["eid"],
        tuple(shape(k) for k in node["children"]),
    )


def test_export_has_the_akoma_ntoso_structure(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(
        conn, DATA / "vn_luat_an_ninh_mang_2018.txt", code="ANM-2018", title="Luật An ninh mạng"
    )
    result = cli("export", "ANM-2018", "--format", "akn")
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(result.stdout.encode("utf-8"))
    assert root.tag == f"{{{AKN_NS}}}akomaNtoso"
    (act,) = root.findall("a:act", NS)
    assert [etree.QName(c).localname for c in act] == ["meta", "preface", "preamble", "body"]
    work = act.find("a:meta/a:identification/a:FRBRWork", NS)
    assert work is not None
    assert work.find("a:FRBRnumber", NS).get("value") == "ANM-2018"
    assert work.find("a:FRBRuri", NS).get("value").startswith("/akn/vn/act/")
    assert work.find("a:FRBRalias", NS).get("value") == "Luật An ninh mạng"
    expression = act.find("a:meta/a:identification/a:FRBRExpression", NS)
    assert expression.find("a:FRBRlanguage", NS).get("language") == "vie"
    assert act.find("a:meta/a:identification/a:FRBRManifestation/a:FRBRthis", NS) is not None
    body = act.find("a:body", NS)
    chapters = body.findall("a:chapter", NS)
    assert [c.get("eId") for c in chapters] == ["chp_I", "chp_II", "chp_III"]
    article = body.find("a:chapter/a:article[@eId='chp_I__art_1']", NS)
    assert article.findtext("a:num", namespaces=NS) == "Điều 1"
    assert article.findtext("a:heading", namespaces=NS) == "Phạm vi điều chỉnh"
    assert article.find("a:content/a:p", NS).text.startswith("Luật này quy định")
    point = body.find(".//a:point[@eId='chp_I__art_5__para_1__point_h']", NS)
    assert point is not None and point.findtext("a:num", namespaces=NS) == "h)"
    # Every hierarchy element has an eId, unique in the document, and a GUID.
    elements = [e for e in body.iter() if etree.QName(e).localname in HIERARCHY]
    eids = [e.get("eId") for e in elements]
    assert all(eids) and len(set(eids)) == len(eids)
    assert all(e.get("GUID", "").startswith("urn:uuid:") for e in elements)
    count = conn.execute(
        "SELECT count(*) FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code = 'ANM-2018' AND p.status = 'active' AND p.parent_piece_id IS NOT NULL"
    ).fetchone()
    assert count is not None and len(elements) == count[0]


@pytest.mark.parametrize("name", STATUTES)
def test_export_round_trips_through_ingest(
    cli: CliRunner, conn: psycopg.Connection[Any], tmp_path: Path, name: str
) -> None:
    domain.ingest_document(conn, DATA / name, code="LAW")
    exported = tmp_path / "law.akn.xml"
    assert cli("export", "LAW", "--format", "akn", "--output", str(exported)).returncode == 0
    assert cli("ingest", str(exported), "--code", "BACK").returncode == 0
    original = json.loads(cli("tree", "LAW", "--json").stdout)["root"]
    back = json.loads(cli("tree", "BACK", "--json").stdout)["root"]
    assert [shape(k) for k in back["children"]] == [shape(k) for k in original["children"]]


def test_export_as_of_and_errors(cli: CliRunner, conn: psycopg.Connection[Any]) -> None:
    unit = domain.ingest_document(conn, "Article 1 Scope\nText.\nArticle 2 Terms\nMore.\n", code="LAW").unit
    row = conn.execute("SELECT max(applied_at) FROM iu_structure_operation WHERE iu_id = %s", (unit.iu_id,))
    (moment,) = row.fetchone() or (None,)
    second = conn.execute("SELECT piece_id FROM iu_piece WHERE label = 'Article 2'").fetchone()
    assert second is not None
    domain.deprecate_piece(conn, second[0])
    now = etree.fromstring(cli("export", "LAW").stdout.encode())
    then = etree.fromstring(cli("export", "LAW", "--as-of", moment.isoformat()).stdout.encode())
    assert [a.get("eId") for a in now.iterfind(".//a:article", NS)] == ["art_1"]
    assert [a.get("eId") for a in then.iterfind(".//a:article", NS)] == ["art_1", "art_2"]
    missing = cli("export", "NOPE")
    assert missing.returncode != 0 and missing.stderr.startswith("error:")
