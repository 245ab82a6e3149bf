"""Citations: the references to provisions written inside a piece's text.

API::

    detect(text, *, language, here=None, unit_titles={}) -> tuple[Citation, ...]
    locate(eid, eids) -> str | None
    names(eid, stored) -> bool
    locator(eids) -> (eid -> str | None)     # locate, indexed once for many eids

Pure Python, no database. ``language`` is ``"en"`` or ``"vi"``. ``here`` is the
``eid`` of the piece the text belongs to; relative references (``subsection
(2)``, ``this Part``, ``khoản 1 Điều này``) are resolved from it.
``unit_titles`` maps the code of each unit IU Core holds to its title or short
title (or a tuple of both); a reference that names one of them targets that unit.

Every citation carries its exact span in ``text`` (``text[start:end] ==
citation.text``), the cited unit (``None`` = the citing unit), the cited
provision as an Akoma Ntoso ``eid`` (``None`` = the whole unit) and, for a
relative reference, the ``eid`` it was resolved from. A reference whose target
cannot be named carries the reason in ``unresolved``.

Element names: section ``sec``, subsection ``subsec``, paragraph ``para``,
sub-paragraph ``subpara``, article ``art``, point ``point``, part ``part``,
chapter ``chp``, schedule ``sched``; Điều ``art``, Khoản ``para``, Điểm
``point``, Chương ``chp``, Mục ``sec``, Phần ``part``. Roman numerals become
arabic (``Chương II`` -> ``chp_2``).

A list or range yields one citation per provision: ``sections 4 and 5`` gives
``sections 4`` and ``5``; the words that qualify the whole list (``khoản 2 Điều
này`` after ``điểm a, b và c``) belong to the last item's span; the provisions
of a range (``Articles 5 to 7``) all carry the range's span. A heading (a line
that starts with ``Điều 5.``, ``Chương II``, ``Article 1 Scope``) is the
provision itself, not a reference to it, and is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

LANGUAGES = ("en", "vi")

NO_POSITION = "relative reference without the citing provision's eid"
NO_UNIT = "no such unit"

# code -> the title of a unit IU Core holds, or its names (title, short title, ...)
UnitTitles = Mapping[str, str | tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Citation:
    start: int
    end: int
    text: str
    unit: str | None
    eid: str | None
    resolved_from: str | None = None
    unresolved: str | None = None


# Rank of each element in a provision's address, outermost first. A relative
# reference to an element keeps the citing eid's components of lower rank.
_RANK = {
    "sched": 0,
    "title": 0,
    "reg": 4,
    "part": 1,
    "chp": 2,
    "sec": 3,
    "art": 4,
    "subsec": 5,
    "para": 6,
    "point": 7,
    "subpara": 7,
}

_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100}


def _roman(token: str) -> int | None:
    if not token or any(ch not in _ROMAN for ch in token):
        return None
    total = 0
    for index, ch in enumerate(token):
        value = _ROMAN[ch]
        following = _ROMAN[token[index + 1]] if index + 1 < len(token) else 0
        total += -value if value < following else value
    return total


def _number(token: str) -> str:
    value = _roman(token)
    return str(value) if value is not None else token.lower()


def _component(kind: str, number: str) -> str:
    return f"{kind}_{_number(number)}"


def _join(components: list[str]) -> str:
    return "__".join(components)


def _kind_of(component: str) -> str:
    return component.rsplit("_", 1)[0]


def _prefix_below(here: str, kind: str) -> list[str] | None:
    """The components of ``here`` that contain an element of ``kind``."""
    parts = here.split("__")
    kept: list[str] = []
    for part in parts:
        if _RANK.get(_kind_of(part), 99) >= _RANK[kind]:
            break
        kept.append(part)
    return kept


def _prefix_through(here: str, kind: str) -> list[str] | None:
    """The components of ``here`` up to and including its element of ``kind``."""
    parts = here.split("__")
    for index in range(len(parts) - 1, -1, -1):
        if _kind_of(parts[index]) == kind:
            return parts[: index + 1]
    return None


@dataclass(frozen=True, slots=True)
class _Item:
    value: str
    start: int
    end: int
    range_to: str | None = None


def _items_span(items: list[_Item], first_start: int, chain_end: int) -> list[tuple[int, int, str]]:
    """(start, end, value) per provision of a list, with the spans the docstring gives."""
    out: list[tuple[int, int, str]] = []
    for index, item in enumerate(items):
        start = first_start if index == 0 else item.start
        end = chain_end if index == len(items) - 1 else item.end
        if item.range_to is not None and item.value.isdigit() and item.range_to.isdigit():
            low, high = int(item.value), int(item.range_to)
            if 0 < high - low <= 200:
                for value in range(low, high + 1):
                    out.append((start, end, str(value)))
                continue
        out.append((start, end, item.value))
    return out


# ---------------------------------------------------------------- titles


# A title names a unit in a reference only when it has letters enough to be a
# name: a unit whose heading is renamed to "a" or "1." must not make every
# text in the hub cite it (nor make every piece a candidate to detect again).
MIN_TITLE_LETTERS = 4


def can_name_a_unit(title: str) -> bool:
    """Whether ``title`` is long enough to be looked for as a unit's name in references."""
    return sum(ch.isalpha() for ch in title) >= MIN_TITLE_LETTERS


