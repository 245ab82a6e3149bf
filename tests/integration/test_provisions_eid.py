"""Stored eids: written at ingest, unique among active pieces, kept current by every operation."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain.eid import tree_eids

DATA = Path(__file__).resolve().parent.parent / "data" / "statutes"
STATUTES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".txt", ".md") and p.name != "README.md")


def stored(conn: psycopg.Connection[Any], code: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT p.piece_id::text, p.eid FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code = %s AND p.status = 'active'",
        (code,),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


@pytest.mark.parametrize("name", STATUTES)
def test_ingested_statute_stores_a_unique_eid_per_piece(conn: psycopg.Connection[Any], name: str) -> None:
    domain.ingest_document(conn, DATA / name, code="LAW")
    eids = stored(conn, "LAW")
    assert all(eids.values())
    assert len(set(eids.values())) == len(eids)
    tree = domain.get_tree(conn, "LAW")
    assert {str(k): v for k, v in tree_eids(tree).items()} == eids


LAW = """Chapter I General
Article 1 Scope
1. This law applies.
(a) to banks;
(b) to insurers.
2. It ends.
Article 2 Terms
Text of two.
Article 3 End
Bye.
"""


def latest_applied(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    row = conn.execute(
        "SELECT payload FROM event_outbox WHERE event_type = 'structure_op_applied'"
        " ORDER BY event_seq DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    payload: dict[str, Any] = row[0]
    return payload


def by_eid(conn: psycopg.Connection[Any]) -> dict[str, str]:
    return {v: k for k, v in stored(conn, "LAW").items()}


@pytest.fixture
def law(conn: psycopg.Connection[Any]) -> domain.IngestResult:
    return domain.ingest_document(conn, LAW, code="LAW")


def test_structure_events_carry_eids_beside_pieces(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    payload = latest_applied(conn)
    eids = stored(conn, "LAW")
    assert len(payload["eids"]) == len(payload["pieces"])
    assert payload["eids"] == [eids[p] for p in payload["pieces"]]
    assert "chp_I__art_1__para_1__point_a" in payload["eids"]
    assert payload["previous_eids"] == {}
    assert domain.unit_event_problems(conn, law.unit.iu_id) == []


def test_rename_recomputes_the_subtree_and_says_previous_eids(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    ids = by_eid(conn)
    untouched = {e: p for e, p in ids.items() if not e.startswith("chp_I__art_2")}
    domain.rename_piece(conn, ids["chp_I__art_2"], label="Article 7")
    payload = latest_applied(conn)
    after = stored(conn, "LAW")
    assert after[ids["chp_I__art_2"]] == "chp_I__art_7"
    assert payload["previous_eids"] == {ids["chp_I__art_2"]: "chp_I__art_2"}
    assert payload["eids"][payload["pieces"].index(ids["chp_I__art_2"])] == "chp_I__art_7"
    # Every other piece keeps its identifier.
    assert {e: p for e, p in by_eid(conn).items() if e != "chp_I__art_7"} == untouched
    # A heading-only rename changes no identifier.
    domain.rename_piece(conn, ids["chp_I__art_1"], heading="Reach")
    assert latest_applied(conn)["previous_eids"] == {}
    assert stored(conn, "LAW") == after
    assert domain.unit_event_problems(conn, law.unit.iu_id) == []


def test_move_renumbers_the_moved_subtree_only(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    ids = by_eid(conn)
    domain.move_piece(conn, ids["chp_I__art_1__para_1__point_b"], parent=ids["chp_I__art_1__para_2"])
    payload = latest_applied(conn)
    assert payload["previous_eids"] == {ids["chp_I__art_1__para_1__point_b"]: "chp_I__art_1__para_1__point_b"}
    assert stored(conn, "LAW")[ids["chp_I__art_1__para_1__point_b"]] == "chp_I__art_1__para_2__point_b"
    assert stored(conn, "LAW")[ids["chp_I__art_1__para_1__point_a"]] == "chp_I__art_1__para_1__point_a"


def test_deprecated_event_carries_the_eid_and_restore_brings_it_back(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    ids = by_eid(conn)
    domain.deprecate_piece(conn, ids["chp_I__art_2"])
    rows = conn.execute(
        "SELECT payload FROM event_outbox WHERE event_type = 'structure_piece_deprecated' ORDER BY event_seq"
    ).fetchall()
    assert [r[0]["eid"] for r in rows] == ["chp_I__art_2"]
    assert rows[0][0]["eids"] == ["chp_I__art_2"]
    # Article 3 keeps its number: nothing else changed identifier.
    assert stored(conn, "LAW")[ids["chp_I__art_3"]] == "chp_I__art_3"
    domain.restore_piece(conn, ids["chp_I__art_2"])
    assert stored(conn, "LAW")[ids["chp_I__art_2"]] == "chp_I__art_2"


def test_split_and_merge_name_the_new_piece_and_keep_the_rest(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    ids = by_eid(conn)
    piece = ids["chp_I__art_3"]
    text = domain.get_tree(conn, "LAW").pieces[uuid.UUID(piece)].text
    result = domain.split_piece(conn, piece, offset=text.index("Bye"))
    new_id = str(result.created[0])
    assert stored(conn, "LAW")[new_id] == "chp_I__hcontainer_1"
    assert stored(conn, "LAW")[piece] == "chp_I__art_3"
    domain.merge_pieces(conn, piece, new_id)
    assert stored(conn, "LAW")[piece] == "chp_I__art_3"
    assert domain.unit_event_problems(conn, law.unit.iu_id) == []


def test_reingest_keeps_the_eids_of_unchanged_numbering(
    conn: psycopg.Connection[Any], law: domain.IngestResult
) -> None:
    before = stored(conn, "LAW")
    domain.ingest_document(
        conn, LAW.replace("Text of two.", "Text of two, amended."), code="LAW", replace=True
    )
    assert stored(conn, "LAW") == before
    payload = latest_applied(conn)
    assert payload["operation_type"] == "reingest" and payload["previous_eids"] == {}


def test_tree_json_and_show_address_a_provision_by_eid(cli: Any, law: domain.IngestResult) -> None:

    tree = json.loads(cli("tree", "LAW", "--json").stdout)
    article = tree["root"]["children"][0]["children"][0]
    assert article["eid"] == "chp_I__art_1"
    assert article["children"][0]["eid"] == "chp_I__art_1__para_1"
    text = cli("tree", "LAW").stdout
    assert "chp_I__art_1__para_1__point_a" in text
    shown = json.loads(cli("show", "LAW", "chp_I__art_1__para_1", "--json").stdout)
    assert (
        shown["heading"] == "This law applies." and shown["kind"] == "clause" and shown["status"] == "active"
    )
    assert shown["text"].startswith("1. This law applies.")
    assert [c["eid"] for c in shown["children"]] == [
        "chp_I__art_1__para_1__point_a",
        "chp_I__art_1__para_1__point_b",
    ]
    plain = cli("show", "LAW", "chp_I__art_1")
    assert (
        plain.returncode == 0 and "Article 1 Scope" in plain.stdout and "chp_I__art_1__para_2" in plain.stdout
    )
    missing = cli("show", "LAW", "art_99")
    assert missing.returncode != 0 and "error:" in missing.stderr and "art_99" in missing.stderr
    assert "Traceback" not in missing.stderr
