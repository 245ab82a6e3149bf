"""The demo corpus: the samples plus a fixed story write an exact, documented number of events."""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core import domain
from iu_core.domain.corpus import DEMO_CODES, DEMO_STRUCTURE_EVENTS, build_demo_corpus


def test_demo_corpus_writes_exactly_the_documented_events(conn: psycopg.Connection[Any]) -> None:
    result = build_demo_corpus(conn)
    assert result.seeded and result.structure_events == DEMO_STRUCTURE_EVENTS == 56
    counts = dict(conn.execute("SELECT event_type, count(*) FROM event_outbox GROUP BY 1").fetchall())
    assert counts == {
        "iu_created": 2,
        "iu_relation_added": 1,
        "structure_op_applied": 20,
        "structure_piece_deprecated": 36,
    }
    assert result.operations == 20
    per_unit = dict(
        conn.execute(
            "SELECT u.code, count(*) FROM event_outbox e JOIN information_unit u ON u.iu_id = e.aggregate_id"
            " WHERE e.event_type LIKE 'structure%' GROUP BY 1"
        ).fetchall()
    )
    assert per_unit == {"REG-EN": 24, "QC-VI": 32}
    for code in DEMO_CODES:
        unit = domain.get_unit(conn, code)
        assert domain.tree_problems(conn, code) == []
        assert domain.unit_event_problems(conn, unit.iu_id) == []
    # The stories that undo themselves leave the documents as ingested.
    en = domain.get_tree(conn, "REG-EN")
    assert "Transitional provision" in en.text()
    vi = domain.get_tree(conn, "QC-VI")
    original = domain.sample_path("quy_che_vi.md").read_text(encoding="utf-8")
    dieu4 = original[original.index("Điều 4.") : original.index("Mục 2.")]
    assert vi.text() == original.replace(dieu4, "").replace("Điều 5.", dieu4 + "Điều 5.")  # Điều 4 moved
    # Running it again writes nothing.
    again = build_demo_corpus(conn)
    assert not again.seeded
    row = conn.execute("SELECT count(*) FROM event_outbox").fetchone()
    assert row == (sum(counts.values()),)
