"""Word (.docx): paragraphs in body order, automatic numbering written out, heading styles kept.

A paragraph's text is its runs' text (``w:t``; a tab is a space; a soft line
break ``w:br``/``w:cr`` starts a new line; tracked deletions and text boxes are
left out). Automatic numbering (``w:numPr`` on the paragraph or its style) is
not in the run text: it is computed from ``numbering.xml`` as Word prints it,
``lvlText`` such as ``Điều %1.`` or ``(%2)`` with each level's counter in its
format, and put before the text, so ``(a)`` and ``Article 3`` are in the line
that autocut reads. Counters belong to the abstract list (numbers continue
across the list instances that share it) and restart at a ``startOverride``
or when a shallower level of the same list advances.

A paragraph in a heading style (``Heading N``, ``Title``, or an outline
level) whose text carries no legal label becomes a Markdown heading of that
level, so the structure the style gives is kept; a labelled one (``Chapter
II``, ``Điều 5.``) stays as printed, and so does the caption paragraph right
after a bare label. Table cells give one line each. The locator of a line is
the paragraph's number (1-based) among all the body's paragraphs, table cells
included, in document order.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError

from iu_core.domain.autocut import classify_line
from iu_core.domain.sources.result import Extracted, Lines, clean_line, labelled
from iu_core.errors import IuCoreError

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_SKIP = frozenset({W + "del", W + "moveFrom", W + "txbxContent", W + "instrText", W + "delText"})
_HEADING_NAME = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _val(el: Any, path: str) -> str | None:
    found = el.find(path) if el is not None else None
    return None if found is None else found.get(W + "val")


@dataclass(frozen=True, slots=True)
class _Level:
    start: int
    fmt: str
    text: str
    suffix: str  # what follows the number: " " (tab or space) or ""


@dataclass(frozen=True, slots=True)
class _Style:
    based_on: str | None
    heading: int  # 0: not a heading style
    num_id: str | None
    ilvl: int | None


@dataclass(slots=True)
class _Numbering:
    """Word's list numbering: abstract lists, their instances, and the running counters."""

    levels: dict[str, dict[int, _Level]] = field(default_factory=dict)  # abstractNumId -> ilvl -> level
    nums: dict[str, tuple[str, dict[int, int]]] = field(default_factory=dict)  # numId -> (abstract, starts)
    counters: dict[str, dict[int, int]] = field(default_factory=dict)  # abstractNumId -> ilvl -> value
    overridden: set[tuple[str, int]] = field(default_factory=set)  # (numId, ilvl) already restarted

    @classmethod
    def parse(cls, root: Any) -> _Numbering:
        out = cls()
        if root is None:
            return out
        for abstract in root.iterfind(W + "abstractNum"):
            levels: dict[int, _Level] = {}
            for lvl in abstract.iterfind(W + "lvl"):
                suffix = _val(lvl, W + "suff") or "tab"
                levels[int(lvl.get(W + "ilvl", "0"))] = _Level(
                    int(_val(lvl, W + "start") or "1"),
                    _val(lvl, W + "numFmt") or "decimal",
                    _val(lvl, W + "lvlText") or "",
                    "" if suffix == "nothing" else " ",
                )
            out.levels[abstract.get(W + "abstractNumId", "")] = levels
        for num in root.iterfind(W + "num"):
            starts = {
                int(o.get(W + "ilvl", "0")): int(_val(o, W + "startOverride") or "1")
                for o in num.iterfind(W + "lvlOverride")
                if o.find(W + "startOverride") is not None
            }
            out.nums[num.get(W + "numId", "")] = (_val(num, W + "abstractNumId") or "", starts)
        return out

    def label(self, num_id: str, ilvl: int) -> str:
        """Advance the list ``num_id`` at level ``ilvl`` and return the number Word prints."""
        if num_id not in self.nums:
            return ""
        abstract, starts = self.nums[num_id]
        levels = self.levels.get(abstract, {})
        level = levels.get(ilvl)
        if level is None:
            return ""
        counters = self.counters.setdefault(abstract, {})
        if ilvl in starts and (num_id, ilvl) not in self.overridden:
            self.overridden.add((num_id, ilvl))
            counters[ilvl] = starts[ilvl]
        else:
            counters[ilvl] = counters[ilvl] + 1 if ilvl in counters else level.start
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]  # a shallower level advanced: the deeper ones start again
            self.overridden.discard((num_id, deeper))
        if level.fmt in ("bullet", "none"):
            return ""

        def number(match: re.Match[str]) -> str:
            k = int(match.group(1)) - 1
            lv = levels.get(k)
            if lv is None:
                return ""
            return list_number(counters.get(k, lv.start), lv.fmt)

        text = re.sub(r"%([1-9])", number, level.text).strip()
        return text + level.suffix if text else ""


def list_number(value: int, fmt: str) -> str:
    if fmt in ("lowerLetter", "upperLetter"):
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)
        return letter.upper() if fmt == "upperLetter" else letter
    if fmt in ("lowerRoman", "upperRoman"):
        roman = _roman(value)
        return roman.lower() if fmt == "lowerRoman" else roman
    if fmt == "decimalZero":
        return f"{value:02d}"
    return str(value)


