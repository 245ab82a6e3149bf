"""Citation detection: each form of reference as written in English and Vietnamese law."""

from __future__ import annotations

import json

import pytest
from bench.citations_bench import evaluate, main

from iu_core.domain.citations import NO_POSITION, NO_UNIT, Citation, detect, locate, locator

UNITS = {
    "dpa": "Data Protection Act 2018",
    "blds": "Bộ luật Dân sự",
    "ldn": "Luật Doanh nghiệp",
}


def found(text: str, language: str, here: str | None = None) -> list[tuple[str, str | None, str | None]]:
    citations = detect(text, language=language, here=here, unit_titles=UNITS)
    for citation in citations:
        assert text[citation.start : citation.end] == citation.text
    return [(c.text, c.unit, c.eid) for c in citations]


@pytest.mark.parametrize(
    ("text", "here", "expected"),
    [
        ("as provided in section 4.", None, [("section 4", None, "sec_4")]),
        ("under sections 4 and 5", None, [("sections 4", None, "sec_4"), ("5", None, "sec_5")]),
        ("subject to section 4(2)(a),", None, [("section 4(2)(a)", None, "sec_4__subsec_2__para_a")]),
        ("listed in subsection (2)", "sec_4__subsec_1", [("subsection (2)", None, "sec_4__subsec_2")]),
        (
            "as in paragraph (a)",
            "sec_4__subsec_2__para_c",
            [("paragraph (a)", None, "sec_4__subsec_2__para_a")],
        ),
        (
            "Subsection (3)(a) applies",
            "sec_1__subsec_4",
            [("Subsection (3)(a)", None, "sec_1__subsec_3__para_a")],
        ),
        ("referred to in Article 5", None, [("Article 5", None, "art_5")]),
        ("pursuant to Article 5(1)", None, [("Article 5(1)", None, "art_5__para_1")]),
        ("pursuant to Article 5(1)(a)", None, [("Article 5(1)(a)", None, "art_5__para_1__point_a")]),
        (
            "laid down in Articles 5 to 7",
            None,
            [("Articles 5 to 7", None, f"art_{n}") for n in (5, 6, 7)],
        ),
        ("as set out in Part 2", None, [("Part 2", None, "part_2")]),
        ("specified in Schedule 1", None, [("Schedule 1", None, "sched_1")]),
        ("for the purposes of this Part", "part_3__sec_4__subsec_1", [("this Part", None, "part_3")]),
        ("in breach of this section if", "sec_2__subsec_1", [("this section", None, "sec_2")]),
        ("in section 4 of this Act", None, [("section 4 of this Act", None, "sec_4")]),
    ],
)
def test_english_references_name_the_provision_by_its_eid(
    text: str, here: str | None, expected: list[tuple[str, str | None, str | None]]
) -> None:
    assert found(text, "en", here) == expected


@pytest.mark.parametrize(
    ("text", "here", "expected"),
    [
        ("theo quy định tại Điều 5", None, [("Điều 5", None, "art_5")]),
        ("quy định tại khoản 2 Điều 10", None, [("khoản 2 Điều 10", None, "art_10__para_2")]),
        ("theo điểm a khoản 1 Điều 5", None, [("điểm a khoản 1 Điều 5", None, "art_5__para_1__point_a")]),
        (
            "tại các Điều 5, 6 và 7",
            None,
            [("Điều 5", None, "art_5"), ("6", None, "art_6"), ("7", None, "art_7")],
        ),
        ("trừ khoản 1 Điều này", "art_10__para_3", [("khoản 1 Điều này", None, "art_10__para_1")]),
        ("theo Điều 5 của Luật này", None, [("Điều 5 của Luật này", None, "art_5")]),
        ("quy định tại Chương II", None, [("Chương II", None, "chp_2")]),
        ("quy định tại Chương XIV", None, [("Chương XIV", None, "chp_14")]),
        ("theo Mục 2", None, [("Mục 2", None, "sec_2")]),
        (
            "trừ biện pháp quy định tại điểm m và điểm n khoản 1 Điều này.",
            "art_5__para_2",
            [
                ("điểm m", None, "art_5__para_1__point_m"),
                ("điểm n khoản 1 Điều này", None, "art_5__para_1__point_n"),
            ],
        ),
        (
            "quy định tại điểm b và điểm c khoản này",
            "art_11__para_4__point_a",
            [
                ("điểm b", None, "art_11__para_4__point_b"),
                ("điểm c khoản này", None, "art_11__para_4__point_c"),
            ],
        ),
        (
            "quy định tại khoản 5 và khoản 6",
            "art_20__para_4",
            [("khoản 5", None, "art_20__para_5"), ("khoản 6", None, "art_20__para_6")],
        ),
        ("quy định tại Điều này", "art_24__para_7", [("Điều này", None, "art_24")]),
    ],
)
def test_vietnamese_references_name_the_provision_by_its_eid(
    text: str, here: str | None, expected: list[tuple[str, str | None, str | None]]
) -> None:
    assert found(text, "vi", here) == expected


