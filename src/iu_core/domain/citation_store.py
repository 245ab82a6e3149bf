"""Stored citations: detected in every active piece, resolved, kept current, and their impacts.

API::

    refresh(conn, iu_id, *, operation_id, operation_type, touched, deprecated,
            eids, title_changed) -> tuple[uuid.UUID, ...]   # the impact events written
    detect_unit(conn, iu_id) -> list[Row]       # a fresh detection, nothing written
    stored(conn, iu_ids=None) -> list[Row]      # what iu_citation holds
    language_of(text) -> "en" | "vi"

``refresh`` runs inside the transaction of every ingest, re-ingest and
structure operation (``operation_core.finish``), one refresh at a time (an
advisory lock): the changed unit's pieces whose text or eid the operation
changed (every piece after an ingest) are detected again, their ``here``
being their current eid, and the citations of its other pieces and of other
units that point at it are resolved again against its current eids (when the
unit is new or its title changed, the pieces of other units that name that
title are detected again instead). Then one
``iu_citation_impacted`` event is written per citing piece whose cited
provision the operation deprecated, moved, split, merged or renumbered, or
whose citation became unresolved.

A reference resolves when the unit it names is held (``None``: the citing
unit; a title of ``information_unit``) and ``citations.locate`` finds exactly
one active piece of that unit for the eid it names. Otherwise ``unresolved``
says ``no such unit`` or ``no such provision``.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.domain import store
from iu_core.domain.citations import NO_UNIT, can_name_a_unit, detect, locator
from iu_core.domain.model import IU_CITATION_IMPACTED
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]

NO_SUCH_PROVISION = "no such provision"
NO_SUCH_UNIT = "no such unit"

# Letters only Vietnamese writes (lower case): a unit whose text has them is read as Vietnamese.
_VI_LETTERS = frozenset("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def _q(name: str) -> str:
    return queries("citations")[name]


def _all(conn: Conn, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_q(name), params or {})
        return cur.fetchall()


# What a short title leaves out of a unit's title: a trailing number (" số 24/2018/QH14")
# or a chapter or date in brackets (" (c. 35)").
_TITLE_TAIL = re.compile(r"(?:\s+số\s+\S+|\s*\([^()]*\))\s*$")


def short_title(title: str) -> str | None:
    """The title without its trailing number or bracket (None: nothing to leave out)."""
    short = _TITLE_TAIL.sub("", title.strip()).strip()
    return short if short and short != title.strip() and len(short.split()) >= 2 else None


def names(title: str) -> str | tuple[str, ...]:
    """The names a reference may give a unit: its title, and its short title when it has one."""
    short = short_title(title)
    return title if short is None else (title, short)


def language_of(text: str) -> str:
    """``"vi"`` when the text has letters only Vietnamese writes (at least 3), else ``"en"``."""
    count = sum(1 for ch in text.casefold() if ch in _VI_LETTERS)
    return "vi" if count >= 3 else "en"


@dataclass(frozen=True, slots=True)
class Row:
    """One citation as stored (``citation_id`` None before it is written)."""

    iu_id: uuid.UUID
    piece_id: uuid.UUID
    seq: int
    span_start: int
    span_end: int
    matched_text: str
    cited_eid: str | None
    to_iu_id: uuid.UUID | None
    to_piece_id: uuid.UUID | None
    to_eid: str | None
    unresolved: str | None
    unresolved_detail: str | None
    citation_id: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Row:
        return cls(**{name: row[name] for name in cls.__slots__})

    def content(self) -> tuple[Any, ...]:
        """Everything but the row id: what a fresh detection must equal."""
        return tuple(getattr(self, name) for name in self.__slots__ if name != "citation_id")

    @property
    def span_key(self) -> tuple[uuid.UUID, int, int, str]:
        return (self.piece_id, self.span_start, self.span_end, self.matched_text)


class _Resolver:
    """The held units (titles, ids) and their active eids, read once per refresh."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        units = _all(conn, "held_units")
        self.code_to_id: dict[str, uuid.UUID] = {u["code"]: u["iu_id"] for u in units}
        self.id_to_code: dict[uuid.UUID, str] = {u["iu_id"]: u["code"] for u in units}
        self.titles: dict[str, str] = {u["code"]: u["title"] for u in units if u["title"].strip()}
        self.names: dict[str, str | tuple[str, ...]] = {code: names(t) for code, t in self.titles.items()}
        self._eids: dict[uuid.UUID, dict[str, uuid.UUID]] = {}
        self._titles_for: dict[uuid.UUID, dict[str, str | tuple[str, ...]]] = {}
        self._locators: dict[uuid.UUID, Callable[[str], str | None]] = {}

    @staticmethod
    def active(conn: Conn, iu_id: uuid.UUID) -> dict[str, uuid.UUID]:
        """eid -> piece of the unit's active pieces."""
        return {r["eid"]: r["piece_id"] for r in _all(conn, "active_eids", {"iu_id": iu_id})}

    def eids(self, iu_id: uuid.UUID) -> dict[str, uuid.UUID]:
        if iu_id not in self._eids:
            self._eids[iu_id] = self.active(self.conn, iu_id)
        return self._eids[iu_id]

    def titles_for(self, iu_id: uuid.UUID) -> dict[str, str | tuple[str, ...]]:
        """The titles of the other units: what a piece of ``iu_id`` may name.

        A unit's own title in its text (a running header, its name in its
        first lines) is the unit speaking of itself, not a citation.
        """
        if iu_id not in self._titles_for:
            own = self.id_to_code.get(iu_id)
            self._titles_for[iu_id] = {code: n for code, n in self.names.items() if code != own}
        return self._titles_for[iu_id]

    def target(self, iu_id: uuid.UUID, eid: str | None) -> tuple[uuid.UUID | None, str | None, str | None]:
        """(piece, stored eid, reason) of a cited eid in a held unit."""
        if eid is None:
            return None, None, None
        eids = self.eids(iu_id)
        if iu_id not in self._locators:
            self._locators[iu_id] = locator(eids)
        found = self._locators[iu_id](eid)
        if found is None:
            return None, None, NO_SUCH_PROVISION
        return eids[found], found, None