def _roman(value: int) -> str:
    out = ""
    for n, s in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                 (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):  # fmt: skip
        while value >= n:
            out, value = out + s, value - n
    return out


def _styles(root: Any) -> dict[str, _Style]:
    out: dict[str, _Style] = {}
    for style in root.iterfind(W + "style"):
        name = (_val(style, W + "name") or "").strip()
        ppr = style.find(W + "pPr")
        heading = 0
        match = _HEADING_NAME.match(name)
        if match:
            heading = int(match.group(1))
        elif name.lower() == "title":
            heading = 1
        elif _val(ppr, W + "outlineLvl") is not None:
            heading = int(_val(ppr, W + "outlineLvl") or "9") + 1
        num_id = _val(ppr, f"{W}numPr/{W}numId")
        ilvl = _val(ppr, f"{W}numPr/{W}ilvl")
        out[style.get(W + "styleId", "")] = _Style(
            _val(style, W + "basedOn"), heading if heading <= 6 else 0, num_id, int(ilvl) if ilvl else None
        )
    return out


def _style_chain(styles: dict[str, _Style], style_id: str | None) -> Iterator[_Style]:
    seen: set[str] = set()
    while style_id and style_id in styles and style_id not in seen:
        seen.add(style_id)
        yield styles[style_id]
        style_id = styles[style_id].based_on


def _paragraphs(el: Any) -> Iterator[Any]:
    """The body's paragraphs in document order: table cells and content controls included."""
    for child in el:
        if child.tag == W + "p":
            yield child
        elif child.tag in (W + "tbl", W + "tr", W + "tc", W + "sdt", W + "sdtContent", W + "customXml"):
            yield from _paragraphs(child)


def _run_text(el: Any, out: list[str]) -> None:
    for child in el:
        tag = child.tag
        if tag in _SKIP:
            continue
        if tag == W + "t":
            out.append(child.text or "")
        elif tag == W + "tab" and el.tag == W + "r":
            out.append(" ")
        elif tag in (W + "br", W + "cr"):
            out.append("\n")
        elif tag == W + "noBreakHyphen":
            out.append("-")
        elif tag != W + "pPr" and len(child):
            _run_text(child, out)


def _open(data: bytes, where: str) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise IuCoreError(f"{where} is not a valid Word document (broken zip archive: {exc})") from exc
    if "word/document.xml" not in names:
        raise IuCoreError(
            f"{where} is a zip archive but not a Word document (no word/document.xml); "
            "save it from Word as .docx, or export it as PDF"
        )
    try:
        return docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise IuCoreError(f"{where} is not a readable Word document: {exc}") from exc
    except Exception as exc:  # lxml's XMLSyntaxError and friends: a damaged part
        raise IuCoreError(f"{where} is a damaged Word document: {exc}") from exc


def extract_docx(data: bytes, where: str) -> Extracted:
    """The text of a Word document, numbering written out, headings kept."""
    document = _open(data, where)
    styles = _styles(document.styles.element)
    try:
        numbering = _Numbering.parse(document.part.numbering_part.element)
    except (NotImplementedError, KeyError, ValueError):  # none, or a broken relationship
        numbering = _Numbering()
    default_style = next(
        (s.get(W + "styleId") for s in document.styles.element.iterfind(W + "style")
         if s.get(W + "type") == "paragraph" and s.get(W + "default") in ("1", "true")),
        None,
    )  # fmt: skip
    lines = Lines("docx")
    count = 0
    bare_label = False  # the previous line was a label without its heading ("Chương I")
    for count, p in enumerate(_paragraphs(document.element.body), start=1):
        ppr = p.find(W + "pPr")
        chain = list(_style_chain(styles, _val(ppr, W + "pStyle") or default_style))
        num_id = _val(ppr, f"{W}numPr/{W}numId")
        ilvl_text = _val(ppr, f"{W}numPr/{W}ilvl")
        ilvl = int(ilvl_text) if ilvl_text else None
        for style in chain:
            num_id = num_id or style.num_id
            ilvl = style.ilvl if ilvl is None else ilvl
        outline = _val(ppr, W + "outlineLvl")
        styled = next((s.heading for s in chain if s.heading), 0)
        heading = int(outline) + 1 if outline is not None else styled
        parts: list[str] = []
        _run_text(p, parts)
        text = "".join(parts)
        # An empty numbered paragraph still takes its number (Word prints it), then gives no line.
        label = numbering.label(num_id, ilvl or 0) if num_id and num_id != "0" else ""
        if not clean_line(text):
            continue
        text = label + text
        first = clean_line(text.split("\n", 1)[0])
        match = classify_line(first)
        if 0 < heading <= 6 and not labelled(first) and not bare_label:
            text = "#" * heading + " " + text
        bare_label = match is not None and not match.heading and match.rank < 50
        lines.add(text, (count,))
    return lines.build(count)
