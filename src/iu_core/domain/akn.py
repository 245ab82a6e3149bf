"""Akoma Ntoso 3.0 out (and back in): an information unit's active tree as an ``act``.

API::

    to_akn(unit, tree, *, as_of=None) -> bytes     # the XML document, UTF-8, with declaration
    is_akn(text) -> bool                            # an Akoma Ntoso document (by its root)
    akn_text(xml) -> str                            # the text autocut cuts into the same tree

The document is ``akomaNtoso/act`` with ``meta/identification`` (the FRBR
work, expression and manifestation, named from the unit's code, dates and
language), ``preface/longTitle`` (the unit's title), ``preamble`` (the root
piece's own text, when it has any) and ``body``. Every active piece is one
hierarchy element named after its eid's short name (``chp`` → ``chapter``,
``art`` → ``article``, ``para`` → ``paragraph``, …; an ``hcontainer`` names
the piece's kind), with ``eId`` (the eid), ``GUID`` (the piece id),
``num`` (the label), ``heading`` (the heading of a part, chapter, section,
article or unlabelled heading) and the piece's own lines as ``p``:
``content/p`` for a piece without sub-pieces, ``intro/p`` before them
otherwise. For a clause or a point the line after its number is its text, so
it is the first ``p`` and there is no ``heading``.

``akn_text`` reads such a document back into plain text: per element its
number and heading on one line (``Article 5. Scope``, ``(a) text``,
Markdown ``#`` for an unlabelled heading), then its lines. Ingesting that
text gives a tree with the same kinds, labels, headings, order and eids as
the exported one, for any tree autocut made.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from lxml import etree

from iu_core.domain.autocut import label_number
from iu_core.domain.eid import piece_eids
from iu_core.domain.model import Piece, Tree, Unit

AKN_NS = "http://docs.oasis-open.org/legaldocml/ns/akn/3.0"
_N = "{" + AKN_NS + "}"

# eid short name -> Akoma Ntoso hierarchy element
ELEMENTS = {
    "part": "part",
    "chp": "chapter",
    "sec": "section",
    "dvs": "division",
    "art": "article",
    "clause": "clause",
    "subsec": "subsection",
    "para": "paragraph",
    "subpara": "subparagraph",
    "point": "point",
    "hcontainer": "hcontainer",
}
_VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
# Characters XML 1.0 cannot carry (a piece's text may hold them; they are left out).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _short(eid: str) -> str:
    return eid.rsplit("__", 1)[-1].split("_", 1)[0]


def _lines(text: str) -> list[str]:
    return [_NOT_XML.sub("", line.strip()) for line in text.splitlines() if line.strip()]


def _body_lines(piece: Piece) -> list[str]:
    """The piece's own lines after its label line (a caption line taken as heading too)."""
    lines = _lines(piece.text)
    if piece.parent_piece_id is None:
        return lines
    if lines and (piece.label or piece.kind == "heading"):
        lines = lines[1:]
        if lines and piece.heading and lines[0] == piece.heading.strip():
            lines = lines[1:]  # "Chương I" / "NHỮNG QUY ĐỊNH CHUNG": the caption is the heading
    return lines


def _language(tree: Tree) -> str:
    sample = "".join(p.text for _, p in tree.walk())[:20000]
    return "vie" if len(_VIETNAMESE.findall(sample)) > len(sample) // 200 else "eng"


def _sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, _N + tag, {k.rstrip("_"): v for k, v in attrs.items()})
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    return element


def _identification(meta: Any, unit: Unit, language: str, as_of: dt.datetime | None) -> None:
    country = "vn" if language == "vie" else "xx"
    created = unit.created_at.date().isoformat()
    version = (as_of or unit.updated_at).astimezone(dt.UTC).date().isoformat()
    work = f"/akn/{country}/act/{created}/{unit.code}"
    expression = f"{work}/{language}@{version}"
    ident = _sub(meta, "identification", source="#iu-core")
    frbr = _sub(ident, "FRBRWork")
    _sub(frbr, "FRBRthis", value=f"{work}/!main")
    _sub(frbr, "FRBRuri", value=work)
    _sub(frbr, "FRBRalias", value=unit.title, name="title")
    _sub(frbr, "FRBRdate", date=created, name="created")
    _sub(frbr, "FRBRauthor", href="#iu-core")
    _sub(frbr, "FRBRcountry", value=country)
    _sub(frbr, "FRBRnumber", value=unit.code)
    frbr = _sub(ident, "FRBRExpression")
    _sub(frbr, "FRBRthis", value=f"{expression}/!main")
    _sub(frbr, "FRBRuri", value=expression)
    _sub(frbr, "FRBRdate", date=version, name="version")
    _sub(frbr, "FRBRauthor", href="#iu-core")
    _sub(frbr, "FRBRlanguage", language=language)
    frbr = _sub(ident, "FRBRManifestation")
    _sub(frbr, "FRBRthis", value=f"{expression}/!main.xml")
    _sub(frbr, "FRBRuri", value=f"{expression}.akn")
    _sub(frbr, "FRBRdate", date=dt.datetime.now(dt.UTC).date().isoformat(), name="generation")
    _sub(frbr, "FRBRauthor", href="#iu-core")
    references = _sub(meta, "references", source="#iu-core")
    _sub(
        references, "TLCOrganization", eId="iu-core", href="/ontology/organization/iu-core", showAs="IU Core"
    )


