"""Route filters: the small language of ``route add/set --filter``, parsed into a JSON tree.

A filter picks which events of a route's type it delivers::

    iu:LAW-* and not (tag:draft or op:deprecate)

Terms are ``FIELD:PATTERN``; a pattern's ``*`` stands for any run of
characters and ``?`` for one character::

    iu:CODE     the event's unit code        tag:NAME   a tag of the unit
    lang:vi     the unit's language (en/vi)  kind:KIND  a piece kind the event touches
    eid:EID     an eid the event names       op:TYPE    the structure operation type

combined with ``and``, ``or``, ``not`` and parentheses (``not`` binds
tightest, then ``and``, then ``or``). A pattern with spaces, parentheses or
quotes is written in double quotes: ``tag:"a b"`` (``\\"`` and ``\\\\`` inside).

``compile_filter`` turns the text into the tree that the database function
``fn_iu_route_filter_match`` evaluates at fan-out: ``{"and": [..]}``,
``{"or": [..]}``, ``{"not": node}`` and ``{FIELD: LIKE pattern}``. The
pattern is data (escaped here, compared with LIKE as a bound value); no SQL
is ever built from a filter. Pure Python, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iu_core.errors import IuCoreError

__all__ = ["FIELDS", "FilterError", "compile_filter", "like_pattern", "matches"]

# The fields a term may name (mirrors fn_iu_route_filter_match).
FIELDS = ("iu", "tag", "lang", "kind", "eid", "op")
KEYWORDS = ("and", "or", "not")
MAX_LENGTH = 2000
MAX_DEPTH = 32
_SPECIAL = frozenset('() "')


class FilterError(IuCoreError):
    """A filter that does not parse; the message names the position (1-based column)."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "(" ")" "and" "or" "not" "term" "end"
    position: int  # 0-based offset in the text
    field: str = ""
    pattern: str = ""


def _fail(text: str, position: int, what: str) -> FilterError:
    near = text[position : position + 12]
    where = f"at column {position + 1}" + (f" (near {near!r})" if near else " (at the end)")
    return FilterError(f"bad filter {where}: {what}")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted pattern opening at ``start``, and the offset after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise _fail(text, start, 'a quoted pattern is not closed (missing ")')


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "()":
            found.append(_Token(char, i))
            i += 1
            continue
        start = i
        while i < len(text) and not text[i].isspace() and text[i] not in '():"':
            i += 1
        word = text[start:i]
        if not word:
            raise _fail(text, start, f"unexpected {char!r}; a term is FIELD:PATTERN, e.g. iu:LAW-*")
        if i < len(text) and text[i] == ":":
            field = word.lower()
            if field not in FIELDS:
                raise _fail(text, start, f"unknown field {word!r}; expected one of {', '.join(FIELDS)}")
            i += 1
            if i < len(text) and text[i] == '"':
                pattern, i = _quoted(text, i)
            else:
                value_start = i
                while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                    i += 1
                pattern = text[value_start:i]
            if not pattern:
                raise _fail(text, start, f"{field}: needs a pattern, e.g. {field}:{_EXAMPLE[field]}")
            found.append(_Token("term", start, field, pattern))
            continue
        if word.lower() in KEYWORDS:
            found.append(_Token(word.lower(), start))
            continue
        raise _fail(text, start, f"{word!r} is neither a term (FIELD:PATTERN) nor and/or/not")
    found.append(_Token("end", len(text)))
    return found


_EXAMPLE = {"iu": "LAW-*", "tag": "labour", "lang": "vi", "kind": "article", "eid": "chp_2__*", "op": "split"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expression(self, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _fail(self.text, self.peek().position, f"nested deeper than {MAX_DEPTH} levels")
        parts = [self.conjunction(depth)]
        while self.peek().kind == "or":
            self.take()
            parts.append(self.conjunction(depth))
        return parts[0] if len(parts) == 1 else {"or": parts}

    def conjunction(self, depth: int) -> dict[str, Any]:
        parts = [self.unary(depth)]
        while self.peek().kind == "and":
            self.take()
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else {"and": parts}

    def unary(self, depth: int) -> dict[str, Any]:
        token = self.take()
        if token.kind == "not":
            return {"not": self.unary(depth + 1)}
        if token.kind == "(":
            inner = self.expression(depth + 1)
            closing = self.take()
            if closing.kind != ")":
                raise _fail(
                    self.text,
                    closing.position,
                    f"expected ')' to close the '(' at column {token.position + 1}",
                )
            return inner
        if token.kind == "term":
            return {token.field: like_pattern(token.pattern)}
        if token.kind == "end":
            raise _fail(self.text, token.position, "the filter ends where a term was expected")
        raise _fail(self.text, token.position, f"expected a term, 'not' or '(' but found {token.kind!r}")


def like_pattern(glob: str) -> str:
    """A filter pattern as a LIKE pattern: ``*`` -> ``%``, ``?`` -> ``_``, the rest literal."""
    out: list[str] = []
    for char in glob:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "%_\\":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def compile_filter(text: str) -> dict[str, Any]:
    """The JSON tree of filter ``text``; raises ``FilterError`` (one line, with the column)."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"bad filter: longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise FilterError("bad filter at column 1: the filter is empty (clear it with --no-filter)")
    parser = _Parser(text)
    tree = parser.expression(0)
    rest = parser.peek()
    if rest.kind != "end":
        what = "an unmatched ')'" if rest.kind == ")" else f"{rest.kind!r} after a complete filter"
        raise _fail(text, rest.position, f"unexpected {what} (join terms with and/or)")
    return tree


def _like(value: str, pattern: str) -> bool:
    """LIKE with backslash escapes, as PostgreSQL evaluates it (for tests and previews)."""
    import re

    regex: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None


def matches(tree: dict[str, Any], facts: dict[str, list[str]]) -> bool:
    """Evaluate ``tree`` against an event's facts (field -> its values), as the database does.

    The reference the SQL function is tested against; the fan-out itself
    never calls it.
    """
    ((key, arg),) = tree.items()
    if key == "and":
        return all(matches(node, facts) for node in arg)
    if key == "or":
        return any(matches(node, facts) for node in arg)
    if key == "not":
        return not matches(arg, facts)
    return any(_like(value, arg) for value in facts.get(key, []))
