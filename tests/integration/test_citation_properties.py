"""Property: after any operation, the stored citations equal a fresh detection over the current pieces.

Three units cite themselves and each other (an English Act, a second Act that
cites sections of the first by its title, a Vietnamese law); random split,
merge, move, renumber (a new label), deprecate, restore and re-ingest
operations (a re-ingest may change the text and the title) run on them, and
after each one ``iu_citation`` holds exactly what detecting every active
piece of every unit again gives. 25 sequences by default;
``IU_CORE_CITATION_EXAMPLES`` for more.
"""

from __future__ import annotations

import itertools
import os
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from iu_core import domain
from iu_core.domain import citation_store
from iu_core.domain.model import Tree
from tests.integration.test_domain_properties import _candidates

EXAMPLES = int(os.environ.get("IU_CORE_CITATION_EXAMPLES", "25"))

ACT = """Test Act 2020

Section 1 Purpose
This Act applies as set out in section 2 and section 3(1).

Section 2 Scope
(1) It covers everything in subsection (2).
(2) Except what Part 2 leaves out.

Section 3 Offences
(1) A person who breaches section 2 commits an offence.
(2) Subsection (1) does not apply to section 4.

Section 4 Penalty
A person guilty of an offence under section 3 is liable to a fine.
"""
ACT_V2 = ACT.replace("Section 2 Scope", "Section 5 Scope").replace("Section 4 Penalty\n", "Section 4 Fines\n")
OTHER = """Other Act 2021

Section 1 Link
Section 2 of the Test Act 2020 applies here too, and section 3(2) of the Test Act 2020.

Section 2 More
See section 1 and section 4 of the Test Act 2020.
"""
LAW = """Luật Thử nghiệm

Chương I
QUY ĐỊNH CHUNG

Điều 1. Phạm vi
1. Luật này quy định về thử nghiệm.
2. Trừ trường hợp quy định tại khoản 1 Điều này và Điều 3.

Điều 2. Giải thích
Theo điểm a khoản 1 Điều 3 của Luật này.

Điều 3. Nghĩa vụ
1. Các nghĩa vụ sau đây:
a) thứ nhất;
b) thứ hai theo khoản 2 Điều 1.
2. Khoản 1 và Điều 2.
"""
LAW_V2 = LAW.replace("Điều 2. Giải thích\nTheo điểm a khoản 1 Điều 3 của Luật này.\n\n", "")
DOCUMENTS = {"TA": (ACT, ACT_V2), "OA": (OTHER, OTHER.replace("too, and", "and")), "LT": (LAW, LAW_V2)}
TITLES = {"TA": ("Test Act 2020", "Renamed Act 2020"), "OA": ("Other Act 2021",), "LT": ("Luật Thử nghiệm",)}
OPERATIONS = ("split", "merge", "move", "renumber", "deprecate", "restore", "reingest")
LABELS = ("Section 2", "Section 3", "Section 7", "(1)", "(2)", "Điều 1", "Điều 3", "1.", "a)")


def _units(conn: psycopg.Connection[Any], codes: dict[str, str]) -> list[uuid.UUID]:
    rows = conn.execute("SELECT iu_id FROM information_unit WHERE code = ANY(%s)", (list(codes.values()),))
    return [r[0] for r in rows]


def _fresh(conn: psycopg.Connection[Any], codes: dict[str, str]) -> list[tuple[Any, ...]]:
    rows = [row for iu_id in _units(conn, codes) for row in citation_store.detect_unit(conn, iu_id)]
    return sorted((r.content() for r in rows), key=repr)


def _stored(conn: psycopg.Connection[Any], codes: dict[str, str]) -> list[tuple[Any, ...]]:
    return sorted((r.content() for r in citation_store.stored(conn, _units(conn, codes))), key=repr)


_EXAMPLE = itertools.count(1)
Texts = dict[str, tuple[str, ...]]


def _own_names() -> tuple[Texts, Texts]:
    """The documents and titles with names of this example's own (earlier units never name them)."""
    n = next(_EXAMPLE)
    swap = {
        "Test Act 2020": f"Test Act {n}",
        "Renamed Act 2020": f"Renamed Act {n}",
        "Other Act 2021": f"Other Act {n}",
        "Luật Thử nghiệm": f"Luật Thử nghiệm {n}",
    }

    def own(text: str) -> str:
        for old, new in swap.items():
            text = text.replace(old, new)
        return text

    return (
        {k: tuple(own(t) for t in v) for k, v in DOCUMENTS.items()},
        {k: tuple(own(t) for t in v) for k, v in TITLES.items()},
    )


def _step(
    conn: psycopg.Connection[Any], data: st.DataObject, codes: dict[str, str], documents: Texts, titles: Texts
) -> None:
    name = data.draw(st.sampled_from(sorted(codes)), label="unit")
    code = codes[name]
    kind = data.draw(st.sampled_from(OPERATIONS), label="operation")
    event(kind)
    if kind == "reingest":
        text = data.draw(st.sampled_from(documents[name]), label="text")
        title = data.draw(st.sampled_from(titles[name]), label="title")
        domain.ingest_document(conn, text, code=code, title=title, replace=True)
        return
    tree: Tree = domain.get_tree(conn, code)
    options = _candidates(conn, tree, "rename" if kind == "renumber" else kind)
    if kind == "renumber":
        options = [o for o in options if tree.pieces[o["piece"]].parent_piece_id is not None]
    if not options:
        return
    choice = data.draw(st.sampled_from(options), label=kind)
    if kind == "split":
        domain.split_piece(conn, choice["piece"], offset=data.draw(st.integers(1, choice["max"]), label="at"))
    elif kind == "merge":
        domain.merge_pieces(conn, choice["first"], choice["second"])
    elif kind == "move":
        position = data.draw(st.none() | st.integers(0, choice["n"]), label="position")
        domain.move_piece(conn, choice["piece"], parent=choice["parent"], position=position)
    elif kind == "renumber":
        domain.rename_piece(conn, choice["piece"], label=data.draw(st.sampled_from(LABELS), label="label"))
    else:
        domain.apply_operation(conn, kind, piece=choice["piece"])


@pytest.mark.timeout(max(120, 6 * EXAMPLES))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.slow
def test_stored_citations_equal_a_fresh_detection_after_every_operation(
    conn: psycopg.Connection[Any], data: st.DataObject
) -> None:
    tag = uuid.uuid4().hex[:8]
    codes = {name: f"{name}-{tag}" for name in DOCUMENTS}
    documents, titles = _own_names()  # each example on units of its own
    order = data.draw(st.permutations(sorted(DOCUMENTS)), label="ingest order")
    for name in order:
        domain.ingest_document(conn, documents[name][0], code=codes[name], title=titles[name][0])
        assert _stored(conn, codes) == _fresh(conn, codes)
    ids = _units(conn, codes)
    assert any(r.to_iu_id in ids and r.to_iu_id != r.iu_id for r in citation_store.stored(conn, ids))
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        _step(conn, data, codes, documents, titles)
        assert _stored(conn, codes) == _fresh(conn, codes)
