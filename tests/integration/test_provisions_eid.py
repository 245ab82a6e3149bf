"""Stored eids: written at ingest, unique among active pieces, kept current by every operation."""

from __future__ import annotations

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
