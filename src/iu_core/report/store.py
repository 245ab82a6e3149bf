"""The table ``iu_structure_report`` and one IU's regeneration into it (and into a directory).

``regenerate(conn, iu_id, directory=None)`` reads the IU in one snapshot,
renders it, and writes it in a savepoint of the caller's transaction:

- the row is upserted monotonically (``upsert_report`` in
  ``sql/queries/report.sql``): only a later event of the IU, or the same
  event with a different content, rewrites it;
- with a directory, ``CODE.html`` and ``CODE.md`` are written atomically
  when the files reflect an older event, or the same one with another
  digest, or are missing. The files are decided on their own marker, not on
  the row, because several routes (a ``table`` one and a ``dir:`` one) share
  the row. They are written before the caller commits: if that transaction
  rolls back, the files may be ahead of the row, and the next generation
  writes the row; the files are never behind a committed row of their
  route's generation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iu_core.errors import NotFound
from iu_core.report import files
from iu_core.report.collect import collect
from iu_core.report.model import build
from iu_core.report.render import Rendered, generation_time, render
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def _q(name: str) -> str:
    return queries("report")[name]


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A row of ``iu_structure_report``."""

    iu_id: uuid.UUID
    code: str
    event_seq: int
    event_id: uuid.UUID | None
    digest: str
    markdown: str
    html: str
    json: dict[str, Any]
    generation: int
    generated_at: dt.datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredReport:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Regeneration:
    """What one regeneration of one IU did."""

    iu_id: uuid.UUID
    code: str
    event_seq: int  # the IU's newest event the content reflects
    row_written: bool
    files_written: bool
    generation: int | None  # the row's generation after a write

    @property
    def written(self) -> bool:
        return self.row_written or self.files_written

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def upsert(conn: Conn, rendered: Rendered) -> int | None:
    """Write ``rendered`` unless the row reflects a later event or the same content; new generation."""
    data = rendered.report.data
    event = data.last_event
    row = conn.execute(
        _q("upsert_report"),
        {
            "iu_id": data.unit.iu_id,
            "code": data.unit.code,
            "event_seq": data.event_seq,
            "event_id": event.event_id if event else None,
            "digest": rendered.digest,
            "markdown": rendered.markdown,
            "html": rendered.html,
            "json": Jsonb(rendered.json),
            "generated_at": rendered.report.generated_at,
        },
    ).fetchone()
    return None if row is None else int(row[0])


def files_behind(directory: Path, rendered: Rendered) -> bool:
    """True when the files in ``directory`` do not reflect ``rendered`` yet (nor anything later)."""
    current = files.reflected(directory, rendered.report.data.unit.code)
    if current is None:
        return True
    return current.event_seq < rendered.event_seq or (
        current.event_seq == rendered.event_seq and current.digest != rendered.digest
    )


def regenerate(
    conn: Conn, iu_id: uuid.UUID, *, directory: Path | None = None, now: dt.datetime | None = None
) -> Regeneration:
    """Regenerate ``iu_id``'s report from the current state (see the module docstring)."""
    data = collect(conn, iu_id)
    if data is None:
        raise NotFound(f"unknown information unit {iu_id}")
    rendered = render(build(data, now or generation_time()))
    with conn.transaction():  # a failed file write takes the row back with it
        generation = upsert(conn, rendered)
        write_files = directory is not None and files_behind(directory, rendered)
        if write_files:
            assert directory is not None
            files.write_report(
                directory,
                data.unit.code,
                markdown=rendered.markdown,
                html=rendered.html,
                event_seq=rendered.event_seq,
                digest=rendered.digest,
            )
    return Regeneration(
        iu_id, data.unit.code, data.event_seq, generation is not None, write_files, generation
    )


def report_by_code(conn: Conn, code: str) -> StoredReport:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_q("report_by_code"), {"code": code})
        row = cur.fetchone()
    if row is None:
        with conn.cursor() as cur:
            cur.execute(_q("units_to_build"), {"code": code})
            known = cur.fetchone() is not None
        if not known:
            raise NotFound(f"unknown information unit {code!r}")
        raise NotFound(f"no report for {code!r} yet: run `iu-core report build --iu {code}`")
    return StoredReport.from_row(row)


def list_reports(conn: Conn) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(_q("list_reports"))
        return cur.fetchall()


def reflected_rows(conn: Conn, iu_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int | None]]:
    """For each IU: its code and the event its report row reflects (None: no row)."""
    rows = conn.execute(_q("reflected"), {"iu_ids": iu_ids}).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}
