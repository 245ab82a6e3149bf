"""Which piece of the current tree each piece of a new cut is (re-ingest), by label and by text.

``match(old, new) -> dict[path, Piece]`` pairs new nodes (by their path) with
current pieces. The rule:

1. A new node and the current piece at the same path (the same labels from
   the root) are the same provision — unless the text changed beyond
   recognition (similarity below ``RECOGNISED``).
2. A piece that has no such match (its path is gone, or its text is beyond
   recognition at its path) follows its text: it is paired with the new
   node whose text matches its own (similarity at least ``MATCHES``; an
   identical text first, then the most similar), among the nodes without a
   recognised match of their own. The piece is then moved there, not
   rewritten.
3. A pair of rule 1 whose text is beyond recognition, where neither side
   found its text elsewhere, stays a pair: the provision was rewritten in
   place (an amendment).

Everything else is new (created) or gone (deprecated). Similarity is
difflib's ratio of the texts with the label at their start removed and
whitespace collapsed, so "(b) beta" and "(b) gamma" are compared as "beta"
and "gamma".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

from iu_core.domain.model import Piece

RECOGNISED = 0.5  # below: the text changed beyond recognition
MATCHES = 0.8  # at least: another text is this one (moved, perhaps lightly edited)
_FUZZY_LIMIT = 300  # above this many unsettled pieces on a side, only identical texts are followed

P = TypeVar("P")


def comparable(text: str, label: str) -> str:
    """The text as compared: without its leading label, whitespace collapsed."""
    body = text.strip()
    if label and body.startswith(label):
        body = body[len(label) :]
    return re.sub(r"\s+", " ", body).strip(" .:-")


def similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < MATCHES and matcher.quick_ratio() < RECOGNISED:
        return matcher.quick_ratio()
    return matcher.ratio()


def match(
    old: Mapping[P, Piece],
    new: Sequence[tuple[P, str]],
) -> tuple[dict[P, Piece], set[P]]:
    """(new path -> current piece, the paths whose piece followed its text from elsewhere).

    ``old``: path -> active piece of the current tree; ``new``: (path, comparable
    text) of every node of the new cut, in document order. The root path
    (the first of ``new``) always pairs with the root.
    """
    texts = dict(new)
    old_text = {path: comparable(p.text, p.label) for path, p in old.items()}
    pairs: dict[P, Piece] = {}
    suspect: dict[P, Piece] = {}
    for index, (path, text) in enumerate(new):
        piece = old.get(path)
        if piece is None:
            continue
        if index == 0 or similarity(old_text[path], text) >= RECOGNISED:
            pairs[path] = piece
        else:
            suspect[path] = piece
    taken = {p.piece_id for p in pairs.values()}
    loose_old = [(path, p) for path, p in old.items() if p.piece_id not in taken]
    open_new = [path for path, _ in new if path not in pairs]
    followed: set[P] = set()
    claimed: set[P] = set()
    by_text: dict[str, list[P]] = {}
    for path in open_new:
        by_text.setdefault(texts[path], []).append(path)
    fuzzy = len(loose_old) <= _FUZZY_LIMIT and len(open_new) <= _FUZZY_LIMIT
    for old_path, piece in loose_old:
        mine = old_text[old_path]
        if not mine:
            continue  # an empty text matches nothing in particular
        candidates = [p for p in by_text.get(mine, []) if p not in claimed]
        target = candidates[0] if candidates else None
        if target is None and fuzzy:
            best = 0.0
            for path in open_new:
                if path in claimed or path == old_path:
                    continue
                score = similarity(mine, texts[path])
                if score >= MATCHES and score > best:
                    target, best = path, score
        if target is None or target == old_path:
            continue
        pairs[target] = piece
        claimed.add(target)
        followed.add(target)
    # Rule 3: a rewritten provision stays itself when nothing else took either side.
    moved_ids = {pairs[p].piece_id for p in followed}
    for path, piece in suspect.items():
        if path not in pairs and piece.piece_id not in moved_ids:
            pairs[path] = piece
    return pairs, followed
