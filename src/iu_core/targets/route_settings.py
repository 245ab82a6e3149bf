"""A route's HTTP settings and credentials, read from the database and cached briefly.

Targets run on many worker threads at once; they share one reader. The reader
keeps ONE autocommit connection behind a lock (a query takes well under a
millisecond, and the cache absorbs repeats) and reconnects after an error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from iu_core.sqlfiles import queries
from iu_core.targets.address_policy import IPNetwork, parse_networks

__all__ = ["RouteHttpSettings", "RouteSettingsReader", "SettingsUnavailable"]


class SettingsUnavailable(Exception):
    """The database could not be read (retryable: the database comes back)."""


@dataclass(frozen=True, slots=True)
class RouteHttpSettings:
    """One route as an HTTP target sees it. ``secrets``/``token`` never leave the target."""

    route_code: str
    event_type: str
    target_kind: str
    target_ref: str
    enabled: bool
    dry_run: bool
    # Why the route may not deliver now (None: it may): fn_iu_route_refusal's message.
    live_refusal: str | None
    timeout_s: float
    connect_timeout_s: float
    allow_networks: tuple[IPNetwork, ...]
    # (secret, valid_until) — current first; valid_until None for the current one.
    webhook_secrets: tuple[tuple[str, dt.datetime | None], ...]
    access_token: str | None
    # hmac (webhook_secrets sign) or ed25519 (signing_keys sign); same shape.
    signature: str = "hmac"
    signing_keys: tuple[tuple[str, dt.datetime | None], ...] = ()

    def __repr__(self) -> str:  # keep credentials out of any accidental print or log
        return f"RouteHttpSettings(route_code={self.route_code!r}, target_kind={self.target_kind!r})"

    def signing_secrets(self, now: dt.datetime | None = None) -> list[str]:
        """The secrets that sign now: the current one, and a previous one inside its window."""
        now = now or dt.datetime.now(dt.UTC)
        return [s for s, until in self.webhook_secrets if until is None or until > now]

    def active_signing_keys(self, now: dt.datetime | None = None) -> list[str]:
        """The Ed25519 private keys that sign now, current first."""
        now = now or dt.datetime.now(dt.UTC)
        return [s for s, until in self.signing_keys if until is None or until > now]


@dataclass
class _Cached:
    settings: RouteHttpSettings | None
    expires: float


class RouteSettingsReader:
    """Reads ``RouteHttpSettings`` by route code; thread-safe; caches for ``ttl_s``."""

    def __init__(self, database_url: str, *, ttl_s: float = 5.0, max_connections: int = 4) -> None:
        self._url = database_url
        self._ttl_s = ttl_s
        self._lock = threading.Lock()  # guards opening and closing the pool only
        self._max_connections = max_connections
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None
        self._cache: dict[str, _Cached] = {}
        self._q = queries("http")

    def _connections(self) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
        # A small pool, not one connection behind a lock: every dispatch thread
        # reads its event's timestamp, and they must not queue behind each other.
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._url,
                    min_size=0,
                    max_size=self._max_connections,
                    kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
                    open=True,
                    name="iu-core-route-settings",
                )
            return self._pool

    def _fetch(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one named query on a pooled connection; one retry on a broken connection."""
        for retry in (False, True):
            try:
                with self._connections().connection(timeout=10) as conn:
                    return conn.execute(self._q[query], params).fetchall()
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if retry:
                    first = (str(exc).strip().splitlines() or ["unavailable"])[0]
                    raise SettingsUnavailable(f"cannot read route settings: {first}") from exc
        raise AssertionError("unreachable")

    def get(self, route_code: str, *, fresh: bool = False) -> RouteHttpSettings | None:
        """The route's settings (None: no such route). ``fresh`` bypasses the cache."""
        now = time.monotonic()
        cached = self._cache.get(route_code)
        if cached is not None and not fresh and cached.expires > now:
            return cached.settings
        rows = self._fetch("route_http_settings", {"route_code": route_code})
        settings = None
        if rows:
            creds = self._fetch("route_active_credentials", {"route_code": route_code})
            settings = _build(rows[0], creds)
        self._cache[route_code] = _Cached(settings, now + self._ttl_s)
        return settings

    def occurred_at(self, event_ref: str) -> dt.datetime | None:
        """When the event happened (its outbox row), for the body's ``timestamp``."""
        try:
            rows = self._fetch("event_occurred_at", {"event_ref": event_ref})
        except psycopg.DataError:
            return None
        return rows[0]["occurred_at"] if rows else None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __del__(self) -> None:
        # A registry is usually kept for the life of a worker and never closed;
        # when it goes away, its connections go with it.
        pool = getattr(self, "_pool", None)
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.close(timeout=1)


def _build(row: dict[str, Any], creds: list[dict[str, Any]]) -> RouteHttpSettings:
    secrets = tuple((c["secret"], c["valid_until"]) for c in creds if c["kind"] == "webhook_secret")
    keys = tuple((c["secret"], c["valid_until"]) for c in creds if c["kind"] == "signing_key")
    tokens = [c["secret"] for c in creds if c["kind"] == "access_token" and c["valid_until"] is None]
    return RouteHttpSettings(
        route_code=row["route_code"],
        event_type=row["event_type"],
        target_kind=row["target_kind"],
        target_ref=row["target_ref"],
        enabled=bool(row["enabled"]),
        dry_run=bool(row["dry_run"]),
        live_refusal=row["refusal"],
        timeout_s=float(row["timeout_s"]),
        connect_timeout_s=float(row["connect_timeout_s"]),
        allow_networks=parse_networks(row["allow_networks"] or ()),
        webhook_secrets=secrets,
        access_token=tokens[0] if tokens else None,
        signature=str(row.get("signature") or "hmac"),
        signing_keys=keys,
    )
