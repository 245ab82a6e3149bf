"""Codes a user types: IU codes and route codes, one rule for both.

A code is 1-64 characters of ``[A-Za-z0-9._:-]``: it names a thing in tables,
logs and URLs, so it may hold nothing that can garble them (spaces, control
characters, bidirectional overrides such as U+202E, look-alike letters).

    validate_code("IU code", "REG-EN")  -> "REG-EN"
    validate_code("route code", "a b")  -> IuCoreError("route code 'a b' ...")
"""

from __future__ import annotations

import re

from iu_core.errors import IuCoreError

MAX_CODE_LENGTH = 64
CODE_ALPHABET = "A-Z a-z 0-9 . _ : -"
_CODE = re.compile(r"[A-Za-z0-9._:-]{1," + str(MAX_CODE_LENGTH) + "}")


def _shown(value: str) -> str:
    """The value as one safe line: non-ASCII and control characters escaped."""
    shown = value if len(value) <= 80 else value[:77] + "..."
    return ascii(shown)


def validate_code(kind: str, value: str) -> str:
    """``value`` unchanged when it is a valid code; otherwise IuCoreError naming ``kind``."""
    if _CODE.fullmatch(value):
        return value
    if not value:
        reason = "is empty"
    elif len(value) > MAX_CODE_LENGTH:
        reason = f"is {len(value)} characters long (at most {MAX_CODE_LENGTH})"
    else:
        bad = next(c for c in value if not _CODE.fullmatch(c))
        reason = f"holds {bad!a} at position {value.index(bad) + 1}"
    raise IuCoreError(
        f"{kind} {_shown(value)} {reason}: use 1-{MAX_CODE_LENGTH} characters of {CODE_ALPHABET}"
    )