def _detect_piece(
    resolver: _Resolver, iu_id: uuid.UUID, piece_id: uuid.UUID, eid: str | None, text: str, language: str
) -> list[Row]:
    rows: list[Row] = []
    found = detect(text, language=language, here=eid, unit_titles=resolver.titles_for(iu_id))
    for seq, c in enumerate(found):
        to_iu: uuid.UUID | None = iu_id if c.unit is None else resolver.code_to_id.get(c.unit)
        detail = c.unresolved
        if detail is not None:
            why = NO_SUCH_UNIT if detail.startswith(NO_UNIT) else NO_SUCH_PROVISION
            if why == NO_SUCH_UNIT:
                to_iu = None
            rows.append(
                Row(iu_id, piece_id, seq, c.start, c.end, c.text, c.eid, to_iu, None, None, why, detail)
            )
            continue
        assert to_iu is not None  # detect names only held units
        to_piece, to_eid, reason = resolver.target(to_iu, c.eid)
        rows.append(
            Row(iu_id, piece_id, seq, c.start, c.end, c.text, c.eid, to_iu, to_piece, to_eid, reason, None)
        )
    return rows


def _languages(conn: Conn, iu_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = _all(conn, "unit_bodies", {"iu_ids": list(set(iu_ids))})
    return {r["iu_id"]: language_of(r["head"]) for r in rows}


def _detect_pieces(conn: Conn, resolver: _Resolver, pieces: Sequence[Mapping[str, Any]]) -> list[Row]:
    languages = _languages(conn, (p["iu_id"] for p in pieces))
    out: list[Row] = []
    for p in pieces:
        out += _detect_piece(resolver, p["iu_id"], p["piece_id"], p["eid"], p["text"], languages[p["iu_id"]])
    return out


def detect_unit(conn: Conn, iu_id: uuid.UUID) -> list[Row]:
    """A fresh detection over the unit's active pieces, as ``refresh`` stores it (nothing written)."""
    resolver = _Resolver(conn)
    return _detect_pieces(conn, resolver, _all(conn, "active_pieces", {"iu_ids": [iu_id]}))


def stored(conn: Conn, iu_ids: Sequence[uuid.UUID] | None = None) -> list[Row]:
    """The stored citations of some units' pieces (all units when None)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM iu_citation WHERE %(all)s OR iu_id = ANY(%(ids)s::uuid[]) ORDER BY piece_id, seq",
            {"all": iu_ids is None, "ids": list(iu_ids or [])},
        )
        return [Row.from_row(r) for r in cur.fetchall()]


def _insert(conn: Conn, rows: Sequence[Row]) -> None:
    if not rows:
        return
    columns = {
        "iu_ids": "iu_id",
        "piece_ids": "piece_id",
        "seqs": "seq",
        "starts": "span_start",
        "ends": "span_end",
        "texts": "matched_text",
        "cited_eids": "cited_eid",
        "to_iu_ids": "to_iu_id",
        "to_piece_ids": "to_piece_id",
        "to_eids": "to_eid",
        "unresolved": "unresolved",
        "details": "unresolved_detail",
    }
    params = {key: [getattr(r, name) for r in rows] for key, name in columns.items()}
    with conn.cursor() as cur:
        cur.execute(_q("insert_citations"), params)


def title_pattern(title: str) -> str:
    """A PostgreSQL regular expression matching ``title`` with any white space between its words."""
    words = title.split()
    return r"\s+".join("".join(ch if ch.isalnum() else "\\" + ch for ch in word) for word in words)


def _resolve_again(conn: Conn, resolver: _Resolver, iu_id: uuid.UUID, rows: Sequence[Row]) -> list[Row]:
    """The rows with their citations of ``iu_id`` resolved against its current eids (changes written)."""
    out: list[Row] = []
    changed: list[Row] = []
    for row in rows:
        if row.to_iu_id != iu_id or row.unresolved_detail is not None:
            out.append(row)  # another unit's provision, or a reference the text itself leaves open
            continue
        to_piece, to_eid, reason = resolver.target(iu_id, row.cited_eid)
        new = replace(row, to_piece_id=to_piece, to_eid=to_eid, unresolved=reason)
        out.append(new)
        if new != row:
            changed.append(new)
    if changed:
        with conn.cursor() as cur:
            cur.execute(
                _q("resolve_citations"),
                {
                    "ids": [r.citation_id for r in changed],
                    "to_piece_ids": [r.to_piece_id for r in changed],
                    "to_eids": [r.to_eid for r in changed],
                    "unresolved": [r.unresolved for r in changed],
                    "details": [r.unresolved_detail for r in changed],
                },
            )
    return out


def refresh(
    conn: Conn,
    iu_id: uuid.UUID,
    *,
    operation_id: uuid.UUID,
    operation_type: str,
    touched: Sequence[uuid.UUID],
    deprecated: Sequence[uuid.UUID],
    eids: Mapping[uuid.UUID, str | None],
    title_changed: bool,
) -> tuple[uuid.UUID, ...]:
    """Bring the stored citations up to date after an operation on ``iu_id``; write the impacts."""
    with conn.cursor() as cur:
        cur.execute(_q("lock_citations"))
    resolver = _Resolver(conn)
    before = [Row.from_row(r) for r in _all(conn, "citations_touching", {"iu_id": iu_id})]

    # 1. The changed unit's own pieces: those whose text or eid may have changed
    #    (all of them after an ingest: its language may have changed too) are
    #    detected again; the citations of the others are resolved again.
    if operation_type in ("autocut", "reingest"):
        redo = None
        with conn.cursor() as cur:
            cur.execute(_q("delete_citations_of_unit"), {"iu_id": iu_id})
        after = _detect_pieces(conn, resolver, _all(conn, "active_pieces", {"iu_ids": [iu_id]}))
    else:
        redo = set(touched)
        with conn.cursor() as cur:
            cur.execute(_q("delete_citations_of_pieces"), {"ids": list(redo)})
        after = _detect_pieces(conn, resolver, _all(conn, "pieces_by_id", {"ids": list(redo)}))
    _insert(conn, after)

    # 2. Other units: detected again where they may name the unit's (new) title,
    #    else their citations of the unit resolved again.
    pointing = {r.piece_id for r in before if r.iu_id != iu_id}
    title = next((t for code, t in resolver.titles.items() if resolver.code_to_id[code] == iu_id), "")
    title = short_title(title) or title  # a piece naming the title names its short title too
    again: list[Row] = [r for r in before if r.iu_id == iu_id and redo is not None and r.piece_id not in redo]
    if title_changed:
        if can_name_a_unit(title):
            naming = _all(conn, "pieces_naming", {"iu_id": iu_id, "pattern": title_pattern(title)})
            pointing |= {r["piece_id"] for r in naming}
        if pointing:
            pieces = _all(conn, "pieces_by_id", {"ids": list(pointing)})
            with conn.cursor() as cur:
                cur.execute(_q("delete_citations_of_pieces"), {"ids": list(pointing)})
            others = _detect_pieces(conn, resolver, pieces)
            _insert(conn, others)
            after += others
    else:
        again += [r for r in before if r.iu_id != iu_id]
    after += _resolve_again(conn, resolver, iu_id, again)
    return _impacts(
        conn,
        resolver,
        iu_id,
        operation_id=operation_id,
        operation_type=operation_type,
        before=before,
        after=after,
        touched=set(touched),
        deprecated=set(deprecated),
        eids=eids,
    )


def _by_span(rows: Iterable[Row]) -> dict[tuple[uuid.UUID, int, int, str, int], Row]:
    """Each citation under (piece, span, text, k): k counts the citations of one span (a range)."""
    out: dict[tuple[uuid.UUID, int, int, str, int], Row] = {}
    seen: dict[tuple[uuid.UUID, int, int, str], int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: (str(r.piece_id), r.seq)):
        k = seen[row.span_key]
        seen[row.span_key] += 1
        out[(*row.span_key, k)] = row
    return out


# A cited provision the operation split or merged is impacted even when the citation still lands on it.
_RESHAPING = frozenset({"split", "merge"})


def _impacts(
    conn: Conn,
    resolver: _Resolver,
    iu_id: uuid.UUID,
    *,
    operation_id: uuid.UUID,
    operation_type: str,
    before: Sequence[Row],
    after: Sequence[Row],
    touched: set[uuid.UUID],
    deprecated: set[uuid.UUID],
    eids: Mapping[uuid.UUID, str | None],
) -> tuple[uuid.UUID, ...]:
    """One ``iu_citation_impacted`` per citing piece whose cited provision in ``iu_id`` changed."""
    now = _by_span(after)
    per_piece: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    citing_unit: dict[uuid.UUID, uuid.UUID] = {}
    for key, old in _by_span(before).items():
        if old.to_iu_id != iu_id or old.to_piece_id is None or old.piece_id in deprecated:
            continue
        new = now.get(key)
        if new is None:  # the citing text itself changed: not an impact of the cited provision
            continue
        target = old.to_piece_id
        if target in deprecated:
            reason = "deprecated"
        elif new.unresolved is not None:
            reason = "unresolved"
        elif (
            new.to_piece_id != target
            or (target in touched and operation_type in _RESHAPING)
            or eids.get(target) != old.to_eid
        ):
            reason = operation_type
        else:
            continue
        citing_unit[old.piece_id] = old.iu_id
        per_piece[old.piece_id].append(
            {
                "start": new.span_start,
                "end": new.span_end,
                "text": new.matched_text,
                "cited_piece_id": str(target),
                "old_eid": old.to_eid,
                "new_eid": None if target in deprecated else eids.get(target),
                "resolves_to": new.to_eid,
                "unresolved": new.unresolved,
                "reason": reason,
            }
        )
    if not per_piece:
        return ()
    citing = {p["piece_id"]: p["eid"] for p in _all(conn, "pieces_by_id", {"ids": list(per_piece)})}
    ids: list[uuid.UUID] = []
    for piece_id in sorted(per_piece, key=str):
        unit_id = citing_unit[piece_id]
        payload = {
            "event_type": IU_CITATION_IMPACTED,
            "iu_id": str(unit_id),
            "code": resolver.id_to_code.get(unit_id),
            "piece_id": str(piece_id),
            "eid": citing.get(piece_id),
            "cited_iu_id": str(iu_id),
            "cited_code": resolver.id_to_code.get(iu_id),
            "operation_id": str(operation_id),
            "operation_type": operation_type,
            "citations": per_piece[piece_id],
        }
        # the one event writer: schema_version, and the fan-out's span when tracing is on
        ids.append(store.emit(conn, IU_CITATION_IMPACTED, unit_id, payload))
    return tuple(ids)


# ---------------------------------------------------------------------------
# Reading: what the commands, the search results, the report and the console show
# ---------------------------------------------------------------------------
def _unit_and_piece(conn: Conn, code: str, eid: str | None) -> tuple[uuid.UUID, uuid.UUID | None]:
    """The unit ``code`` and its active piece ``eid`` (NotFound names what is unknown)."""
    from iu_core.errors import NotFound

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries("domain")["unit_by_code"], {"code": code})
        unit = cur.fetchone()
    if unit is None:
        raise NotFound(f"unknown information unit {code!r}")
    if eid is None:
        return unit["iu_id"], None
    piece = next((p for e, p in _Resolver.active(conn, unit["iu_id"]).items() if e == eid), None)
    if piece is None:
        raise NotFound(f"information unit {code!r} has no active provision with eid {eid!r}")
    return unit["iu_id"], piece


def citations_of(
    conn: Conn, code: str, *, eid: str | None = None, unresolved_only: bool = False
) -> list[dict[str, Any]]:
    """The citations written in unit ``code`` (of its provision ``eid``), in order."""
    iu_id, _ = _unit_and_piece(conn, code, eid)
    return _all(conn, "list_citations", {"iu_id": iu_id, "eid": eid, "unresolved_only": unresolved_only})


def cited_by(conn: Conn, code: str, eid: str) -> list[dict[str, Any]]:
    """The citations, of any unit, that resolve to provision ``eid`` of unit ``code``."""
    _, piece_id = _unit_and_piece(conn, code, eid)
    return _all(conn, "list_cited_by", {"piece_id": piece_id})


def cites_of_piece(conn: Conn, piece_id: uuid.UUID) -> list[dict[str, Any]]:
    """The citations written in one piece (for search results and the console)."""
    return _all(conn, "cites_of_piece", {"piece_id": piece_id})


def incoming(conn: Conn, iu_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every citation that resolves to a piece of the unit (for the report)."""
    return _all(conn, "cited_by_unit", {"iu_id": iu_id})


def links_of_pieces(
    conn: Conn, piece_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[dict[str, Any]]], dict[uuid.UUID, list[dict[str, Any]]]]:
    """(cites, cited by) of each piece: what its text cites, and which provisions cite it."""
    cites: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    cited: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if not piece_ids:
        return cites, cited
    for r in _all(conn, "cites_of_pieces", {"ids": list(piece_ids)}):
        cites[r.pop("piece_id")].append(r)
    for r in _all(conn, "cited_by_pieces", {"ids": list(piece_ids)}):
        cited[r.pop("piece_id")].append(r)
    return cites, cited
