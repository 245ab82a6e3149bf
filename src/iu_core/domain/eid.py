"""Legal identifiers of pieces (``eid``), in the Akoma Ntoso naming convention.

A piece's ``eid`` is its parent's ``eid``, ``__``, then the element's short
name and its number as printed, normalised: ``sec_2__subsec_1__para_a``,
``chp_I__art_5``, ``art_10__para_2__point_a``. The root (the document
itself, AKN's ``body``) is ``body`` and is not a prefix: a top-level piece
is ``chp_1``, not ``body__chp_1``.

The element comes from the piece's label as autocut recognises it (so a
rename that changes the label changes the element and number):

- keywords: Part/Phần → ``part``, Chapter/Chương → ``chp``, Section/SEC./§
  and Mục → ``sec``, Article/Điều → ``art``, Clause → ``clause``, Khoản →
  ``para``, Point/Điểm → ``point``; an upper-case Roman ``IV.`` → ``dvs``;
- ``(1)`` / ``1.`` / ``2.1.``: ``subsec`` directly under a ``sec``,
  ``subpara`` under a ``para``, ``point`` or ``subpara``, else ``para``;
- ``(a)`` / ``(A)`` inside a section: ``para`` directly under a ``sec`` or
  ``subsec``, deeper ``subpara``; outside a section ``point``; ``a)`` →
  ``point``;
- Roman ``(ii)`` / ``ii.`` / ``(II)`` → ``subpara``;
- anything else (an unlabelled heading, a paragraph, a label that is no
  numbering) → ``hcontainer_N``, N counting such siblings from 1.

The number keeps its letters and digits as printed (case too), inner dots
(``2.1``) and hyphens; any other character becomes ``-`` and surrounding
brackets and dots are dropped. Two active siblings with the same name: the
first keeps it, the k-th repeat gets ``_k`` (``art_5``, ``art_5_2``). The
result depends only on the active tree's labels, kinds and order, so the
same text gives the same eids on every run, and a piece keeps its eid
through any change that leaves its own and its ancestors' numbering alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

from iu_core.domain.autocut import keyword_kind, label_number
from iu_core.domain.model import Tree

ROOT_EID = "body"

_KEYWORD_ELEMENT = {
    "part": "part",
    "chapter": "chp",
    "article": "art",
    "clause": "clause",
    "point": "point",
}
_VI_PARA = frozenset({"khoản"})
_ROMAN = r"(?:[ivxlcdm]+|[IVXLCDM]+)"
_DIGITS = re.compile(r"^\(?(?P<n>\d{1,4}(?:\.\d{1,4})*)[.)]?\.?$")
_LETTER_PAREN = re.compile(r"^\((?P<n>[a-zA-Zđ])\)$")
_LETTER_CLOSE = re.compile(r"^(?P<n>[a-zA-Zđ])\)$")
_ROMAN_FORM = re.compile(r"^(?:\((?P<p>" + _ROMAN + r")\)|(?P<d>" + _ROMAN + r")\.)$")
_NOT_NAME = re.compile(r"[^\w.-]|_", re.UNICODE)

K = TypeVar("K", bound=Hashable)


def normalise_number(raw: str) -> str:
    """``"(1)"`` -> ``"1"``, ``"2.1."`` -> ``"2.1"``, ``"thứ nhất"`` -> ``"thứ-nhất"``."""
    text = raw.strip().strip("()").rstrip(".)").strip()
    text = _NOT_NAME.sub("-", text)
    return re.sub(r"-{2,}", "-", text).strip("-.")


def element_of(kind: str, label: str, parent: str, in_section: bool) -> tuple[str, str] | None:
    """(short name, number) of a piece, or None for a positional ``hcontainer``.

    ``parent`` is the parent's short name ("" at the top), ``in_section``
    whether a ``sec`` is among the ancestors.
    """
    keyword, number = label_number(label)
    if keyword:
        word = keyword_kind(keyword)
        if keyword in _VI_PARA:
            name = "para"
        elif word == "section":
            name = "sec"
        else:
            name = _KEYWORD_ELEMENT.get(word, "")
        num = normalise_number(number)
        return (name, num) if name and num else None
    text = number
    if kind == "section" and re.fullmatch(r"\d{1,3}[A-Z]{0,2}", text.strip()):
        return "sec", text.strip()  # a UK printed Act's "1 Fraud": a section printed without its keyword
    if kind == "division" and re.fullmatch(r"[IVXLCDM]+\.", text):
        return "dvs", normalise_number(text)
    m = _ROMAN_FORM.match(text)
    roman_kind = kind == "subpoint" or (m is not None and len(m.group("p") or m.group("d") or "") > 1)
    if m and roman_kind:
        return "subpara", normalise_number(text)
    m = _DIGITS.match(text)
    if m and (text.startswith("(") == text.endswith(")")) and (text.startswith("(") or text.endswith(".")):
        if parent == "sec":
            return "subsec", m.group("n")
        return ("subpara" if parent in ("para", "point", "subpara") else "para"), m.group("n")
    m = _LETTER_PAREN.match(text)
    if m:
        if in_section:
            return ("para" if parent in ("sec", "subsec") else "subpara"), m.group("n")
        return "point", m.group("n")
    m = _LETTER_CLOSE.match(text)
    if m:
        return "point", m.group("n")
    return None


def assign(
    root: K,
    children: Callable[[K], Sequence[K]],
    kind_of: Callable[[K], str],
    label_of: Callable[[K], str],
) -> dict[K, str]:
    """The eid of every node reachable from ``root`` through ``children`` (in order)."""
    out: dict[K, str] = {root: ROOT_EID}
    # (node, its eid prefix, its short name, whether a sec is at or above it)
    stack: list[tuple[K, str, str, bool]] = [(root, "", "", False)]
    while stack:
        node, prefix, parent, in_section = stack.pop()
        seen: dict[str, int] = {}
        unnamed = 0
        below: list[tuple[K, str, str, bool]] = []
        for kid in children(node):
            element = element_of(kind_of(kid), label_of(kid), parent, in_section)
            if element is None:
                unnamed += 1
                short, name = "hcontainer", f"hcontainer_{unnamed}"
            else:
                short, name = element[0], f"{element[0]}_{element[1]}"
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name = f"{name}_{seen[name]}"
            eid = f"{prefix}__{name}" if prefix else name
            out[kid] = eid
            below.append((kid, eid, short, in_section or short == "sec"))
        stack.extend(reversed(below))
    return out


def tree_eids(tree: Tree) -> dict[uuid.UUID, str]:
    """The eid of every active piece of ``tree``."""
    return assign(
        tree.root.piece_id,
        lambda pid: [p.piece_id for p in tree.children(pid)],
        lambda pid: tree.pieces[pid].kind,
        lambda pid: tree.pieces[pid].label,
    )


def piece_eids(tree: Tree) -> dict[uuid.UUID, str | None]:
    """The eid of every piece: as stored, or computed where an active piece has none yet.

    A deprecated piece keeps the eid it had when it was withdrawn (None if it
    was withdrawn before eids were stored).
    """
    out: dict[uuid.UUID, str | None] = {pid: p.eid for pid, p in tree.pieces.items()}
    if any(p.eid is None for p in tree.pieces.values() if p.active):
        out.update(tree_eids(tree))
    return out
