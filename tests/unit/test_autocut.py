"""Autocut, the pure parser: what starts a piece, where it hangs, and losslessness."""

from __future__ import annotations

from hypothesis import given, settings

from iu_core import domain
from iu_core.domain.autocut import CutNode, autocut, classify_line, default_title, join_text
from tests.support.documents import documents


def _shape(node: CutNode, depth: int = 0) -> list[tuple[int, str, str]]:
    out = [(depth, node.kind, node.label)]
    for child in node.children:
        out += _shape(child, depth + 1)
    return out


def test_english_legal_numbering_nests_by_level() -> None:
    text = (
        "Part 1 - General\nChapter II: Scope\nSection 3. Basics\nArticle 4. Terms\n"
        "1. first clause\n1.1 a subclause\na) a point\n(b) another point\n2. second clause\n"
        "Article 5\nbody\n"
    )
    assert _shape(autocut(text)) == [
        (0, "document", ""),
        (1, "part", "Part 1"),
        (2, "chapter", "Chapter II"),
        # Section is printed before Article here, so Articles nest under their Section
        # (as in an EU regulation's Chapter > Section > Article).
        (3, "section", "Section 3"),
        (4, "article", "Article 4"),
        (5, "clause", "1."),
        (6, "subclause", "1.1."),
        (7, "point", "a)"),
        (7, "point", "(b)"),
        (5, "clause", "2."),
        (4, "article", "Article 5"),
    ]


def test_vietnamese_legal_numbering_and_captions() -> None:
    text = (
        "Phần thứ nhất\nChương I\nQUY ĐỊNH CHUNG\nMục 1. Phạm vi\n"
        "Điều 1. Đối tượng\nKhoản 1. Một\nĐiểm đ) năm\nđ) sáu\n"
    )
    root = autocut(text)
    assert _shape(root) == [
        (0, "document", ""),
        (1, "part", "Phần thứ nhất"),
        (2, "chapter", "Chương I"),
        (3, "section", "Mục 1"),
        (4, "article", "Điều 1"),
        (5, "clause", "Khoản 1"),
        (6, "point", "Điểm đ"),
        (6, "point", "đ)"),
    ]
    chapter = root.children[0].children[0]
    assert chapter.heading == "QUY ĐỊNH CHUNG"  # the caption line under a bare label
    assert chapter.text == "Chương I\nQUY ĐỊNH CHUNG\n"  # …which stays in the text


def test_markdown_headings_roman_numerals_and_labels_inside_headings() -> None:
    text = "# Title\nintro\n## I. Roman part\n### Article 2. Inside a heading\ntext\n## Annex\nII. Second\n"
    root = autocut(text)
    assert _shape(root) == [
        (0, "document", ""),
        (1, "heading", ""),
        (2, "division", "I."),
        (3, "article", "Article 2"),
        (2, "heading", ""),
        (3, "division", "II."),
    ]
    assert root.children[0].heading == "Title"
    assert root.children[0].children[0].children[0].heading == "Inside a heading"


def test_prose_and_code_do_not_start_pieces() -> None:
    text = (
        "Article 5 applies to all.\n12 apples were counted.\nPart of the text.\n"
        "```\n# not a heading\n1. not a clause\n```\nSectionals are fine.\n"
    )
    root = autocut(text)
    assert root.children == [] and root.text == text
    assert classify_line("   ") is None
    assert classify_line("Article 5 applies") is None
    assert classify_line("Điều 5 \u2013 Phạm vi") is not None


def test_default_title() -> None:
    assert default_title(autocut("\n\n# Hello  #\nbody\n"), "X") == "Hello"
    assert default_title(autocut("Plain first line\nmore\n"), "X") == "Plain first line"
    assert default_title(autocut("Article 3. Scope\n"), "X") == "Article 3 Scope"


def test_samples_are_lossless_and_structured() -> None:
    for name in domain.SAMPLES:
        text = domain.sample_path(name).read_text(encoding="utf-8")
        root = autocut(text)
        assert join_text(root) == text
        kinds = {node.kind for node in root.walk()}
        assert {"chapter", "article", "clause", "point"} <= kinds, name


@settings(max_examples=300, deadline=None)
@given(documents)
def test_autocut_is_lossless_and_well_nested(text: str) -> None:
    root = autocut(text)
    assert join_text(root) == text
    for node in root.walk():
        for child in node.children:
            assert child.rank > node.rank  # a piece hangs under a strictly higher level
            first_line = child.text.splitlines()[0]
            assert classify_line(first_line) is not None  # every piece starts at its heading line


def test_sections_printed_after_an_article_nest_under_it() -> None:
    text = (
        "Article I\nSection 1. All legislative Powers shall be vested in a Congress.\n"
        "Section 2. The House shall be composed of Members.\nArticle II\n"
        "Section 1. The executive Power shall be vested in a President.\n"
    )
    assert _shape(autocut(text))[1:] == [
        (1, "article", "Article I"),
        (2, "section", "Section 1"),
        (2, "section", "Section 2"),
        (1, "article", "Article II"),
        (2, "section", "Section 1"),
    ]


def test_articles_printed_after_a_section_nest_under_it() -> None:
    text = (
        "CHAPTER III Rights of the data subject\nSection 1 Transparency\nArticle 12 Transparent information\n"
        "Article 13 Information to be provided\nSection 2 Access\nArticle 15 Right of access\n"
    )
    assert _shape(autocut(text))[1:] == [
        (1, "chapter", "CHAPTER III"),
        (2, "section", "Section 1"),
        (3, "article", "Article 12"),
        (3, "article", "Article 13"),
        (2, "section", "Section 2"),
        (3, "article", "Article 15"),
    ]


def test_sections_alone_stay_where_they_were() -> None:
    text = "Section 1 Short title\nThis Act may be cited.\nSection 2 Definitions\nIn this Act.\n"
    assert [kind for _, kind, _ in _shape(autocut(text))[1:]] == ["section", "section"]
    assert {depth for depth, _, _ in _shape(autocut(text))[1:]} == {1}