def _names(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _title_pattern(unit_titles: UnitTitles, language: str) -> re.Pattern[str] | None:
    return _titles_pattern(tuple(n for v in unit_titles.values() for n in _names(v)), language)


@lru_cache(maxsize=64)
def _titles_pattern(values: tuple[str, ...], language: str) -> re.Pattern[str] | None:
    """The pattern of a set of titles, built once for the many pieces detected with the same titles."""
    titles = sorted({t.strip() for t in values if can_name_a_unit(t)}, key=len, reverse=True)
    if not titles:
        return None
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in titles)
    if language == "en":
        return re.compile(rf"(?:\bthe\s+)?(?P<title>{alternatives})(?![\w])")
    return re.compile(rf"(?P<title>{alternatives})(?:\s+số\s+\d+/\d{{4}}/[\wĐđ-]+)?(?![\w])")


def _unit_code(unit_titles: UnitTitles, title: str) -> str | None:
    wanted = " ".join(title.split()).casefold()
    for code, names in unit_titles.items():
        if any(" ".join(candidate.split()).casefold() == wanted for candidate in _names(names)):
            return code
    return None


# ---------------------------------------------------------------- English

_EN_KEYWORDS = {
    "section": "sec",
    "sections": "sec",
    "s.": "sec",
    "ss.": "sec",
    "article": "art",
    "articles": "art",
    "part": "part",
    "parts": "part",
    "chapter": "chp",
    "chapters": "chp",
    "schedule": "sched",
    "schedules": "sched",
    "reg.": "reg",
    "regs.": "reg",
    "art.": "art",
    "arts.": "art",
}
_EN_CHILDREN = {
    "sec": ("subsec", "para", "subpara"),
    "art": ("para", "point", "subpara"),
    "reg": ("para", "subpara"),
}
_EN_RELATIVE = {
    "subsection": "subsec",
    "subsections": "subsec",
    "paragraph": "para",
    "paragraphs": "para",
    "sub-paragraph": "subpara",
    "sub-paragraphs": "subpara",
    "subparagraph": "subpara",
    "subparagraphs": "subpara",
    "point": "point",
    "points": "point",
}
_EN_RELATIVE_CHILDREN = {
    "subsec": ("para", "subpara"),
    "para": ("subpara",),
    "subpara": (),
    "point": (),
}

