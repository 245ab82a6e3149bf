"""Autocut: cut a UTF-8 Markdown or plain-text document into a tree of pieces.

Pure and database-free. ``autocut(text) -> CutNode`` returns the root (kind
``document``) of a tree whose pieces, read in pre-order, give back ``text``
exactly (``join_text(root) == text``): every heading line starts a new piece,
and a piece's ``text`` runs from its heading line up to the next heading line.

What starts a piece, and its rank (a smaller rank sits higher in the tree):

==========================================  ===========  =====
line                                        kind         rank
==========================================  ===========  =====
``# Title`` … ``###### Title``               heading      1-6
``Part 1`` / ``PART 1 PRELIMINARY`` / Phần  part         10
``Chapter II`` / ``Chương II``              chapter      20
``Mục 3`` (Vietnamese section)              section      30
``IV. Title`` (upper-case Roman)            division     35
``Section 3``, ``SEC. 3.``, ``§ 3``         section      40
``Article 5`` / ``Điều 5``                  article      40
``Clause 2`` / ``Khoản 2``, ``2.``, ``(2)``  clause       50
``2.1.`` (decimal, one level deeper)        subclause    52+
``Point b`` / ``Điểm b``, ``b)``, ``(b)``    point        60
``(B)`` (upper-case letter)                 point        60
``(ii)``, ``ii.``, ``(II)`` (Roman)          subpoint     70
==========================================  ===========  =====

A label is followed by the end of the line, a separator (``.``, ``:``, ``)``,
a dash) and its heading, or directly by a short capitalised heading with no
closing ``.;:,`` (``Article 1 Short title``); ``Article 5 applies to all.`` is
prose. English Section and Article share a rank, below Chapter; in a document
that prints both, the one printed first is the outer level and the other
nests under it (rank 45): a US constitution's ``Section 1`` under its ``Article
I``, an EU regulation's ``Article 12`` under its ``Section 1``.

Enumerators (rank 50 and deeper) nest in the order they appear, as statutes
print them: a numbering style already open under the current article continues
that list (a sibling); a new style opens a list one level deeper. So UK
``(1) (a) (i)`` and US ``(a) (1) (A) (i) (I)`` both nest correctly. ``(i)``
right after ``(h)`` is the letter i, not the Roman one (likewise ``(v)``,
``(x)`` after ``(iv)``, ``(ix)`` are Roman).

A Markdown heading that carries a legal label (``## Article 5. Scope``) takes
the label's kind and rank; an unlabelled Markdown heading ranks above every
legal level. A bare label line (``Chương I``, ``Article 1``) followed by an
upper-case line, or for a part/chapter/section/article by a short capitalised
heading line, takes that line as its heading (the line stays in the piece's
text). Lines inside fenced code blocks never start a piece. A new piece hangs
under the nearest open piece of a strictly smaller rank.

UK printed Acts number their sections without a keyword: ``1 Fraud``, ``5
“Gain” and “loss”``, ``6A Possession``. In a document where no line carries a
Section or Article keyword, such a line (a number of at most three digits, an
optional capital suffix, then a short capitalised heading) is a ``section``
(rank 40, label the number as printed) when the numbers rise through the
document and its heading is not a running header: a heading that appears
again elsewhere, as another numbered line or as a line of its own other than
the cross-heading just above it (``2 Fraud Act 2006 (c. 35)`` on a page whose
facing page prints ``Fraud Act 2006 (c. 35)``), is not a section. Page
numbers alone have no heading and never qualify. See ``_uk_sections``.

``classify_line(line) -> LineMatch | None`` is the single-line classifier,
also used by ``split`` to name the new piece. A UK section depends on the
whole document, so ``classify_line`` does not report it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ROOT_KIND = "document"
_ENUM_RANK = 50  # ranks from here on are list enumerators, nested in order of appearance

# Keyword -> (kind, rank), English and Vietnamese, matched case-insensitively.
_KEYWORDS: dict[str, tuple[str, int]] = {
    "part": ("part", 10),
    "phần": ("part", 10),
    "chapter": ("chapter", 20),
    "chương": ("chapter", 20),
    "mục": ("section", 30),
    "section": ("section", 40),
    "sec.": ("section", 40),
    "§": ("section", 40),
    "article": ("article", 40),
    "điều": ("article", 40),
    "clause": ("clause", 50),
    "khoản": ("clause", 50),
    "point": ("point", 60),
    "điểm": ("point", 60),
}
_CAPTIONED = frozenset({"part", "chapter", "section", "article"})

_ROMAN = r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})"
_KW = "|".join(re.escape(k) for k in sorted(_KEYWORDS, key=len, reverse=True))
# "Article 5", "Chương IV", "Phần thứ nhất", "SEC. 2", "§101", "Section 2.1"; then the end of
# the line, a separator (". ", ": ", ") ", " - ", an en/em dash) and the heading, or a bare
# heading (h3) that must look like one (see _short_heading): "Article 5 applies …" is prose.
_LEGAL = re.compile(
    r"^(?P<kw>" + _KW + r")(?:(?<=[.§])\s*|\s+)"
    r"(?P<num>thứ\s+\w+|\d{1,4}[a-z]?(?:\.\d{1,3})*|" + _ROMAN + r"|[a-zđ])"
    r"(?:\s*$|\s*[.:)]\s*(?P<h1>.*)$|\s*[\u2013\u2014]\s*(?P<h2>.*)$|\s+-\s+(?P<h3>.*)$"
    r"|\s+(?P<bare>\S.*)$)",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<rest>.*?)(?:[ \t]+#+)?[ \t]*$")
_ROMAN_LINE = re.compile(r"^(?P<num>" + _ROMAN + r")\.[ \t]+(?P<h>\S.*)$")
_SMALL_ROMAN_LINE = re.compile(r"^(?P<num>[ivx]{1,7})\.[ \t]+(?P<h>\S.*)$")
# "1. text", "2.1 text", and as printed in some laws "1.Công nghệ", "2..Thông tin".
_DECIMAL = re.compile(r"^(?P<num>\d{1,3}(?:\.\d{1,3}){0,3})(?P<dot>\.{0,2})(?P<sp>[ \t]*)(?P<h>\S.*)$")
_PAREN = re.compile(r"^\((?P<tok>\d{1,3}|[a-zđ]|[A-Z]|[ivx]{2,7}|[IVX]{2,7})\)(?:[ \t]+(?P<h>\S.*))?$")
_LETTER = re.compile(r"^(?P<num>[a-zđ]\))[ \t]+(?P<h>\S.*)$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
# UK section "1 Fraud", "6A Possession etc. of articles for use in frauds", "5 “Gain” and “loss”".
_OPEN_QUOTES = "\"'\u201c\u2018"
_UK_SECTION = re.compile(
    r"^(?P<num>(?P<n>\d{1,3})(?P<suffix>[A-Z]{0,2}))[ \t]+(?P<h>[" + _OPEN_QUOTES + r"]?[A-Z].*)$"
)
_KEYWORD_HEADS = ("section", "sec.", "§", "article", "điều", "#")


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


def _short_heading(text: str) -> bool:
    """A heading printed without a separator: short, capitalised, no closing punctuation."""
    text = text.strip()
    return (
        bool(text)
        and text[0].isupper()
        and text[-1] not in ".;:,"
        and len(text) <= 120
        and len(text.split()) <= 16
    )


def _is_roman(token: str) -> bool:
    return bool(token) and re.fullmatch(_ROMAN, token.upper()) is not None


def _legal(text: str) -> LineMatch | None:
    m = _LEGAL.match(text)
    if not m or not m.group("num"):
        return None
    bare = m.group("bare")
    if bare is not None and not _short_heading(bare):
        return None
    keyword = m.group("kw")
    kind, rank = _KEYWORDS[keyword.lower()]
    heading = (m.group("h1") or m.group("h2") or m.group("h3") or bare or "").strip()
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


def _paren(token: str, heading: str) -> LineMatch:
    """``(1)`` clause, ``(a)``/``(A)`` point, ``(ii)``/``(II)`` and a lone ``(i)``/``(I)`` subpoint."""
    label = f"({token})"
    if token.isdigit():
        return LineMatch("clause", 50, label, heading)
    if len(token) > 1 or token in "iI":
        return LineMatch("subpoint", 70, label, heading)
    return LineMatch("point", 60, label, heading)


def _numbered(text: str) -> LineMatch | None:
    m = _ROMAN_LINE.match(text)
    if m and m.group("num"):
        return LineMatch("division", 35, f"{m.group('num')}.", m.group("h").strip())
    m = _SMALL_ROMAN_LINE.match(text)
    if m and _is_roman(m.group("num")):
        return LineMatch("subpoint", 70, f"{m.group('num')}.", m.group("h").strip())
    m = _PAREN.match(text)
    if m and (m.group("tok").isdigit() or len(m.group("tok")) == 1 or _is_roman(m.group("tok"))):
        return _paren(m.group("tok"), (m.group("h") or "").strip())
    m = _DECIMAL.match(text)
    if m:
        num, dot, heading = m.group("num"), m.group("dot"), m.group("h").strip()
        # "12 apples" is prose; a clause needs "12." ("2.1" may omit the final dot), and
        # "1.Công" (no space) only when a capital follows the dot.
        spaced = bool(m.group("sp")) and bool(dot or "." in num)
        if spaced or (dot and heading[0].isupper()):
            depth = num.count(".")
            kind = "clause" if depth == 0 else "subclause"
            return LineMatch(kind, 50 + 2 * depth, num + ".", heading)
    m = _LETTER.match(text)
    if m:
        return LineMatch("point", 60, m.group("num"), m.group("h").strip())
    return None


def _token(label: str) -> str:
    """The bare number of an enumerator label: "(ii)" -> "ii", "Điểm đ" -> "đ", "a)" -> "a"."""
    words = label.split()
    return words[-1].strip("().") if words else ""


def _family(match: LineMatch) -> str:
    """The numbering style of an enumerator: one list continues while its style is open."""
    token = _token(match.label)
    if match.kind == "clause":
        return "1"
    if match.kind == "subclause":
        return f"1.{match.label.count('.') - 1}"
    upper = token.isupper()
    if match.kind == "point":
        return "A" if upper else "a"
    return "I" if upper else "i"


def _in_context(match: LineMatch, open_labels: dict[str, str]) -> LineMatch:
    """A lone (i)/(v)/(x) is a letter or a Roman numeral depending on the list it continues."""
    token = _token(match.label)
    if len(token) != 1 or token.lower() not in "ivx":
        return match
    letters, romans = ("A", "I") if token.isupper() else ("a", "i")
    prev_letter = _token(open_labels.get(letters, ""))
    prev_roman = _token(open_labels.get(romans, ""))
    if match.kind == "subpoint" and len(prev_letter) == 1 and ord(prev_letter) + 1 == ord(token):
        return LineMatch("point", 60, match.label, match.heading)
    roman_next = _is_roman(prev_roman) and _roman_value(prev_roman) + 1 == _roman_value(token)
    if match.kind == "point" and roman_next:
        return LineMatch("subpoint", 70, match.label, match.heading)
    return match


def _roman_value(token: str) -> int:
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    digits = [values[c] for c in token.upper()]
    for i, v in enumerate(digits):
        total += -v if i + 1 < len(digits) and digits[i + 1] > v else v
    return total


def autocut(text: str, *, title: str = "") -> CutNode:
    """Cut ``text`` into a piece tree; the root's own text is the preamble."""
    root = CutNode(ROOT_KIND, "", title, "", rank=-1)
    stack: list[CutNode] = [root]
    families: list[str] = [""]  # the enumerator style of each open piece ("" above rank 50)
    current = root
    parts: list[str] = []
    in_fence = False
    lines = text.splitlines(keepends=True)
    uk = _uk_sections(lines)
    nested = _nested_peer(lines)
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            parts.append(line)
            continue
        match = None if in_fence else classify_line(line)
        if match is None and index in uk:
            match = uk[index]
        if match is None:
            parts.append(line)
            continue
        current.text = "".join(parts)
        parts = [line]
        family = ""
        rank = _NESTED_RANK if match.rank == _PEER_RANK and match.kind == nested else match.rank
        if match.rank >= _ENUM_RANK:
            open_labels = {f: n.label for f, n in zip(families, stack, strict=True) if f}
            match = _in_context(match, open_labels)
            family = _family(match)
            rank = _enumerator_rank(stack, families, family, match.rank)
        else:
            while stack[-1].rank >= rank:
                stack.pop()
                families.pop()
        heading = match.heading or _caption(lines, index + 1, match.kind)
        node = CutNode(match.kind, match.label, heading, "", rank=rank)
        stack[-1].children.append(node)
        stack.append(node)
        families.append(family)
        current = node
    current.text = "".join(parts)
    return root


