"""Running the packaged SQL scripts (runtime macros, probe, rollback) as psql does.

``psql -v ON_ERROR_STOP=1 -f FILE`` splits a file into statements and sends
them one by one, stopping at the first error. ``run_script`` does exactly that
on an autocommit connection, so the script's own ``BEGIN`` / ``COMMIT`` /
``ROLLBACK`` decide its transactions, and the CLI runs the very text psql runs.
Every result set is kept (the probe's table comes before its verdict), and a
failure carries the results that came before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from iu_core.errors import IuCoreError, describe_database_error

__all__ = ["ResultSet", "ScriptFailed", "ScriptRun", "run_script", "split_statements"]

_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(text: str) -> list[str]:
    """Split SQL text into statements at top-level semicolons.

    Understands what psql's lexer understands for our files: ``--`` and nested
    ``/* */`` comments, '…' strings (with '' inside), "…" identifiers and
    $tag$…$tag$ bodies. Statements that are only comments are dropped.
    """
    statements: list[str] = []
    start: int | None = None  # where the current statement's first code character is
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if ch == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            continue
        if ch in "'\"":
            start = i if start is None else start
            i += 1
            while i < n:
                if text[i] == ch:
                    if i + 1 < n and text[i + 1] == ch:  # doubled quote inside
                        i += 2
                        continue
                    break
                i += 1
            i += 1
            continue
        if ch == "$":
            match = _DOLLAR_TAG.match(text, i)
            if match and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                start = i if start is None else start
                end = text.find(match.group(0), match.end())
                i = n if end < 0 else end + len(match.group(0))
                continue
        if ch == ";":
            if start is not None:
                statements.append(text[start : i + 1])
            start = None
            i += 1
            continue
        if start is None and not ch.isspace():
            start = i
        i += 1
    if start is not None:
        statements.append(text[start:].rstrip())
    return statements


@dataclass(frozen=True, slots=True)
class ResultSet:
    """The rows one statement returned."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """What a script printed: its result sets and its notices, in order."""

    name: str
    results: tuple[ResultSet, ...] = ()
    notices: tuple[str, ...] = field(default=())

    def last(self) -> ResultSet | None:
        return self.results[-1] if self.results else None


class ScriptFailed(IuCoreError):
    """A statement of a script raised; its transaction was rolled back."""

    def __init__(self, name: str, message: str, sqlstate: str | None, partial: ScriptRun) -> None:
        super().__init__(message)
        self.name = name
        self.sqlstate = sqlstate
        self.partial = partial


def run_script(conn: psycopg.Connection[Any], text: str, *, name: str = "script") -> ScriptRun:
    """Run ``text`` statement by statement, stopping at the first error (ON_ERROR_STOP).

    ``conn`` must be in autocommit mode. On an error, an open transaction is
    rolled back (as when psql exits) and ``ScriptFailed`` is raised.
    """
    if not conn.autocommit:
        raise ValueError("run_script() needs an autocommit connection")
    results: list[ResultSet] = []
    notices: list[str] = []

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            notices.append(diag.message_primary)

    conn.add_notice_handler(on_notice)
    try:
        with conn.cursor() as cur:
            for statement in split_statements(text):
                try:
                    cur.execute(statement.encode("utf-8"))
                except psycopg.Error as exc:
                    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                        conn.execute("ROLLBACK")
                    raise ScriptFailed(
                        name,
                        describe_database_error(exc),
                        exc.sqlstate,
                        ScriptRun(name, tuple(results), tuple(notices)),
                    ) from exc
                if cur.description is not None:
                    columns = tuple(col.name for col in cur.description)
                    results.append(ResultSet(columns, tuple(tuple(r) for r in cur.fetchall())))
    finally:
        conn.remove_notice_handler(on_notice)
    return ScriptRun(name, tuple(results), tuple(notices))