_EN_ABSOLUTE = re.compile(
    r"\b(?P<kw>[Ss]ections?|[Ss]s?\.|Articles?|arts?\.|Parts?|Chapters?|Schedules?|regs?\.)"
    r"\s+(?=\d|[IVXLC]+\b)"
)
_EN_REL = re.compile(r"\b(?P<kw>[Ss]ub-?sections?|[Ss]ub-?paragraphs?|[Pp]aragraphs?|[Pp]oints?)\s+(?=\(|\d)")
_EN_THIS = re.compile(
    r"\b(?P<this>[Tt]his)\s+(?P<kw>section|subsection|Part|Chapter|Article|Schedule|paragraph)\b"
)
_EN_NUMBER = re.compile(r"(?:\d+[A-Z]{0,2}|[IVXLC]+)(?![\w])")
_EN_DESIG = re.compile(r"\((?P<d>[0-9]+[A-Z]?|[a-z]{1,2}|[ivx]+|[A-Z])\)")
_EN_SEP = re.compile(r"(?P<sep>\s*,\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+|\s+to\s+|\s*[-\u2013]\s*)")
_EN_THIS_UNIT = re.compile(r"\s+of\s+this\s+(?:Act|Regulation|Directive|Order)\b")
_EN_OTHER_UNIT = re.compile(
    r"\s+of\s+(?:the\s+)?(?P<title>(?:[A-Z][\w\u2019'-]*|\((?:[A-Z][\w\u2019'-]*\s*)+\))"
    r"(?:\s+(?:[A-Z][\w\u2019'-]*|and|of|the|for|\((?:[A-Z][\w\u2019'-]*\s*)+\)))*?"
    r"\s+(?:Act|Order|Regulations?)(?:\s+\d{4}|(?=\s*$)))"
    r"|\s+of\s+the\s+(?P<treaty>TEU|TFEU|Treaty\s+on\s+European\s+Union|Treaty\s+on\s+the\s+Functioning\s+of\s+the\s+European\s+Union)\b"
)
_EN_TITLE_PART = re.compile(r"\s+of\s+Title\s+(?P<n>[IVXLC]+|\d+)\b")
# a provision list right after another instrument's title: "... Regulations 2023 (S.I. 2023/149), regs. 1(2)"
_EN_AFTER_TITLE = re.compile(
    r"(?:(?:Act|Order|Regulations?)\s+\d{4}(?:\s*\([^()]*\))?|\{?S\.I\.\s+\d{4}/\d+\}?),\s*$"
)
# after the last number of a list under a singular keyword ("Schedule 2 or 3, extends")
_EN_LIST_GOES_ON = re.compile(r"\s*(?:[,.;:)\]]|$|(?:and|or|to|of)\b)")
# "Sch. Pt. 1", "Sch. 4 para. 111(2)" after another instrument's title
_EN_SCHEDULE_ABBREVIATION = re.compile(
    r"\bSch\.(?:\s+(?P<n>\d+))?(?:\s+Pt\.\s+(?P<part>\d+))?(?:\s+para\.\s+(?P<para>\d+))?"
)


def _en_kind(keyword: str) -> str:
    return _EN_KEYWORDS[keyword.lower()]


def _en_item(text: str, pos: int, kind: str) -> tuple[str, list[str], int] | None:
    """A number with its bracketed designations: ``4(2)(a)``."""
    if kind in ("subsec", "para", "subpara", "point") and text.startswith("(", pos):
        match = _EN_DESIG.match(text, pos)
        if match is None:
            return None
        number, pos = match.group("d"), match.end()
    else:
        number_match = _EN_NUMBER.match(text, pos)
        if number_match is None:
            return None
        number, pos = number_match.group(), number_match.end()
        if kind in ("sec", "art", "reg") and not number[0].isdigit():
            return None  # "S.I." is not section I
    designations: list[str] = []
    while (match := _EN_DESIG.match(text, pos)) is not None:
        designations.append(match.group("d"))
        pos = match.end()
    return number, designations, pos


def _en_list(
    text: str, pos: int, kind: str, *, plural: bool = True
) -> tuple[list[tuple[_Item, list[str]]], int] | None:
    """A list or range of items; a number list needs a plural keyword ("sections 4 and 5")."""
    first = _en_item(text, pos, kind)
    if first is None:
        return None
    items = [(_Item(first[0], pos, first[2]), first[1])]
    pos = first[2]
    while (sep := _EN_SEP.match(text, pos)) is not None:
        after = sep.end()
        following = _en_item(text, after, kind)
        if following is None:
            break
        numbered = _EN_NUMBER.match(text, after) is not None
        if kind in ("part", "chp", "sched", "sec", "art", "reg") and not numbered:
            break
        if numbered and not plural and not _EN_LIST_GOES_ON.match(text, following[2]):
            break  # "section 4 and 12 months": the 12 is not a section
        previous, designations = items[-1]
        if sep.group("sep").strip() in ("to", "-", "\u2013") and not designations and not following[1]:
            items[-1] = (
                _Item(previous.value, previous.start, following[2], range_to=following[0]),
                designations,
            )
        else:
            items.append((_Item(following[0], after, following[2]), following[1]))
        pos = following[2]
    return items, pos