_PEER_RANK = 40  # English Section and Article
_NESTED_RANK = 45  # the one of them that nests under the other in a document that prints both


def _nested_peer(lines: list[str]) -> str | None:
    """In a document with both Sections and Articles, the kind that nests under the other.

    The one printed first is the outer level: a US constitution prints ``Article
    I`` then its ``Section 1``, ``Section 2``; an EU regulation prints ``Section
    1`` then its ``Article 12``, ``Article 13``. Vietnamese ``Mục`` already ranks
    above ``Điều`` and is not a peer.
    """
    first: dict[str, int] = {}
    in_fence = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else classify_line(line)
        if match is not None and match.rank == _PEER_RANK and match.kind in ("section", "article"):
            first.setdefault(match.kind, index)
    if len(first) < 2:
        return None
    return "section" if first["article"] < first["section"] else "article"


def _uk_sections(lines: list[str]) -> dict[int, LineMatch]:
    """Line index -> section, for the keyword-less sections of a UK printed Act (see the docstring)."""
    candidates: list[tuple[int, re.Match[str]]] = []
    in_fence = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        text = line.strip()
        if in_fence or not text:
            continue
        m = _UK_SECTION.match(text)
        if m and _short_heading(m.group("h").lstrip(_OPEN_QUOTES)) and classify_line(text) is None:
            candidates.append((index, m))
    if not candidates:
        return {}
    stripped = [line.strip() for line in lines]
    for text in stripped:  # a document that names its sections with a keyword: not this style
        if text.lower().startswith(_KEYWORD_HEADS):
            match = classify_line(text)
            if match is not None and match.rank == 40:
                return {}
    headings: dict[str, int] = {}
    for _, m in candidates:
        headings[m.group("h")] = headings.get(m.group("h"), 0) + 1
    alone: dict[str, list[int]] = {}
    for index, text in enumerate(stripped):
        alone.setdefault(text, []).append(index)
    found: dict[int, LineMatch] = {}
    last: tuple[int, str] = (-1, "")
    for index, m in candidates:
        heading = m.group("h").strip()
        elsewhere = [i for i in alone.get(heading, []) if i != index - 1]
        if headings[m.group("h")] > 1 or elsewhere:
            continue  # a running header ("2 Fraud Act 2006 (c. 35)"), not a section
        number = (int(m.group("n")), m.group("suffix"))
        if number <= last:
            continue  # numbers rise through an Act; a smaller one is prose or a header
        last = number
        found[index] = LineMatch("section", 40, m.group("num"), heading)
    return found


