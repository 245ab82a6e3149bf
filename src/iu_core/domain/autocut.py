"""Autocut: cut a UTF-8 Markdown or plain-text document into a tree of pieces.

Pure and database-free. ``autocut(text) -> CutNode`` returns the root (kind
``document``) of a tree whose pieces, read in pre-order, give back ``text``
exactly (``join_text(root) == text``): every heading line starts a new piece,
and a piece's ``text`` runs from its heading line up to the next heading line.

What starts a piece, and its rank (a smaller rank sits higher in the tree):

====================================  ===========  =====
line                                  kind         rank
====================================  ===========  =====
``# Title`` … ``###### Title``         heading      1-6
``Part 1`` / ``Phần I``               part         10
``Chapter II`` / ``Chương II``        chapter      20
``Section 3`` / ``Mục 3``             section      30
``IV. Title`` (upper-case Roman)      division     35
``Article 5.`` / ``Điều 5.``          article      40
``Clause 2`` / ``Khoản 2``, ``2.``    clause       50
``2.1.`` (decimal, one level deeper)  subclause    52+
``Point b`` / ``Điểm b``, ``b)``      point        60
====================================  ===========  =====

A Markdown heading that carries a legal label (``## Article 5. Scope``) takes
the label's kind and rank; an unlabelled Markdown heading ranks above every
legal level. A bare label line (``Chương I``) followed by an upper-case line
takes that line as its heading (the line stays in the piece's text). Lines
inside fenced code blocks never start a piece. A new piece
hangs under the nearest open piece of a strictly smaller rank.

``classify_line(line) -> LineMatch | None`` is the single-line classifier,
also used by ``split`` to name the new piece.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ROOT_KIND = "document"

# Keyword -> (kind, rank), English and Vietnamese, matched case-insensitively.
_KEYWORDS: dict[str, tuple[str, int]] = {
    "part": ("part", 10),
    "phần": ("part", 10),
    "chapter": ("chapter", 20),
    "chương": ("chapter", 20),
    "section": ("section", 30),
    "mục": ("section", 30),
    "article": ("article", 40),
    "điều": ("article", 40),
    "clause": ("clause", 50),
    "khoản": ("clause", 50),
    "point": ("point", 60),
    "điểm": ("point", 60),
}

_ROMAN = r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
# "Article 5", "Chương IV", "Phần thứ nhất", "Point b", "Điều 12a"; then the end of
# the line or a separator (". ", ": ", ") ", " - " or an en/em dash) and the heading. A bare
# "Article 5 applies …" in running prose is NOT a label: no separator.
_LEGAL = re.compile(
    r"^(?P<kw>" + "|".join(_KEYWORDS) + r")\s+"
    r"(?P<num>thứ\s+\w+|\d{1,4}[a-z]?|" + _ROMAN + r"|[a-zđ])"
    r"(?:\s*$|\s*[.:)]\s*(?P<h1>.*)$|\s+[-\u2013\u2014]\s+(?P<h2>.*)$)",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<rest>.*?)(?:[ \t]+#+)?[ \t]*$")
_ROMAN_LINE = re.compile(r"^(?P<num>" + _ROMAN + r")\.[ \t]+(?P<h>\S.*)$")
_DECIMAL = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3}){0,3})(?P<dot>\.?)[ \t]+(?P<h>\S.*)$")
_LETTER = re.compile(r"^(?P<num>\(?[a-zđ]\))[ \t]+(?P<h>\S.*)$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")


@dataclass(frozen=True, slots=True)
class LineMatch:
    """A line that starts a piece: its kind, rank, label and heading."""

    kind: str
    rank: int
    label: str
    heading: str


@dataclass(slots=True)
class CutNode:
    """One piece of a cut document; ``text`` is the piece's own text only."""

    kind: str
    label: str
    heading: str
    text: str
    rank: int = 0
    children: list[CutNode] = field(default_factory=list)

    def walk(self) -> list[CutNode]:
        """This node and its descendants in pre-order (document order)."""
        out: list[CutNode] = []
        stack = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out


def _legal(text: str) -> LineMatch | None:
    m = _LEGAL.match(text)
    if not m or not m.group("num"):
        return None
    keyword = m.group("kw")
    kind, rank = _KEYWORDS[keyword.lower()]
    heading = (m.group("h1") or m.group("h2") or "").strip()
    return LineMatch(kind, rank, f"{keyword} {m.group('num')}", heading)


def classify_line(line: str) -> LineMatch | None:
    """The piece a line starts, or None for ordinary body text."""
    text = line.strip()
    if not text:
        return None
    md = _MARKDOWN.match(text)
    if md:
        rest = md.group("rest").strip().strip("*_").strip()
        inner = _legal(rest) or _numbered(rest)
        if inner:
            return inner
        level = len(md.group("hashes"))
        return LineMatch("heading", level, "", rest)
    return _legal(text.strip("*_").strip()) or _numbered(text)


def _numbered(text: str) -> LineMatch | None:
    m = _ROMAN_LINE.match(text)
    if m and m.group("num"):
        return LineMatch("division", 35, f"{m.group('num')}.", m.group("h").strip())
    m = _DECIMAL.match(text)
    if m and (m.group("dot") or "." in m.group("num")):
        # "12 apples" is prose; a clause needs "12." ("2.1" may omit the final dot).
        depth = m.group("num").count(".")
        kind = "clause" if depth == 0 else "subclause"
        return LineMatch(kind, 50 + 2 * depth, m.group("num") + ".", m.group("h").strip())
    m = _LETTER.match(text)
    if m:
        return LineMatch("point", 60, m.group("num"), m.group("h").strip())
    return None


def autocut(text: str, *, title: str = "") -> CutNode:
    """Cut ``text`` into a piece tree; the root's own text is the preamble."""
    root = CutNode(ROOT_KIND, "", title, "", rank=-1)
    stack: list[CutNode] = [root]
    current = root
    parts: list[str] = []
    in_fence = False
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            parts.append(line)
            continue
        match = None if in_fence else classify_line(line)
        if match is None:
            parts.append(line)
            continue
        current.text = "".join(parts)
        parts = [line]
        while stack[-1].rank >= match.rank:
            stack.pop()
        heading = match.heading or _caption(lines, index + 1)
        node = CutNode(match.kind, match.label, heading, "", rank=match.rank)
        stack[-1].children.append(node)
        stack.append(node)
        current = node
    current.text = "".join(parts)
    return root


def _caption(lines: list[str], index: int) -> str:
    """A bare label ("Chương I") takes an upper-case next line as its heading."""
    if index < len(lines):
        nxt = lines[index].strip()
        if nxt and nxt.isupper() and classify_line(nxt) is None:
            return nxt
    return ""


def join_text(root: CutNode) -> str:
    """The document text again: every piece's text in pre-order."""
    return "".join(node.text for node in root.walk())


def default_title(root: CutNode, fallback: str) -> str:
    """A title for a document: its first non-empty line (a heading's label and heading)."""
    for node in root.walk():
        for line in node.text.splitlines():
            if line.strip():
                match = classify_line(line)
                title = " ".join(p for p in (match.label, match.heading) if p) if match else ""
                return (title or line.strip().strip("#*_ ").strip() or fallback)[:200]
    return fallback