def _en_unit_tail(
    text: str, pos: int, titles: re.Pattern[str] | None, unit_titles: UnitTitles
) -> tuple[str | None, str | None, int]:
    """(unit code, unresolved reason, end) after ``of the ... Act 1984``."""
    if (match := _EN_THIS_UNIT.match(text, pos)) is not None:
        return None, None, match.end()
    if titles is not None:
        of = re.compile(r"\s+of\s+").match(text, pos)
        if of is not None and (match := titles.match(text, of.end())) is not None:
            return _unit_code(unit_titles, match.group("title")), None, match.end()
    if (match := _EN_OTHER_UNIT.match(text, pos)) is not None:
        return None, f"{NO_UNIT}: {match.group('title') or match.group('treaty')}", match.end()
    return None, None, pos


def _heading(text: str, start: int, end: int) -> bool:
    """A bare ``Article 1``/``Điều 5.``/``Chương II`` opening its line (after any ``#``) is a heading."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip().lstrip("#").strip():
        return False
    rest = text[end : text.find("\n", end) if "\n" in text[end:] else len(text)]
    stripped = rest.lstrip()
    if not stripped or stripped[0] in ".:":
        return True
    return stripped[0].isupper() and not rest.startswith(("(",))


def _detect_en(text: str, here: str | None, unit_titles: UnitTitles) -> list[Citation]:
    found: list[Citation] = []
    taken: list[tuple[int, int]] = []
    titles = _title_pattern(unit_titles, "en")

    def add(citation: Citation) -> None:
        found.append(citation)
        taken.append((citation.start, citation.end))

    def free(start: int) -> bool:
        return not any(a <= start < b for a, b in taken)

    for match in _EN_ABSOLUTE.finditer(text):
        if not free(match.start()):
            continue
        kind = _en_kind(match.group("kw"))
        keyword = match.group("kw")
        plural = keyword.lower().rstrip(".").endswith("s") and keyword.lower() not in ("s.",)
        parsed = _en_list(text, match.end(), kind, plural=plural)
        if parsed is None:
            continue
        items, end = parsed
        heading_kinds = ("art", "part", "chp", "sec") if keyword == "Section" else ("art", "part", "chp")
        if kind in heading_kinds and _heading(text, match.start(), end) and len(items) == 1:
            continue
        outer: list[str] = []
        if kind == "chp" and (title_part := _EN_TITLE_PART.match(text, end)) is not None:
            outer, end = [_component("title", title_part.group("n"))], title_part.end()
        unit, reason, end = _en_unit_tail(text, end, titles, unit_titles)
        if (kind == "reg" or keyword.lower() in ("art.", "arts.")) and reason is None:
            before = _EN_AFTER_TITLE.search(text, max(0, match.start() - 200), match.start())
            if before is None:
                continue
            reason = f"{NO_UNIT}: the instrument named before"
        children = _EN_CHILDREN.get(kind, ())
        for index, (item, designations) in enumerate(items):
            spans = _items_span(
                [item],
                match.start() if index == 0 else item.start,
                end if index == len(items) - 1 else item.end,
            )
            for start, stop, value in spans:
                components = [*outer, _component(kind, value)]
                components += [
                    _component(children[min(depth, len(children) - 1)], d)
                    for depth, d in enumerate(designations)
                ]
                add(Citation(start, stop, text[start:stop], unit, _join(components), None, reason))

    for match in _EN_SCHEDULE_ABBREVIATION.finditer(text):
        if not free(match.start()) or match.end() - match.start() <= len("Sch."):
            continue
        preceding = text[max(0, match.start() - 200) : match.start()]
        after_unknown = any(
            c.end <= match.start()
            and re.fullmatch(r"\s*,\s*", text[c.end : match.start()]) is not None
            and (c.unresolved or "").startswith(NO_UNIT)
            for c in found
        )
        if not after_unknown and _EN_AFTER_TITLE.search(preceding) is None:
            continue
        components = [_component("sched", match.group("n")) if match.group("n") else "sched"]
        if match.group("part"):
            components.append(_component("part", match.group("part")))
        if match.group("para"):
            components.append(_component("para", match.group("para")))
        add(
            Citation(
                match.start(),
                match.end(),
                match.group(),
                None,
                _join(components),
                None,
                f"{NO_UNIT}: the instrument named before",
            )
        )

    for match in _EN_REL.finditer(text):
        if not free(match.start()):
            continue
        kind = _EN_RELATIVE[match.group("kw").lower()]
        parsed = _en_list(text, match.end(), kind)
        if parsed is None:
            continue
        items, end = parsed
        children = _EN_RELATIVE_CHILDREN[kind]
        for index, (item, designations) in enumerate(items):
            spans = _items_span(
                [item],
                match.start() if index == 0 else item.start,
                end if index == len(items) - 1 else item.end,
            )
            for start, stop, value in spans:
                tail = [_component(kind, value)] + [
                    _component(children[min(depth, len(children) - 1)], d)
                    for depth, d in enumerate(designations)
                    if children
                ]
                add(_relative(text, start, stop, here, kind, tail, below=True))

    for match in _EN_THIS.finditer(text):
        if not free(match.start()):
            continue
        keyword = match.group("kw").lower()
        kind = _EN_KEYWORDS.get(keyword) or _EN_RELATIVE[keyword]
        add(_relative(text, match.start(), match.end(), here, kind, [], below=False))

    if titles is not None:
        for match in titles.finditer(text):
            if free(match.start()) and free(match.end() - 1):
                code = _unit_code(unit_titles, match.group("title"))
                add(Citation(match.start(), match.end(), match.group(), code, None))
    return sorted(found, key=lambda c: (c.start, c.eid or ""))


def _relative(
    text: str, start: int, end: int, here: str | None, kind: str, tail: list[str], *, below: bool
) -> Citation:
    if here is None:
        return Citation(start, end, text[start:end], None, None, None, NO_POSITION)
    prefix = _prefix_below(here, kind) if below else _prefix_through(here, kind)
    if prefix is None or (below and not prefix and kind not in ("part", "chp", "sec", "art")):
        return Citation(start, end, text[start:end], None, None, here, f"{here} is not inside a {kind}")
    return Citation(start, end, text[start:end], None, _join(prefix + tail), here)


# ---------------------------------------------------------------- Vietnamese

_W = r"[^\W\d_]"  # a letter
_VI_LEVELS = ("point", "para", "art")
_VI_KEYWORD = {
    "point": r"[Đđ]iểm",
    "para": r"[Kk]hoản",
    "art": r"[Đđ]iều",
}
_VI_VALUE = {
    "point": rf"[a-zđ](?!{_W})",
    "para": rf"\d+(?!{_W})",
    "art": rf"\d+[a-z]?(?!{_W})",
}
_VI_START = re.compile(
    rf"(?<!{_W})(?:[Cc]ác\s+)?(?P<kw>[Đđ]iểm|[Kk]hoản|[Đđ]iều|Chương|Mục|Phần)\s+"
    rf"(?=[a-zđ](?!{_W})|\d|[IVXLC]+(?!{_W})|này(?!{_W})|thứ\s)"
)
_VI_SEP = re.compile(r"\s*,\s*(?:và\s+|hoặc\s+)?|\s+(?:và|hoặc)\s+|\s+đến\s+|\s*[-\u2013]\s*")
# after an item of a list: more of the list, what qualifies it, or the sentence's end
# ("khoản 2 Điều 10, 20 ngày" does not cite Điều 20)
_VI_LIST_GOES_ON = re.compile(
    rf"\s*(?:[,.;:)\]]|$|(?:và|hoặc|đến|của|tại|[Kk]hoản|[Đđ]iều|[Đđ]iểm|Luật|Bộ|này)(?!{_W}))"
)
_VI_THIS = re.compile(rf"này(?!{_W})")
_VI_JOIN = re.compile(r"\s+(?:của\s+|tại\s+)?")
_VI_THIS_UNIT = re.compile(rf"\s+(?:của\s+)?(?:Bộ\s+)?[Ll]uật\s+này(?!{_W})")
_VI_OTHER_UNIT = re.compile(
    r"\s+(?:của\s+)?(?P<title>(?:Bộ\s+luật|Luật|Nghị\s+định|Hiến\s+pháp)(?:\s+[A-ZĐ][\w]*)+)"
)
_VI_GROUP = {"Chương": "chp", "Mục": "sec", "Phần": "part"}


def _vi_level(text: str, pos: int, level: str) -> tuple[list[_Item] | None, int, int] | None:
    """Parse ``<keyword> a, b và c`` at ``pos``: (items or None for ``này``, start, end)."""
    keyword = re.compile(_VI_KEYWORD[level] + r"\s+").match(text, pos)
    if keyword is None:
        return None
    after = keyword.end()
    if (this := _VI_THIS.match(text, after)) is not None:
        return None, pos, this.end()
    value = re.compile(_VI_VALUE[level])
    first = value.match(text, after)
    if first is None:
        return None
    items = [_Item(first.group(), first.start(), first.end())]
    end = first.end()
    while (sep := _VI_SEP.match(text, end)) is not None:
        cursor = sep.end()
        repeated = re.compile(_VI_KEYWORD[level] + r"\s+").match(text, cursor)
        if repeated is not None:
            cursor = repeated.end()
        following = value.match(text, cursor)
        if following is None or not _VI_LIST_GOES_ON.match(text, following.end()):
            break
        if sep.group().strip() in ("đến", "-", "\u2013"):
            previous = items[-1]
            items[-1] = _Item(previous.value, previous.start, following.end(), following.group())
        else:
            items.append(_Item(following.group(), sep.end(), following.end()))
        end = following.end()
    return items, pos, end


def _detect_vi(text: str, here: str | None, unit_titles: UnitTitles) -> list[Citation]:
    found: list[Citation] = []
    taken_until = -1
    titles = _title_pattern(unit_titles, "vi")
    for match in _VI_START.finditer(text):
        if match.start() < taken_until:
            continue
        keyword = match.group("kw")
        start = match.start("kw")
        if keyword in _VI_GROUP:
            citations = _vi_group(text, start, keyword, here)
        else:
            citations = _vi_chain(text, start, here, titles, unit_titles)
        if citations:
            found.extend(citations)
            taken_until = max(c.end for c in citations)
    if titles is not None:
        for title in titles.finditer(text):
            if not any(c.start <= title.start() < c.end for c in found):
                code = _unit_code(unit_titles, title.group("title"))
                found.append(Citation(title.start(), title.end(), title.group(), code, None))
    return sorted(found, key=lambda c: (c.start, c.eid or ""))


def _vi_group(text: str, start: int, keyword: str, here: str | None) -> list[Citation]:
    kind = _VI_GROUP[keyword]
    after = start + len(keyword)
    rest = re.compile(rf"\s+(?:(?P<this>này)|(?P<n>\d+|[IVXLC]+))(?!{_W})").match(text, after)
    if rest is None:
        return []
    end = rest.end()
    if rest.group("this"):
        return [_relative(text, start, end, here, kind, [], below=False)]
    if _heading(text, start, end):
        return []
    components = [_component(kind, rest.group("n"))]
    if kind == "sec":
        outer = re.compile(rf"\s+(?:của\s+)?Chương\s+(?P<n>\d+|[IVXLC]+)(?!{_W})").match(text, end)
        if outer is not None:
            components.insert(0, _component("chp", outer.group("n")))
            end = outer.end()
    return [Citation(start, end, text[start:end], None, _join(components))]


def _vi_chain(
    text: str,
    start: int,
    here: str | None,
    titles: re.Pattern[str] | None,
    unit_titles: UnitTitles,
) -> list[Citation]:
    levels: list[tuple[str, list[_Item] | None, int, int]] = []
    pos = start
    for level in _VI_LEVELS:  # innermost first: điểm, then khoản, then Điều
        at = pos
        if levels:
            join = _VI_JOIN.match(text, pos)
            if join is None:
                break
            at = join.end()
        parsed = _vi_level(text, at, level)
        if parsed is None:
            continue
        items, level_start, level_end = parsed
        if levels and items is not None and len(items) > 1:
            break  # only the innermost level may be a list
        levels.append((level, items, level_start, level_end))
        pos = level_end
        if items is None:
            break  # "này" closes the chain
    if not levels:
        return []
    end = pos
    only = levels[0][1]
    single_article = len(levels) == 1 and levels[0][0] == "art" and only is not None
    if single_article and only is not None and len(only) == 1 and _heading(text, start, end):
        return []
    unit: str | None = None
    reason: str | None = None
    outermost, outer_items, _, _ = levels[-1]
    if outermost == "art" and outer_items is not None:
        if (this_unit := _VI_THIS_UNIT.match(text, end)) is not None:
            end = this_unit.end()
        else:
            tail_start = _VI_JOIN.match(text, end)
            title = titles.match(text, tail_start.end()) if titles and tail_start else None
            if title is not None:
                unit = _unit_code(unit_titles, title.group("title"))
                end = title.end()
            elif (other := _VI_OTHER_UNIT.match(text, end)) is not None:
                reason = f"{NO_UNIT}: {other.group('title')}"

    # the fixed part: every level but the innermost, outermost first
    fixed: list[str] = []
    fixed_kind = ""
    mode = "absolute"
    for level, items, _, _ in reversed(levels[1:]):
        if items is None:
            mode = "this"
            fixed_kind = level
        else:
            fixed.append(_component(level, items[0].value))
    innermost, inner_items, inner_start, _ = levels[0]
    if inner_items is None:
        return [_relative(text, start, end, here, innermost, [], below=False)]
    if mode == "absolute" and outermost != "art":
        mode = "below"
    out: list[Citation] = []
    for span_start, span_end, value in _items_span(inner_items, inner_start, end):
        tail = [*fixed, _component(innermost, value)]
        span_text = text[span_start:span_end]
        if mode == "this":
            prefix = _prefix_through(here, fixed_kind) if here else None
            if here is None:
                out.append(Citation(span_start, span_end, span_text, None, None, None, NO_POSITION))
            elif prefix is None:
                out.append(
                    Citation(
                        span_start,
                        span_end,
                        span_text,
                        None,
                        None,
                        here,
                        f"{here} is not inside a {fixed_kind}",
                    )
                )
            else:
                out.append(Citation(span_start, span_end, span_text, None, _join(prefix + tail), here))
        elif mode == "below":
            out.append(_relative(text, span_start, span_end, here, levels[-1][0], tail, below=True))
        else:
            out.append(Citation(span_start, span_end, span_text, unit, _join(tail), None, reason))
    return out


def _canonical(eid: str) -> str:
    parts = []
    for part in eid.split("__"):
        kind, _, number = part.rpartition("_")
        if kind in ("part", "chp") and (value := _roman(number.upper())) is not None:
            number = str(value)
        parts.append(f"{kind}_{number}".casefold() if kind else part.casefold())
    return "__".join(parts)


def locate(eid: str, eids: Iterable[str]) -> str | None:
    """The stored eid a detected ``eid`` names, or None when none or several do.

    Stored eids keep the whole path and numbers as printed (``chp_III__art_16__para_1``);
    a citation names what the text says (``art_16__para_1``). They match when
    the stored eid ends with the cited one, Roman chapter and part numbers
    read as arabic and case ignored.
    """
    found = [stored for stored in eids if names(eid, stored)]
    return found[0] if len(found) == 1 else None


def names(eid: str, stored: str) -> bool:
    """Whether the cited ``eid`` names the ``stored`` one (the rule of ``locate``)."""
    target, canonical = _canonical(eid), _canonical(stored)
    return canonical == target or canonical.endswith("__" + target)


def last_components(eid: str) -> tuple[str, ...]:
    """The forms the last component of ``eid`` may take in a stored eid, lower case.

    ``chp_2`` may be stored as printed, ``chp_ii``; a search narrows its
    candidates with these before ``names`` checks the whole path.
    """
    kind, _, number = eid.rsplit("__", 1)[-1].rpartition("_")
    forms = {f"{kind}_{number}".casefold()}
    if kind in ("part", "chp") and number.isdigit() and 0 < int(number) < 40:
        forms.add(f"{kind}_{_to_roman(int(number))}".casefold())
    return tuple(sorted(forms))


def _to_roman(value: int) -> str:
    out = ""
    for amount, letters in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, value = divmod(value, amount)
        out += letters * count
    return out


def locator(eids: Iterable[str]) -> Callable[[str], str | None]:
    """``locate`` against one set of stored eids, indexed once for many cited eids.

    ``locator(eids)(eid) == locate(eid, eids)`` for every eid: each stored eid
    is filed under every whole-component ending of its canonical form.
    """
    index: dict[str, list[str]] = {}
    for stored in eids:
        parts = _canonical(stored).split("__")
        for i in range(len(parts)):
            index.setdefault("__".join(parts[i:]), []).append(stored)

    def find(eid: str) -> str | None:
        found = index.get(_canonical(eid), [])
        return found[0] if len(found) == 1 else None

    return find


def detect(
    text: str,
    *,
    language: str,
    here: str | None = None,
    unit_titles: UnitTitles | None = None,
) -> tuple[Citation, ...]:
    """Every reference in ``text``, in order of position."""
    titles = unit_titles or {}
    if language == "en":
        return tuple(_detect_en(text, here, titles))
    if language == "vi":
        return tuple(_detect_vi(text, here, titles))
    raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
