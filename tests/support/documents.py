"""Generated documents for property tests: every numbering style, prose, code fences, odd line endings."""

from __future__ import annotations

from hypothesis import strategies as st

_words = st.text(
    alphabet=st.sampled_from("abcdeđơư ĐÀÁẠ.,:;-\u2013()#*1234567890IVXivx\t"), min_size=0, max_size=30
)
_markers = st.sampled_from(
    [
        "# ", "## ", "### ", "###### ", "Part 2 ", "Phần thứ hai\n", "Chapter IV. ", "CHƯƠNG II\n",
        "Section 1: ", "Mục 2. ", "Article 12. ", "Điều 7. ", "Clause 3 - ", "Khoản 1. ", "Point a: ",
        "Điểm b) ", "1. ", "23. ", "2.1 ", "3.4.5. ", "a) ", "đ) ", "(c) ", "IV. ", "XII. ", "```\n", "",
    ]
)  # fmt: skip
_line = st.builds(
    lambda indent, marker, body: indent + marker + body, st.sampled_from(["", " ", "   "]), _markers, _words
)
_ending = st.sampled_from(["\n", "\n", "\n", "\r\n", "\n\n", "\r", "\u2028"])
documents = st.lists(st.tuples(_line, _ending), min_size=0, max_size=40).flatmap(
    lambda lines: st.booleans().map(
        lambda last_newline: "".join(a + b for a, b in lines)[: None if last_newline else -1] if lines else ""
    )
)
