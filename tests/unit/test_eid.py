"""Legal identifiers (eid) in the Akoma Ntoso naming convention, computed from autocut's numbering."""

from __future__ import annotations

from pathlib import Path

import pytest

from iu_core.domain.autocut import CutNode, autocut
from iu_core.domain.eid import ROOT_EID, assign, normalise_number

DATA = Path(__file__).resolve().parent.parent / "data" / "statutes"
STATUTES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".txt", ".md") and p.name != "README.md")


def cut_eids(text: str) -> tuple[CutNode, dict[int, str], dict[int, CutNode]]:
    root = autocut(text)
    nodes = {id(n): n for n in root.walk()}
    eids = assign(
        id(root),
        lambda k: [id(c) for c in nodes[k].children],
        lambda k: nodes[k].kind,
        lambda k: nodes[k].label,
    )
    return root, eids, nodes


def eid_by_labels(text: str, *labels: str) -> str:
    """The eid of the piece reached by following ``labels`` down from the root."""
    root, eids, _ = cut_eids(text)
    node = root
    for label in labels:
        node = next(c for c in node.children if c.label == label)
    return eids[id(node)]


def test_section_subsection_paragraph() -> None:
    text = "Section 2 Scope\n(1) This applies\n(a) to banks;\n(b) to insurers.\n(2) It ends.\n"
    assert eid_by_labels(text, "Section 2", "(1)", "(a)") == "sec_2__subsec_1__para_a"
    assert eid_by_labels(text, "Section 2", "(2)") == "sec_2__subsec_2"


def test_a_uk_section_printed_without_its_keyword_is_a_sec() -> None:
    text = (
        "Fraud Act 2006\n1 Fraud\n(1) A person is guilty of fraud.\n(2) The sections are.\n"
        "2 Fraud by false representation\n(1) A person is in breach\n(a) dishonestly;\n"
        "6A Possession\nText.\n"
    )
    assert eid_by_labels(text, "1") == "sec_1"
    assert eid_by_labels(text, "2", "(1)", "(a)") == "sec_2__subsec_1__para_a"
    assert eid_by_labels(text, "6A") == "sec_6A"


def test_article_and_its_paragraphs_and_points() -> None:
    text = "Chapter II Rights\nArticle 5 Scope\n1. Text\n(a) first;\n(b) second.\n"
    assert eid_by_labels(text, "Chapter II", "Article 5") == "chp_II__art_5"
    assert eid_by_labels(text, "Chapter II", "Article 5", "1.", "(a)") == "chp_II__art_5__para_1__point_a"
    assert eid_by_labels("Article 5 Scope\nText.\n", "Article 5") == "art_5"


def test_vietnamese_dieu_khoan_diem() -> None:
    text = "Chương I\nNHỮNG QUY ĐỊNH CHUNG\nĐiều 10. Phạm vi\n1. Một\n2. Hai\na) điểm a;\nb) điểm b.\n"
    assert eid_by_labels(text, "Chương I", "Điều 10", "2.", "a)") == "chp_I__art_10__para_2__point_a"
    words = "Phần thứ nhất\nMục 2\nĐiều 3\nKhoản 4\nĐiểm đ\n"
    assert eid_by_labels(words, "Phần thứ nhất", "Mục 2", "Điều 3", "Khoản 4", "Điểm đ") == (
        "part_thứ-nhất__sec_2__art_3__para_4__point_đ"
    )


def test_subparagraphs_and_roman_numbers() -> None:
    text = "Section 8 Terms\n(a) one\n(1) two\n(A) three\n(i) four\n(ii) five\n"
    _, eids, _ = cut_eids(text)
    found = sorted(eids.values())
    assert "sec_8__para_a__subpara_1__subpara_A__subpara_i" in found
    assert "sec_8__para_a__subpara_1__subpara_A__subpara_ii" in found


def test_unlabelled_pieces_get_positional_names_and_the_root_is_body() -> None:
    text = "# Guide\nIntro\n## Scope\nText\n## Terms\nMore\nArticle 1 Names\nx\n"
    root, eids, nodes = cut_eids(text)
    assert eids[id(root)] == ROOT_EID
    by_heading = {nodes[k].heading: v for k, v in eids.items() if nodes[k].kind == "heading"}
    assert by_heading == {
        "Guide": "hcontainer_1",
        "Scope": "hcontainer_1__hcontainer_1",
        "Terms": "hcontainer_1__hcontainer_2",
    }
    assert "hcontainer_1__hcontainer_2__art_1" in eids.values()


def test_repeated_numbers_are_disambiguated_in_order() -> None:
    text = "Article 5 One\nx\nArticle 5 Two\ny\nArticle 5 Three\nz\n"
    root, eids, _ = cut_eids(text)
    assert [eids[id(c)] for c in root.children] == ["art_5", "art_5_2", "art_5_3"]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("(1)", "1"), ("2.1.", "2.1"), ("IV", "IV"), ("thứ nhất", "thứ-nhất"), ("12a", "12a"), ("a_b", "a-b")],
)
def test_numbers_are_normalised(raw: str, normal: str) -> None:
    assert normalise_number(raw) == normal


@pytest.mark.parametrize("name", STATUTES)
def test_every_piece_of_every_statute_has_a_unique_deterministic_eid(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    _, eids, nodes = cut_eids(text)
    assert len(eids) == len(nodes)
    values = list(eids.values())
    assert len(set(values)) == len(values)
    assert all(v and " " not in v and "___" not in v for v in values)
    _, again, _ = cut_eids(text)
    assert list(again.values()) == values
