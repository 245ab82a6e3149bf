"""The route filter language: what a filter's text compiles to, and where a bad one is refused."""

from __future__ import annotations

import pytest

from iu_core.ops.filters import FilterError, compile_filter, like_pattern, matches


def test_a_term_compiles_to_its_field_and_a_like_pattern() -> None:
    assert compile_filter("iu:LAW-*") == {"iu": "LAW-%"}
    assert compile_filter("eid:chp_2__*") == {"eid": "chp\\_2\\_\\_%"}
    assert compile_filter("op:split") == {"op": "split"}
    assert compile_filter("KIND:article") == {"kind": "article"}


def test_precedence_is_not_then_and_then_or() -> None:
    assert compile_filter("iu:A or iu:B and not tag:x") == {
        "or": [{"iu": "A"}, {"and": [{"iu": "B"}, {"not": {"tag": "x"}}]}]
    }
    assert compile_filter("(iu:A or iu:B) and not (tag:x or lang:vi)") == {
        "and": [{"or": [{"iu": "A"}, {"iu": "B"}]}, {"not": {"or": [{"tag": "x"}, {"lang": "vi"}]}}]
    }
    assert compile_filter("not not op:split") == {"not": {"not": {"op": "split"}}}
    assert compile_filter("iu:A AND iu:B") == {"and": [{"iu": "A"}, {"iu": "B"}]}


def test_quoted_patterns_carry_spaces_parentheses_and_quotes() -> None:
    assert compile_filter('tag:"a b (c)"') == {"tag": "a b (c)"}
    assert compile_filter(r'iu:"say \"hi\" \\ 100%"') == {"iu": 'say "hi" \\\\ 100\\%'}


def test_like_patterns_escape_what_like_would_read_as_wildcards() -> None:
    assert like_pattern("a%b_c\\d*e?") == "a\\%b\\_c\\\\d%e_"


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("iu:LAW-* and", 13, "ends where a term was expected"),
        ("iu:LAW-* tag:x", 10, "after a complete filter"),
        ("colour:red", 1, "unknown field 'colour'"),
        ("iu:A and (tag:x or op:split", 28, "expected ')' to close the '(' at column 10"),
        ("iu:A)", 5, "unmatched ')'"),
        ("iu:", 1, "iu: needs a pattern"),
        ('tag:"open', 5, "not closed"),
        ("LAW-1", 1, "neither a term"),
        ("and iu:A", 1, "expected a term"),
        ("   ", 1, "empty"),
        ("iu:A or :x", 9, "unexpected ':'"),
    ],
)
def test_a_bad_filter_names_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    message = str(caught.value)
    assert f"column {column}" in message and words in message, message
    assert "\n" not in message


def test_depth_and_length_are_bounded() -> None:
    with pytest.raises(FilterError, match="nested deeper"):
        compile_filter("(" * 40 + "iu:A" + ")" * 40)
    with pytest.raises(FilterError, match="longer than"):
        compile_filter("iu:" + "A" * 3000)


def test_the_reference_evaluation_follows_the_tree() -> None:
    tree = compile_filter("iu:LAW-* and not (tag:draft or eid:chp_2__*)")
    assert matches(tree, {"iu": ["LAW-7"], "tag": ["final"], "eid": ["chp_1__art_1"]})
    assert not matches(tree, {"iu": ["LAW-7"], "tag": ["draft"]})
    assert not matches(tree, {"iu": ["LAW-7"], "eid": ["body", "chp_2__art_3"]})
    assert not matches(tree, {"iu": ["REG-1"]})
    # "_" in an eid is literal: chp_2__* does not match chpX2...
    assert not matches(compile_filter("eid:chp_2__*"), {"eid": ["chpX2XXart_1"]})