def test_relative_references_say_where_they_were_resolved_from() -> None:
    (citation,) = detect("listed in subsection (2)", language="en", here="sec_4__subsec_1")
    assert citation.resolved_from == "sec_4__subsec_1"
    (absolute,) = detect("see section 4", language="en", here="sec_9")
    assert absolute.resolved_from is None


def test_a_relative_reference_without_a_position_is_unresolved_not_guessed() -> None:
    (citation,) = detect("khoản 1 Điều này", language="vi")
    assert citation.eid is None and citation.unresolved == NO_POSITION
    (english,) = detect("listed in subsection (2)", language="en")
    assert english.eid is None and english.unresolved == NO_POSITION


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("under the Data Protection Act 2018.", "en", [("the Data Protection Act 2018", "dpa", None)]),
        (
            "section 3 of the Data Protection Act 2018 applies",
            "en",
            [("section 3 of the Data Protection Act 2018", "dpa", "sec_3")],
        ),
        ("theo quy định của Bộ luật Dân sự;", "vi", [("Bộ luật Dân sự", "blds", None)]),
        (
            "theo Luật Doanh nghiệp số 59/2020/QH14",
            "vi",
            [("Luật Doanh nghiệp số 59/2020/QH14", "ldn", None)],
        ),
        (
            "quy định tại khoản 2 Điều 10 Luật Doanh nghiệp",
            "vi",
            [("khoản 2 Điều 10 Luật Doanh nghiệp", "ldn", "art_10__para_2")],
        ),
        (
            "theo Điều 29 của Luật Doanh nghiệp",
            "vi",
            [("Điều 29 của Luật Doanh nghiệp", "ldn", "art_29")],
        ),
    ],
)
def test_references_to_other_units_name_the_unit_by_its_code(
    text: str, language: str, expected: list[tuple[str, str | None, str | None]]
) -> None:
    assert found(text, language) == expected


def test_a_provision_of_an_instrument_not_held_is_not_taken_for_this_units() -> None:
    (citation,) = detect("section 2(8)(b) of the Armed Forces Act 2001 (c. 19)", language="en")
    assert citation.unit is None
    assert citation.unresolved == f"{NO_UNIT}: Armed Forces Act 2001"
    (vietnamese,) = detect("theo Điều 29 của Luật An toàn thông tin mạng", language="vi")
    assert vietnamese.unresolved is not None and vietnamese.unresolved.startswith(NO_UNIT)


def test_headings_are_the_provision_itself_not_references() -> None:
    assert detect("Điều 5. Biện pháp bảo vệ\nNội dung", language="vi") == ()
    assert detect("Chương II\nBẢO VỆ AN NINH MẠNG", language="vi") == ()
    assert detect("Article 1\nSubject-matter and objectives", language="en") == ()
    assert detect("Section 1 Purpose\nThis Act applies.", language="en") == ()
    assert detect("### Article 5 Reporting faults\nReport them.", language="en") == ()
    assert detect("## Điều 4. Thời gian\nNội dung.", language="vi") == ()
    # a line that opens with a reference that goes on is still a reference
    (citation,) = detect("Section 2 of this Act applies.", language="en")
    assert citation.eid == "sec_2"


def test_ordinary_words_are_not_references() -> None:
    assert detect("phát hiện điểm yếu, lỗ hổng bảo mật; chương trình, mục tiêu", language="vi") == ()
    assert detect("part of a filing system; an article for use in fraud", language="en") == ()


def test_citations_are_frozen_records() -> None:
    (citation,) = detect("see section 4", language="en")
    assert isinstance(citation, Citation)
    with pytest.raises(AttributeError):
        citation.eid = "sec_5"  # type: ignore[misc]


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        detect("section 4", language="fr")


# The floor measured on the labelled set (see BENCHMARKS.md); a regression fails here.
FLOOR = {"en": (1.0, 1.0), "vi": (1.0, 1.0)}


@pytest.mark.parametrize("language", sorted(FLOOR))
def test_the_labelled_set_keeps_the_measured_precision_and_recall(language: str) -> None:
    score = evaluate()[language]
    precision, recall = FLOOR[language]
    assert score.labelled > 30
    assert score.precision >= precision, score.false_hits
    assert score.recall >= recall, score.misses


