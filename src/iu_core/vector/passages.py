"""What is embedded for each active piece: its heading path as context, then its text.

A clause's own text ("2. A booking lasts at most four hours") says little
without where it stands, so the embedded text starts with the titles from
the document down to the piece itself:

    Regulation on Shared Laboratory Equipment > Chapter II Booking and use > Article 3 Booking > 2.

    2. A booking lasts at most four hours; ...

Renaming a heading changes the text of the piece and of every piece under
it, hence their content hash, hence their vectors. The hash covers exactly
the embedded text; the model is stored beside it, not hashed into it.

A piece that is only a heading over other pieces (the document's root, "PART
I GENERAL", a bare "Article I" whose clauses carry the text) gets no passage
of its own: it would match every question about its subject with no text to
answer it, and its heading travels in each child's heading path anyway. A
heading-only piece with nothing under it keeps its passage (its heading is all
it says).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from iu_core.domain.model import Piece, Tree
from iu_core.vector.language import Language, detect_language

__all__ = ["PATH_SEPARATOR", "Passage", "passages_of"]

PATH_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Passage:
    """One active piece as the index sees it."""

    piece_id: uuid.UUID
    iu_id: uuid.UUID
    heading_path: str
    text: str  # the embedded text: heading path, blank line, the piece's text
    language: Language
    content_hash: str


def _title(piece: Piece) -> str:
    return " ".join(p for p in (piece.label, piece.heading) if p) or piece.kind


def _heading_only(piece: Piece, body: str) -> bool:
    """True when the text is no more than the label and heading (``## Chapter II. Booking``)."""
    rest = body
    for part in (piece.label, piece.heading):
        if part:
            rest = rest.replace(part, " ", 1)
    return not any(char.isalnum() for char in rest)


def passages_of(tree: Tree) -> list[Passage]:
    """One passage per active piece that says something of its own, in document order."""
    out: list[Passage] = []
    path: list[str] = []
    for depth, piece in tree.walk():
        del path[depth:]
        path.append(_title(piece))
        heading_path = PATH_SEPARATOR.join(path)
        body = piece.text.strip()
        if _heading_only(piece, body) and tree.children(piece.piece_id):
            continue  # a heading over other pieces: it is in their heading paths
        text = f"{heading_path}\n\n{body}" if body else heading_path
        out.append(
            Passage(
                piece_id=piece.piece_id,
                iu_id=piece.iu_id,
                heading_path=heading_path,
                text=text,
                language=detect_language(text),
                content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    return out
