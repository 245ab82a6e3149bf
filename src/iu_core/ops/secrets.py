"""Route credentials: signing secrets of external_endpoint routes, tokens of directus_flow routes.

A secret is returned exactly once, by ``rotate_secret``, to the operator who
must hand it to the receiver; otherwise it is only named by its fingerprint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg.rows import dict_row

from iu_core.errors import IuCoreError, NotFound, Refused
from iu_core.ops import audit_notes as audit
from iu_core.ops.change import Changed, Conn, change, q
from iu_core.ops.records import Fingerprint
from iu_core.targets.webhook import fingerprint, new_secret


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    """A new signing secret (shown once) and until when the previous one still signs."""

    route_code: str
    secret: str
    fingerprint: str
    previous_valid_until: dt.datetime | None


def _route_kind(conn: Conn, route_code: str) -> str:
    row = conn.execute(q("route_kind"), {"route_code": route_code}).fetchone()
    if row is None:
        raise NotFound(f"unknown route {route_code}")
    return str(row[1])


def _require_kind(route_code: str, kind: str, expected: str, hint: str) -> None:
    if kind != expected:
        raise Refused(f"route {route_code} has target_kind {kind}, not {expected} ({hint})")


def check_token(token: str) -> str:
    """A token as it may travel in an Authorization header: one printable line."""
    token = token.strip()
    if not token:
        raise IuCoreError("no token given")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token) or not token.isprintable():
        raise IuCoreError("the token must be one line of printable characters without spaces")
    return token


def rotate_secret(
    conn: Conn, route_code: str, *, window_hours: float, actor: str | None = None
) -> RotatedSecret:
    """A new signing secret for an external_endpoint route; the previous one signs for ``window_hours``."""
    kind = _route_kind(conn, route_code)
    _require_kind(route_code, kind, "external_endpoint", "directus_flow routes use route token set")
    secret = new_secret()
    with change(conn, "route secret rotate", actor):
        previous = audit.current_fingerprint(conn, route_code, "webhook_secret")
        row = conn.execute(
            q("replace_credential"),
            {
                "route_code": route_code,
                "kind": "webhook_secret",
                "secret": secret,
                "fingerprint": fingerprint(secret),
                "window_s": window_hours * 3600,
            },
        ).fetchone()
        valid_until = row[0] if row else None
        audit.note(
            conn,
            "credential",
            route_code,
            "rotate",
            before={"kind": "webhook_secret", "fingerprint": previous},
            after={
                "kind": "webhook_secret",
                "fingerprint": fingerprint(secret),
                "previous_valid_until": valid_until.isoformat() if valid_until else None,
            },
        )
    return RotatedSecret(route_code, secret, fingerprint(secret), valid_until)


def fingerprints(conn: Conn, route_code: str, kind: str = "webhook_secret") -> list[Fingerprint]:
    """The route's credentials of ``kind`` by fingerprint (never the secrets), current first."""
    _route_kind(conn, route_code)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(q("credential_fingerprints"), {"route_code": route_code, "kind": kind}).fetchall()
    return [Fingerprint.from_row(r) for r in rows]


def set_token(conn: Conn, route_code: str, token: str, *, actor: str | None = None) -> Changed:
    """Set a directus_flow route's access token."""
    token = check_token(token)
    kind = _route_kind(conn, route_code)
    _require_kind(route_code, kind, "directus_flow", "external_endpoint routes use route secret rotate")
    with change(conn, "route token set", actor):
        previous = audit.current_fingerprint(conn, route_code, "access_token")
        conn.execute(
            q("replace_credential"),
            {
                "route_code": route_code,
                "kind": "access_token",
                "secret": token,
                "fingerprint": fingerprint(token),
                "window_s": 0,
            },
        )
        audit.note(
            conn,
            "credential",
            route_code,
            "set",
            before={"kind": "access_token", "fingerprint": previous},
            after={"kind": "access_token", "fingerprint": fingerprint(token)},
        )
    return Changed(
        True,
        f"access token of route {route_code} set (fingerprint {fingerprint(token)})",
        {"route_code": route_code, "fingerprint": fingerprint(token)},
    )
