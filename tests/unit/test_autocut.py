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
        # English Section and Article are peers of one rank (UK/US style), so Article 4
        # follows Section 3 as its sibling rather than hanging under it.
        (3, "section", "Section 3"),
        (3, "article", "Article 4"),
        (4, "clause", "1."),
        (5, "subclause", "1.1."),
        (6, "point", "a)"),
        (6, "point", "(b)"),
        (4, "clause", "2."),
        (3, "article", "Article 5"),
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
