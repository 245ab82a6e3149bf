"""Route credentials: signing secrets and keys of external_endpoint routes, tokens of directus_flow routes.

A secret is returned exactly once, by ``rotate_secret``, to the operator who
must hand it to the receiver; otherwise it is only named by its fingerprint.
An Ed25519 signing key's private half is never returned at all: only its
public key (``whpk_…``) and that key's fingerprint are shown and audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from iu_core.errors import IuCoreError, NotFound, Refused
from iu_core.ops import audit_notes as audit
from iu_core.ops.change import Changed, Conn, change, q
from iu_core.ops.records import Fingerprint
from iu_core.targets.webhook import fingerprint, new_key_pair, new_secret


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    """A new signing secret (shown once) and until when the previous one still signs."""

    route_code: str
    secret: str
    fingerprint: str
    previous_valid_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RotatedKey:
    """A new Ed25519 signing key (its public key) and until when the previous key still signs."""

    route_code: str
    public_key: str
    fingerprint: str
    previous_valid_until: dt.datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "route_code": self.route_code,
            "public_key": self.public_key,
            "fingerprint": self.fingerprint,
            "previous_valid_until": self.previous_valid_until,
        }


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
        valid_until = _replace_credential(
            conn, route_code, "webhook_secret", secret, fingerprint(secret),
            window_s=window_hours * 3600, action="rotate",
        )  # fmt: skip
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
        _replace_credential(
            conn, route_code, "access_token", token, fingerprint(token), window_s=0, action="set"
        )
    return Changed(
        True,
        f"access token of route {route_code} set (fingerprint {fingerprint(token)})",
        {"route_code": route_code, "fingerprint": fingerprint(token)},
    )


def _replace_credential(
    conn: Conn,
    route_code: str,
    kind: str,
    secret: str,
    fp: str,
    *,
    window_s: float,
    action: str,
    **after: Any,
) -> dt.datetime | None:
    """Make ``secret`` the route's current credential of ``kind`` and audit the change by fingerprint.

    The previous one stays valid for ``window_s`` seconds; returns until when (None: none was kept).
    """
    previous = audit.current_fingerprint(conn, route_code, kind)
    row = conn.execute(
        q("replace_credential"),
        {"route_code": route_code, "kind": kind, "secret": secret, "fingerprint": fp, "window_s": window_s},
    ).fetchone()
    valid_until: dt.datetime | None = row[0] if row else None
    if action == "rotate":
        after["previous_valid_until"] = valid_until.isoformat() if valid_until else None
    audit.note(
        conn,
        "credential",
        route_code,
        action,
        before={"kind": kind, "fingerprint": previous},
        after={"kind": kind, "fingerprint": fp, **after},
    )
    return valid_until


def replace_key(conn: Conn, route_code: str, *, window_s: float) -> RotatedKey:
    """Make a new Ed25519 key pair the route's current signing key and audit it (in the caller's change)."""
    private_key, public_key = new_key_pair()
    valid_until = _replace_credential(
        conn, route_code, "signing_key", private_key, fingerprint(public_key),
        window_s=window_s, action="rotate", public_key=public_key,
    )  # fmt: skip
    conn.execute(q("set_public_key"), {"route_code": route_code, "public_key": public_key})
    return RotatedKey(route_code, public_key, fingerprint(public_key), valid_until)


def rotate_key(conn: Conn, route_code: str, *, window_hours: float, actor: str | None = None) -> RotatedKey:
    """A new Ed25519 signing key for an external_endpoint route; the previous one signs ``window_hours``."""
    kind = _route_kind(conn, route_code)
    _require_kind(route_code, kind, "external_endpoint", "only webhooks are signed")
    with change(conn, "route key rotate", actor):
        return replace_key(conn, route_code, window_s=window_hours * 3600)


def public_keys(conn: Conn, route_code: str) -> list[dict[str, object]]:
    """The route's public keys that verify now (current first), with their fingerprints."""
    _route_kind(conn, route_code)
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(q("public_keys"), {"route_code": route_code}).fetchall())
