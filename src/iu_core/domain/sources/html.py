"""HTML: the page's text blocks in document order, without scripts, styles or navigation.

Every block element (``p``, ``div``, ``li``, ``h1``-``h6``, table cells, …)
starts a new line, and so does ``<br>``; inline elements run together with
HTML's whitespace rules (runs of spaces and line breaks are one space). What a
reader does not see as the document is left out: ``script``, ``style``,
``noscript``, ``template``, ``head``, ``nav``, forms' controls, elements that
are ``hidden``, ``aria-hidden`` or ``display:none``, and the page's own
``header``, ``footer`` and ``aside`` (those inside an ``article``, ``main`` or
``section`` stay). An ordered list's items get the number the browser shows
(``1.``, ``a.``, ``iv.``, honouring ``start``, ``type``, ``reversed`` and
``value``); bullets are not text. A number printed in an element of its own
at the start of a block (``<span class="LegP1No">1</span><span>Fraud</span>``)
is followed by a space, as the page shows it. A heading element whose text carries no
legal label becomes a Markdown heading of its level; a labelled one (``<h3>Điều
5. …</h3>``) stays as printed. The locator of a line is the XPath of the block
element it came from (``/html[1]/body[1]/div[2]/p[5]``).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from iu_core.domain.sources.result import Extracted, Lines, labelled
from iu_core.domain.sources.word import list_number
from iu_core.errors import IuCoreError

_SKIP = frozenset(
    {"script", "style", "noscript", "template", "head", "nav", "iframe", "svg", "canvas", "button",
     "select", "textarea", "input", "object", "embed", "audio", "video", "map", "dialog"}
)  # fmt: skip
_CHROME = frozenset({"header", "footer", "aside"})
_CONTENT = frozenset({"article", "main", "section"})
_HIDDEN_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_BLOCKS = frozenset(
    {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "tr", "table", "tbody", "thead",
     "tfoot", "caption", "ul", "ol", "dl", "dt", "dd", "blockquote", "pre", "section", "article", "main",
     "figure", "figcaption", "address", "center", "hr", "fieldset", "legend", "details", "summary",
     "header", "footer", "aside", "form", "body", "html"}
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_WHITESPACE = re.compile(r"[ \t\n\r\f]+")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# A block that opens with its number in an element of its own, the text in the next one
# (legislation.gov.uk: <span class="LegP1No">1</span><span>Fraud</span>): the page shows a
# gap there (by CSS), so the text gets a space: "1 Fraud", "(a) dishonestly", "Điều 5. Phạm vi".
_LABEL_ELEMENT = re.compile(
    r"\(?\d{1,4}[A-Z]{0,2}[.)]{0,2}|\([A-Za-zđ]{1,5}\)|[a-zđ]\)|[ivxIVX]{1,5}\."
    r"|(?:Điều|Article|Section|Chương|Chapter|Part|Phần|Mục|Regulation|Rule|Schedule)\s+[0-9IVXLC]+[A-Z]?[.:]?"
)
_CLOSERS = ".,;:)]\u201d\u2019"
_OL_FORMATS = {"1": "decimal", "a": "lowerLetter", "A": "upperLetter", "i": "lowerRoman", "I": "upperRoman"}


def decode_html(data: bytes, where: str) -> str:
    """The page's text: a byte-order mark, then a declared ``<meta charset>``, else UTF-8."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    declared = _CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IuCoreError(
            f"{where} is not UTF-8 and declares no charset (invalid byte at offset {exc.start}); "
            "add <meta charset=...> or save it as UTF-8"
        ) from exc


def _hidden(attrs: dict[str, Any]) -> bool:
    return (
        "hidden" in attrs
        or str(attrs.get("aria-hidden") or "").lower() == "true"
        or str(attrs.get("role") or "").lower() in _HIDDEN_ROLES
        or bool(_DISPLAY_NONE.search(str(attrs.get("style") or "")))
    )


@dataclass(slots=True)
class _Walker:
    lines: Lines
    buffer: list[str] = field(default_factory=list)
    path: str = ""
    blocks: int = 0
    after_label: bool = False  # the block opened with a number in its own element

    def flush(self) -> None:
        self.after_label = False
        text = "".join(self.buffer)
        if "  " in text or "\n" in text or "\t" in text or "\r" in text or "\f" in text:
            text = _WHITESPACE.sub(" ", text)
        text = text.strip()
        self.buffer.clear()
        if text:
            self.lines.add(text, (self.path,))
            self.blocks += 1

    def heading(self, level: int, node: Any, path: str) -> None:
        """A heading's whole text is one line; unlabelled, it becomes a Markdown heading."""
        self.flush()
        inner = _Walker(Lines("html"), path=path)
        inner.walk_children(node, path, content=True)
        inner.flush()
        for i, line in enumerate(inner.lines.texts):
            self.lines.add(line if i or labelled(line) else "#" * level + " " + line, (path,))
        self.blocks += 1

    def walk_children(self, node: Any, path: str, *, content: bool) -> None:
        counts: dict[str, int] = {}
        number: int | None = None
        ol = node.tag == "ol"
        if ol:
            items = [c for c in node.iter() if c.tag == "li"]
            attrs = node.attributes
            reverse = "reversed" in attrs
            start = str(attrs.get("start") or "").strip()
            number = int(start) if start.lstrip("-").isdigit() else (len(items) if reverse else 1)
            fmt = _OL_FORMATS.get(str(attrs.get("type") or "1").strip(), "decimal")
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                if self.path != path and not self.buffer:
                    self.path = path
                text = child.text_content or ""
                if self.after_label and text:
                    if not text[0].isspace() and text[0] not in _CLOSERS:
                        text = " " + text
                    self.after_label = False
                self.buffer.append(text)
                continue
            if tag.startswith("-"):  # comments, doctype
                continue
            counts[tag] = counts.get(tag, 0) + 1
            child_path = f"{path}/{tag}[{counts[tag]}]"
            if tag in _SKIP or _hidden(child.attributes) or (tag in _CHROME and not content):
                continue
            if tag == "br":
                self.flush()
                continue
            if tag in _HEADINGS:
                self.heading(_HEADINGS[tag], child, child_path)
                continue
            if tag not in _BLOCKS:
                before = len(self.buffer)
                opening = not "".join(self.buffer).strip()
                self.walk_children(child, path, content=content)
                if opening and _LABEL_ELEMENT.fullmatch("".join(self.buffer[before:]).strip()):
                    self.after_label = True
                continue
            self.flush()
            self.path = child_path
            if ol and tag == "li" and number is not None:
                value = str(child.attributes.get("value") or "").strip()
                number = int(value) if value.lstrip("-").isdigit() else number
                self.buffer.append(list_number(number, fmt) + ". ")
                number += -1 if reverse else 1
            self.walk_children(child, child_path, content=content or tag in _CONTENT)
            self.flush()
            self.path = path


def extract_html(data: bytes, where: str) -> Extracted:
    """The visible text of an HTML page, one line per block."""
    parser = LexborHTMLParser(decode_html(data, where))
    root = parser.root
    if root is None:
        raise IuCoreError(f"{where} has no HTML content")
    walker = _Walker(Lines("html"), path="/html[1]")
    walker.walk_children(root, "/html[1]", content=False)
    walker.flush()
    return walker.lines.build(walker.blocks)
