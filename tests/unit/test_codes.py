"""validate_code: the one rule for IU codes and route codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iu_core.codes import MAX_CODE_LENGTH, validate_code
from iu_core.errors import IuCoreError

ALPHABET = "ABCXYZabcxyz0189._:-"


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=MAX_CODE_LENGTH))
def test_every_code_of_the_alphabet_is_returned_unchanged(value: str) -> None:
    assert validate_code("route code", value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is empty"),
        ("a" * 65, "is 65 characters long (at most 64)"),
        ("ab\u202ecd", "holds '\\u202e' at position 3"),
        ("a b", "holds ' ' at position 2"),
        ("a/b", "holds '/' at position 2"),
        ("a\nb", "holds '\\n' at position 2"),
        ("\u0410BC", "holds '\\u0410' at position 1"),  # Cyrillic A, a look-alike
    ],
)
def test_a_bad_code_is_refused_in_words_naming_its_kind(value: str, reason: str) -> None:
    with pytest.raises(IuCoreError) as caught:
        validate_code("route code", value)
    message = str(caught.value)
    assert message.startswith("route code ") and reason in message
    assert "1-64 characters of A-Z a-z 0-9 . _ : -" in message
    assert message.isascii() and "\n" not in message  # one safe line, whatever the input held
