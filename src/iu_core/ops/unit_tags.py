"""Tags of information units: labels an operator gives units, which route filters match (``tag:NAME``).

Each tag added or removed is one row of the operator audit (object ``unit``,
its code), written by a trigger, so a change made with psql is recorded too.
"""

from __future__ import annotations

from collections.abc import Sequence

from iu_core import domain
from iu_core.codes import validate_code
from iu_core.ops.change import Changed, Conn, change, q


def _checked(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(validate_code("tag", t) for t in tags))


def tags_of(conn: Conn, code: str) -> list[str]:
    """The tags of unit ``code``, sorted (NotFound for an unknown unit)."""
    domain.get_unit(conn, code)
    return [str(r[0]) for r in conn.execute(q("unit_tags"), {"code": code}).fetchall()]


def language_of(conn: Conn, code: str) -> str:
    """The language of unit ``code`` as lang: matches it (en or vi, from its text)."""
    row = conn.execute(q("unit_language"), {"code": code}).fetchone()
    return str(row[0]) if row else ""


def tag(conn: Conn, code: str, tags: Sequence[str], *, actor: str | None = None) -> Changed:
    """Give unit ``code`` the tags it lacks of ``tags``."""
    wanted = _checked(tags)
    domain.get_unit(conn, code)
    with change(conn, "units tag", actor):
        added = [str(r[0]) for r in conn.execute(q("unit_tag"), {"code": code, "tags": wanted}).fetchall()]
    data = {"code": code, "added": sorted(added), "tags": tags_of(conn, code)}
    if not added:
        return Changed(False, f"unit {code} already has {', '.join(wanted)}; nothing changed", data)
    return Changed(True, f"unit {code} tagged {', '.join(sorted(added))}", data)


def untag(conn: Conn, code: str, tags: Sequence[str], *, actor: str | None = None) -> Changed:
    """Take ``tags`` off unit ``code`` (those it has)."""
    wanted = _checked(tags)
    domain.get_unit(conn, code)
    with change(conn, "units untag", actor):
        removed = [
            str(r[0]) for r in conn.execute(q("unit_untag"), {"code": code, "tags": wanted}).fetchall()
        ]
    data = {"code": code, "removed": sorted(removed), "tags": tags_of(conn, code)}
    if not removed:
        return Changed(False, f"unit {code} has none of {', '.join(wanted)}; nothing changed", data)
    return Changed(True, f"unit {code} no longer tagged {', '.join(sorted(removed))}", data)