def to_akn(unit: Unit, tree: Tree, *, as_of: dt.datetime | None = None) -> bytes:
    """The active tree of ``unit`` as an Akoma Ntoso 3.0 ``act`` document."""
    eids = piece_eids(tree)
    language = _language(tree)
    root = etree.Element(_N + "akomaNtoso", nsmap={None: AKN_NS})
    act = _sub(root, "act", name=unit.code)
    _identification(_sub(act, "meta"), unit, language, as_of)
    preface = _sub(act, "preface")
    _sub(_sub(preface, "longTitle"), "p", unit.title)
    own = _body_lines(tree.root)
    if own:
        preamble = _sub(act, "preamble")
        for line in own:
            _sub(preamble, "p", line)
    body = _sub(act, "body")

    def add(parent: Any, piece: Piece) -> None:
        eid = eids.get(piece.piece_id) or ""
        element_name = ELEMENTS.get(_short(eid), "hcontainer")
        attrs = {"eId": eid, "GUID": f"urn:uuid:{piece.piece_id}"}
        if element_name == "hcontainer":
            attrs["name"] = piece.kind
        element = _sub(parent, element_name, **attrs)
        if piece.label:
            _sub(element, "num", piece.label)
        lines = _body_lines(piece)
        if piece.label and not _keyword(piece.label):
            lines = [piece.heading, *lines]  # an enumerator's text follows its number: the first p
        elif piece.heading:
            _sub(element, "heading", piece.heading)
        kids = tree.children(piece.piece_id)
        if kids:
            if lines:
                intro = _sub(element, "intro")
                for line in lines:
                    _sub(intro, "p", line)
            for kid in kids:
                add(element, kid)
        else:
            content = _sub(element, "content")
            for line in lines or [""]:
                _sub(content, "p", line)

    kids = tree.children(tree.root.piece_id)
    if not kids:
        _sub(_sub(body, "hcontainer", name="empty"), "content")
    for kid in kids:
        add(body, kid)
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document


def is_akn(text: str) -> bool:
    """True for an Akoma Ntoso XML document (its root element in the standard's namespace)."""
    head = text.lstrip()[:2000]
    return head.startswith("<") and "akomaNtoso" in head and AKN_NS in head


def akn_text(xml: str) -> str:
    """The text of an Akoma Ntoso ``act`` that autocut cuts into the exported tree."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    act = root.find(_N + "act")
    if root.tag != _N + "akomaNtoso" or act is None:
        raise ValueError("not an Akoma Ntoso act (akomaNtoso/act)")
    out: list[str] = []
    preamble = act.find(_N + "preamble")
    if preamble is not None:
        out += [p.text or "" for p in preamble.iter(_N + "p")]
    body = act.find(_N + "body")
    if body is None:
        raise ValueError("the Akoma Ntoso act has no body")

    hierarchy = {_N + name for name in ELEMENTS.values()}

    def visit(element: Any, level: int) -> None:
        num = element.findtext(_N + "num")
        heading = element.findtext(_N + "heading")
        own: list[str] = []
        for part in (_N + "intro", _N + "content"):
            block = element.find(part)
            if block is not None:
                own += [p.text or "" for p in block.iter(_N + "p")]
        if num and not _keyword(num):
            first, own = (f"{num} {own[0]}".rstrip() if own else num), own[1:]
            out.append(first)
        elif num:
            out.append(f"{num}. {heading}" if heading else num)
        elif heading is not None:
            out.append(f"{'#' * min(level, 6)} {heading}")
            level += 1
        out.extend(line for line in own if line.strip())
        for child in element:
            if child.tag in hierarchy:
                visit(child, level)

    for child in body:
        visit(child, 1)
    return "\n".join(out) + "\n"


def _keyword(label: str) -> bool:
    """A label with a keyword ("Article 5", "Điều 5", "§ 3"), not an enumerator ("(a)", "1.", "IV.")."""
    return label_number(label)[0] != ""