def _enumerator_rank(stack: list[CutNode], families: list[str], family: str, rank: int) -> int:
    """Close the open list of this style (a sibling follows) or open a deeper one; pops ``stack``."""
    k = len(stack) - 1
    while k > 0 and stack[k].rank >= _ENUM_RANK:
        if families[k] == family:
            same = stack[k].rank
            del stack[k:], families[k:]
            return same
        k -= 1
    if stack[-1].rank >= _ENUM_RANK:
        return max(rank, stack[-1].rank + 1)
    return rank


def _caption(lines: list[str], index: int, kind: str) -> str:
    """A bare label ("Chương I", "Article 1") takes the next line as its heading.

    An upper-case line always; for a part, chapter, section or article also a short
    capitalised line without closing punctuation ("Subject-matter and objectives").
    """
    if index < len(lines):
        nxt = lines[index].strip()
        captioned = nxt.isupper() or (kind in _CAPTIONED and _short_heading(nxt))
        if nxt and captioned and classify_line(nxt) is None:
            return nxt
    return ""


_LABEL = re.compile(r"^(?P<kw>" + _KW + r")(?:(?<=[.§])\s*|\s+)(?P<num>\S.*?)\s*$", re.IGNORECASE)


def label_number(label: str) -> tuple[str, str]:
    """The keyword (lower case; "" for an enumerator) and the number as printed of a label.

    ``"Article 5"`` -> ``("article", "5")``, ``"Điều 10"`` -> ``("điều", "10")``,
    ``"SEC. 2"`` -> ``("sec.", "2")``, ``"(1)"`` -> ``("", "(1)")``, ``"a)"`` -> ``("", "a)")``.
    """
    text = label.strip()
    m = _LABEL.match(text)
    if m and m.group("kw").lower() in _KEYWORDS:
        return m.group("kw").lower(), m.group("num")
    return "", text


def keyword_kind(keyword: str) -> str:
    """The kind a label keyword starts ("điều" -> "article"); "" for an unknown word."""
    found = _KEYWORDS.get(keyword.lower())
    return found[0] if found else ""


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
