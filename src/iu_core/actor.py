"""Who acts: the name every audited change and structure operation records."""

from __future__ import annotations

import getpass
import os
from contextvars import ContextVar

ACTOR_ENV = "IU_CORE_ACTOR"

# Set for the length of one command by ``iu-core --actor NAME``.
_named: ContextVar[str | None] = ContextVar("iu_core_actor", default=None)


def name_actor(name: str | None) -> None:
    """Make ``name`` the actor of what follows in this context (None: forget it)."""
    _named.set(name.strip() if name and name.strip() else None)


def default_actor() -> str:
    """``--actor``, else ``$IU_CORE_ACTOR``, else the operating-system user (never the database role)."""
    named = _named.get() or os.environ.get(ACTOR_ENV, "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "iu-core"
