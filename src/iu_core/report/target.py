"""The ``report`` target kind: keeps each IU's structure report current, in the delivery's transaction.

``target_ref``:

- ``table``: the report is a row of ``iu_structure_report``;
- ``dir:PATH``: the row, and ``CODE.md`` / ``CODE.html`` in the directory
  ``PATH``. PATH must be absolute (the worker, the CLI and the console run
  in different working directories; a relative path would mean a different
  place to each) and must exist: a typo is refused, never created.

A batch regenerates each affected IU once, from the current state read in one
snapshot. The IUs a delivery affects: the event's own IU (its aggregate)
and, for a relation event, the IU at the other end (whose report lists the
relation as incoming).

Monotonic and idempotent. Each IU's own events are written while its row is
locked, so they commit in ``event_seq`` order; the report stores the newest
one it reflects. When the highest of a batch's own events of an IU is older
than what the destination (the row, or the files' marker) reflects, the IU
is not regenerated at all: re-delivering an older event changes nothing.
Otherwise it is regenerated and the store writes only what is new (see
``store``). Outcomes: ``sent`` when something was written, ``skipped`` when
the report already reflected the delivery (nothing to do), ``failed`` with
``retryable`` and ``reason`` otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg

from iu_core.delivery.detail import failed_outcome
from iu_core.delivery.seam import DeliveryOutcome
from iu_core.delivery.transactional import Conn, EventDelivery
from iu_core.errors import IuCoreError, describe_database_error, one_line
from iu_core.report import files, store
from iu_core.sqlfiles import queries

KIND = "report"
TABLE_REF = "table"
DIR_PREFIX = "dir:"


@dataclass(frozen=True, slots=True)
class ReportRef:
    """A parsed ``target_ref``: the table alone, or the table and a directory."""

    directory: Path | None

    @classmethod
    def parse(cls, target_ref: str) -> ReportRef:
        """The ref, or ``ValueError`` saying what is wrong with it (one line)."""
        if target_ref == TABLE_REF:
            return cls(None)
        if not target_ref.startswith(DIR_PREFIX):
            raise ValueError(f"a report target_ref is 'table' or 'dir:/ABSOLUTE/PATH', not {target_ref!r}")
        raw = target_ref[len(DIR_PREFIX) :]
        if not raw or "\x00" in raw or raw != raw.strip():
            raise ValueError(f"report target_ref {target_ref!r}: the directory is empty or malformed")
        if not os.path.isabs(raw):
            raise ValueError(f"report target_ref {target_ref!r}: the directory must be an absolute path")
        if ".." in PurePosixPath(raw).parts:
            raise ValueError(f"report target_ref {target_ref!r}: the directory must not contain '..'")
        return cls(Path(raw))


def directory_problem(directory: Path) -> str | None:
    """None when reports can be written into ``directory`` now, else why not."""
    if not directory.is_dir():
        return f"report directory {directory} does not exist (create it first)"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"report directory {directory} is not writable by this process"
    return None


@dataclass
class _Group:
    """The deliveries of one batch that affect one IU, for one destination."""

    iu_id: uuid.UUID
    ref: ReportRef
    indexes: list[int] = field(default_factory=list)
    own_seqs: list[int] = field(default_factory=list)  # this IU's own events among them
    foreign: bool = False  # a relation event of another IU names this one


def _failed(reason: str, *, retryable: bool, **detail: Any) -> DeliveryOutcome:
    return failed_outcome(KIND, one_line(reason), retryable=retryable, **detail)


class ReportTarget:
    """Regenerates structure reports on the caller's connection (a ``TransactionalTarget``)."""

    target_kind = KIND

    def ref_problem(self, target_ref: str) -> str | None:
        try:
            ReportRef.parse(target_ref)
        except ValueError as exc:
            return str(exc)
        return None

    def readiness_problem(self, conn: Conn, target_ref: str) -> str | None:
        try:
            ref = ReportRef.parse(target_ref)
        except ValueError as exc:
            return str(exc)
        row = conn.execute(queries("report")["readiness"]).fetchone()
        if row is None or not (row[0] and row[1]):
            return "the report schema is missing in this database (run `iu-core db migrate`)"
        return directory_problem(ref.directory) if ref.directory else None

    def deliver_batch(self, conn: Conn, deliveries: Sequence[EventDelivery]) -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome | None] = [None] * len(deliveries)
        if not deliveries:
            return []
        ready: dict[str, str | None] = {}
        groups: dict[tuple[str, uuid.UUID], _Group] = {}
        facts = {
            r[0]: r
            for r in conn.execute(
                queries("report")["batch_events"], {"event_ids": [d.event_id for d in deliveries]}
            ).fetchall()
        }
        for i, delivery in enumerate(deliveries):
            target_ref = delivery.request.target_ref
            if target_ref not in ready:
                ready[target_ref] = self.readiness_problem(conn, target_ref)
            problem = ready[target_ref]
            if problem is not None:
                # A malformed ref never heals; a missing directory or schema may be fixed by an operator.
                outcomes[i] = _failed(problem, retryable=self.ref_problem(target_ref) is None)
                continue
            fact = facts.get(delivery.event_id)
            if fact is None or fact[2] != "information_unit" or fact[3] is None:
                outcomes[i] = DeliveryOutcome(
                    status="skipped",
                    delivered=False,
                    target_kind=KIND,
                    detail={"reason": "the event is not about an information unit: no report to regenerate"},
                )
                continue
            ref = ReportRef.parse(target_ref)
            own = groups.setdefault((target_ref, fact[3]), _Group(fact[3], ref))
            own.indexes.append(i)
            own.own_seqs.append(int(fact[1]))
            if fact[4] is not None and fact[4] != fact[3]:
                other = groups.setdefault((target_ref, fact[4]), _Group(fact[4], ref))
                other.indexes.append(i)
                other.foreign = True
        results = self._regenerate_groups(conn, list(groups.values()))
        for i in range(len(deliveries)):
            if outcomes[i] is None:
                outcomes[i] = _combine([results[id(g)] for g in groups.values() if i in g.indexes])
        return [o for o in outcomes if o is not None]

    def _regenerate_groups(self, conn: Conn, groups: list[_Group]) -> dict[int, DeliveryOutcome]:
        rows = store.reflected_rows(conn, [g.iu_id for g in groups]) if groups else {}
        results: dict[int, DeliveryOutcome] = {}
        for group in groups:
            code, row_seq = rows.get(group.iu_id, ("?", None))
            if group.ref.directory is None:
                reflected: int | None = row_seq
            else:
                try:
                    marker = files.reflected(group.ref.directory, code)
                except OSError as exc:  # a FIFO, link or directory planted at the name, or unreadable
                    results[id(group)] = _failed(
                        f"report files of {code}: {exc.strerror or exc}", retryable=True, iu=code
                    )
                    continue
                reflected = marker.event_seq if marker else None
            newest = max(group.own_seqs, default=None)
            if not group.foreign and newest is not None and reflected is not None and newest < reflected:
                results[id(group)] = DeliveryOutcome(
                    status="skipped",
                    delivered=False,
                    target_kind=KIND,
                    detail={
                        "reason": f"the report of {code} already reflects event_seq {reflected}",
                        "iu": code,
                        "event_seq": reflected,
                    },
                )
                continue
            results[id(group)] = self._regenerate(conn, group, code)
        return results

    def _regenerate(self, conn: Conn, group: _Group, code: str) -> DeliveryOutcome:
        try:
            with conn.transaction():  # an error here leaves the rest of the batch usable
                done = store.regenerate(conn, group.iu_id, directory=group.ref.directory)
        except IuCoreError as exc:
            return _failed(str(exc), retryable=False, iu=code)
        except psycopg.Error as exc:
            return _failed(f"report of {code}: {describe_database_error(exc)}", retryable=True, iu=code)
        except OSError as exc:
            return _failed(f"report files of {code}: {exc.strerror or exc}", retryable=True, iu=code)
        detail = {
            "iu": done.code,
            "event_seq": done.event_seq,
            "row_written": done.row_written,
            "files_written": done.files_written,
        }
        if done.generation is not None:
            detail["generation"] = done.generation
        if not done.written:
            detail["reason"] = f"the report of {done.code} was already current at event_seq {done.event_seq}"
            return DeliveryOutcome(status="skipped", delivered=False, target_kind=KIND, detail=detail)
        return DeliveryOutcome(status="sent", delivered=True, target_kind=KIND, detail=detail)


def _combine(outcomes: list[DeliveryOutcome]) -> DeliveryOutcome:
    """One delivery's outcome from its IUs' outcomes: a failure wins, then sent, then skipped."""
    for status in ("failed", "sent"):
        for outcome in outcomes:
            if outcome.status == status:
                return outcome
    return outcomes[0]