def test_the_benchmark_command_prints_precision_recall_and_cost_per_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--json"]) == 0
    rows = {row["language"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"en", "vi"}
    for row in rows.values():
        assert row["labelled"] > 30 and row["ms_per_1000_pieces"] > 0
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0


def test_the_docs_example_gives_what_the_page_shows() -> None:
    first, second = detect(
        "trừ biện pháp quy định tại điểm m và điểm n khoản 1 Điều này",
        language="vi",
        here="art_5__para_2",
    )
    assert (first.start, first.end, first.eid) == (27, 33, "art_5__para_1__point_m")
    assert (second.start, second.end, second.eid) == (37, 60, "art_5__para_1__point_n")


def test_a_number_after_a_reference_is_not_taken_for_another_provision() -> None:
    assert found("under section 4 and 12 months later", "en") == [("section 4", None, "sec_4")]
    assert found("theo khoản 2 Điều 10, 20 ngày sau", "vi") == [("khoản 2 Điều 10", None, "art_10__para_2")]


def test_a_list_that_repeats_its_keyword_gives_one_citation_per_item() -> None:
    assert found("theo Điều 5 và Điều 6.", "vi") == [
        ("Điều 5", None, "art_5"),
        ("Điều 6", None, "art_6"),
    ]
    assert found("under ss. 6 and 7", "en") == [("ss. 6", None, "sec_6"), ("7", None, "sec_7")]


def test_a_singular_keyword_list_ends_where_the_sentence_goes_on() -> None:
    assert found("in section 14 or Schedule 2 or 3, extends", "en") == [
        ("section 14", None, "sec_14"),
        ("Schedule 2", None, "sched_2"),
        ("3", None, "sched_3"),
    ]


def test_amendment_notes_cite_this_act_and_the_instrument_they_name() -> None:
    text = (
        "F11 Words in s. 11(3)(a) substituted by The Judicial Review and Courts Act 2022 "
        "(Magistrates\u2019 Court Sentencing Powers) Regulations 2023 (S.I. 2023/149), "
        "regs. 1(2), 2(1), Sch. Pt. 1\nP1 S. 15 power fully exercised by {S.I. 2006/3200}, art. 2"
    )
    citations = detect(text, language="en")
    assert [(c.text, c.eid) for c in citations] == [
        ("s. 11(3)(a)", "sec_11__subsec_3__para_a"),
        ("regs. 1(2)", "reg_1__para_2"),
        ("2(1)", "reg_2__para_1"),
        ("Sch. Pt. 1", "sched__part_1"),
        ("S. 15", "sec_15"),
        ("art. 2", "art_2"),
    ]
    this_act = {"s. 11(3)(a)", "S. 15"}
    for citation in citations:
        if citation.text in this_act:
            assert citation.unresolved is None
        else:
            assert citation.unresolved is not None and citation.unresolved.startswith(NO_UNIT)


def test_an_abbreviation_with_no_instrument_before_it_is_not_a_citation() -> None:
    assert detect("the S.I. number; see art. 2 of the contract", language="en") == ()


# eids as the tree stores them: the whole path, numbers as printed
STORED = [
    "chp_I__art_5",
    "chp_I__art_5__para_1",
    "chp_I__art_5__para_1__point_m",
    "chp_III__art_16__para_1",
    "chp_II",
    "chp_II__art_10",
    "art_2__para_1",
    "hcontainer_1__art_5",
]


def test_a_cited_eid_is_located_among_the_stored_eids_by_its_path_end() -> None:
    assert locate("art_16__para_1", STORED) == "chp_III__art_16__para_1"
    assert locate("art_5__para_1__point_m", STORED) == "chp_I__art_5__para_1__point_m"
    assert locate("chp_2", STORED) == "chp_II"
    assert locate("art_2__para_1", STORED) == "art_2__para_1"


def test_a_cited_eid_that_names_nothing_or_several_pieces_is_not_located() -> None:
    assert locate("art_99", STORED) is None
    assert locate("art_5", STORED) is None  # chp_I__art_5 and hcontainer_1__art_5
    assert locate("rt_16__para_1", STORED) is None  # a whole component, not a text suffix


def test_the_locator_finds_what_locate_finds() -> None:
    stored = [
        "chp_III__art_16",
        "chp_III__art_16__para_1",
        "chp_I__art_5",
        "art_5",
        "sec_2__subsec_1",
        "body",
    ]
    find = locator(stored)
    for eid in (
        "art_16__para_1",
        "art_16",
        "chp_3__art_16",
        "ART_5",
        "art_5",
        "subsec_1",
        "sec_2",
        "para_1",
        "x",
    ):
        assert find(eid) == locate(eid, stored), eid
    assert find("chp_3__art_16__para_1") == "chp_III__art_16__para_1"
    assert find("art_5") is None  # two pieces end with it


def test_a_title_too_short_to_be_a_name_is_never_looked_for() -> None:
    # A unit whose heading was renamed to "a" (or "1.") is not cited by every "a" in the hub.
    text = "Theo quy định tại Điều 5 của a và khoản 2 của 1. thì a được áp dụng."
    units = {"short": "a", "number": "1.", "ldn": "Luật Doanh nghiệp"}
    citations = detect(text, language="vi", unit_titles=units)
    assert [c.unit for c in citations if c.unit is not None] == []
    assert detect("the a Act", language="en", unit_titles={"short": "a"}) == detect(
        "the a Act", language="en", unit_titles={}
    )
