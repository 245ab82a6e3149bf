"""Who acts: the name every audited change and structure operation records."""

from __future__ import annotations

import getpass
import os

ACTOR_ENV = "IU_CORE_ACTOR"


def default_actor() -> str:
    """``$IU_CORE_ACTOR``, else the operating-system user (never the database role)."""
    named = os.environ.get(ACTOR_ENV, "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "iu-core"
