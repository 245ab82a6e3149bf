"""Console users: names and argon2 password hashes in ``iu_console_user`` (migrations 013, 017).

Adding, removing a user and changing its password are operator changes: each
runs in one audited transaction (``ops.change``) and leaves one row in the
operator audit, never the hash. A session ends for good when its user's epoch
moves on (log-out, new password, removal): epochs come from one sequence and
are never handed out twice, so a user removed and added again gets none of
its old sessions back.
"""

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
from iu_core.ops.change import change
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


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise IuCoreError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


def add_user(conn: Conn, name: str, password: str, *, actor: str | None = None) -> None:
    check_name(name)
    password_hash = _hasher.hash(check_password(password))
    with change(conn, "console user add", actor):
        row = conn.execute(_q("user_add"), {"user_name": name, "password_hash": password_hash}).fetchone()
    if row is None:
        raise IuCoreError(
            f"console user {name} already exists "
            f"(change its password with: iu-core console user passwd {name})"
        )


def remove_user(conn: Conn, name: str, *, actor: str | None = None) -> None:
    with change(conn, "console user remove", actor):
        row = conn.execute(_q("user_remove"), {"user_name": name}).fetchone()
    if row is None:
        raise NotFound(f"no console user {name!r} (see: iu-core console user list)")


def change_password(conn: Conn, name: str, password: str, *, actor: str | None = None) -> None:
    """A new password for ``name``; every session of ``name`` ends."""
    password_hash = _hasher.hash(check_password(password))
    with change(conn, "console user passwd", actor):
        row = conn.execute(_q("user_passwd"), {"user_name": name, "password_hash": password_hash}).fetchone()
    if row is None:
        raise NotFound(f"no console user {name!r} (see: iu-core console user list)")


def list_users(conn: Conn) -> list[ConsoleUser]:
    return [ConsoleUser(*row) for row in conn.execute(_q("user_list")).fetchall()]


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """The outcome of checking a password: the session epoch when it was right."""

    epoch: int | None
    known_user: bool  # the name is a console user's (its failures count against the name)


def authenticate(conn: Conn, name: str, password: str) -> LoginCheck:
    """Check ``password`` for ``name`` (the same cost whether or not the user exists)."""
    row = conn.execute(_q("user_get"), {"user_name": name}).fetchone() if _NAME.match(name) else None
    stored = row[1] if row else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return LoginCheck(None, row is not None)
    if row is None:
        return LoginCheck(None, False)
    rehash = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    conn.execute(_q("user_logged_in"), {"user_name": name, "password_hash": rehash})
    return LoginCheck(int(row[2]), True)


def session_epoch(conn: Conn, name: str) -> int | None:
    """The user's current session epoch; None when the user no longer exists."""
    row = conn.execute(_q("user_epoch"), {"user_name": name}).fetchone()
    return int(row[0]) if row else None


def end_sessions(conn: Conn, name: str) -> None:
    """Refuse every session cookie issued to ``name`` so far (log out everywhere)."""
    conn.execute(_q("user_end_sessions"), {"user_name": name})
