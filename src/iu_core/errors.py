"""Errors a user can cause and fix: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

import psycopg


class IuCoreError(Exception):
    """A user-facing error: bad input, refused operation, unreachable server."""

    exit_code = 1


class NotFound(IuCoreError):
    """A named thing (unit, piece, route, dead letter) does not exist."""


class Refused(IuCoreError):
    """The system refused the operation on purpose (guard, gate, policy)."""


def describe_database_error(exc: psycopg.Error) -> str:
    """One line for a database error, without internals a user cannot act on."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    hint = getattr(diag, "message_hint", None) if diag else None
    text = primary or str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if hint:
        text = f"{text} ({hint})"
    return text


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line (whitespace folded), at most ``limit`` characters: for reasons and logs."""
    return " ".join(text.split())[:limit]
