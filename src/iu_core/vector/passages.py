"""What is embedded for each active piece: its heading path as context, then its text.

A clause's own text ("2. A booking lasts at most four hours") says little
without where it stands, so the embedded text starts with the titles from
the document down to the piece itself:

    Regulation on Shared Laboratory Equipment > Chapter II Booking and use > Article 3 Booking > 2.

    2. A booking lasts at most four hours; ...

Renaming a heading changes the text of the piece and of every piece under
it, hence their content hash, hence their vectors. The hash covers exactly
the embedded text; the model is stored beside it, not hashed into it.
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


def passages_of(tree: Tree) -> list[Passage]:
    """One passage per active piece, in document order."""
    out: list[Passage] = []
    path: list[str] = []
    for depth, piece in tree.walk():
        del path[depth:]
        path.append(_title(piece))
        heading_path = PATH_SEPARATOR.join(path)
        body = piece.text.strip()
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
