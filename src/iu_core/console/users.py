"""Console users: names and argon2 password hashes in ``iu_console_user`` (migration 013)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from iu_core.errors import IuCoreError, NotFound
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


# Verifying an unknown user's password against this hash costs as much as a real
# check, so the time of a refusal does not tell whether the name exists.
@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist (made once, on first use)."""
    return _hasher.hash("not a password of anyone")


def _q(name: str) -> str:
    return queries("console")[name]


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    user_name: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_name": self.user_name,
            "created_at": self.created_at,
            "last_login_at": self.last_login_at,
        }


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise IuCoreError(
            f"invalid user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', starting alphanumeric"
        )
    return name


def add_user(conn: Conn, name: str, password: str) -> None:
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise IuCoreError(f"the password is too short: at least {MIN_PASSWORD} characters")
    row = conn.execute(
        _q("user_add"), {"user_name": name, "password_hash": _hasher.hash(password)}
    ).fetchone()
    if row is None:
        raise IuCoreError(f"console user {name} already exists (remove it first to change its password)")


def remove_user(conn: Conn, name: str) -> None:
    if conn.execute(_q("user_remove"), {"user_name": name}).fetchone() is None:
        raise NotFound(f"no console user {name!r} (see: iu-core console user list)")


def list_users(conn: Conn) -> list[ConsoleUser]:
    return [ConsoleUser(*row) for row in conn.execute(_q("user_list")).fetchall()]


def authenticate(conn: Conn, name: str, password: str) -> int | None:
    """The user's session epoch when ``password`` is right, else None (same cost either way)."""
    row = conn.execute(_q("user_get"), {"user_name": name}).fetchone() if _NAME.match(name) else None
    stored = row[1] if row else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    rehash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    conn.execute(_q("user_logged_in"), {"user_name": name, "password_hash": rehash})
    return int(row[2])


def session_epoch(conn: Conn, name: str) -> int | None:
    """The user's current session epoch; None when the user no longer exists."""
    row = conn.execute(_q("user_epoch"), {"user_name": name}).fetchone()
    return int(row[0]) if row else None


def end_sessions(conn: Conn, name: str) -> None:
    """Refuse every session cookie issued to ``name`` so far (log out everywhere)."""
    conn.execute(_q("user_end_sessions"), {"user_name": name})
