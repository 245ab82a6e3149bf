"""Connections: the one place that turns settings into a live PostgreSQL connection."""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core.errors import IuCoreError
from iu_core.settings import Settings

MIN_SERVER_VERSION = 150000


def resolve_url(settings: Settings) -> str:
    """The URL to connect to: the user's, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    from iu_core.embedded import ensure_server

    return ensure_server(settings.data_dir)


def connect(url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection; an unreachable or unusable server is a one-line user error."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        raise IuCoreError(f"cannot connect to the database: {first}") from exc
    except psycopg.ProgrammingError as exc:
        raise IuCoreError(f"invalid database URL: {exc}") from exc
    if conn.info.server_version < MIN_SERVER_VERSION:
        version = conn.info.server_version
        conn.close()
        raise IuCoreError(f"PostgreSQL 15 or newer is required (server is {version})")
    return conn

