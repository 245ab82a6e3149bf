"""What a user types for a time or a duration, read one way everywhere (CLI and console).

A time is ISO 8601 as IU Core prints it: ``2026-12-07``, ``2026-12-07T11:09:15``,
``2026-12-07T11:09:15Z``, ``2026-12-07T11:09:15+00:00``, ``2026-12-07 11:09:15.123456+01:00``,
or ``2026-12-07 11:09:15 UTC``; without a zone it is UTC. A duration is a whole
number and a unit (``90s``, ``30m``, ``12h``, ``30d``, ``2w``), checked against
the bounds of what it sets before any arithmetic, so an absurd value is one
clear line, never an overflow.
"""

from __future__ import annotations

import datetime as dt
import re

from iu_core.errors import IuCoreError

TIME_EXAMPLES = "2026-12-07, 2026-12-07T11:09:15Z or 2026-12-07T11:09:15+00:00"
_UTC_WORD = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)

_DURATION = re.compile(r"^\s*(?P<n>\d{1,15})\s*(?P<unit>[smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# The longest duration anything in IU Core keeps or looks back: 100 years
# (retention's keep_for has the same bound in the database).
MAX_DURATION = dt.timedelta(days=36500)


def parse_timestamp(text: str, what: str = "time") -> dt.datetime:
    """An aware datetime from ISO 8601 (``Z``, an offset, or none: UTC); else one clear error."""
    value = text.strip()
    if value.endswith("z"):
        value = value[:-1] + "Z"
    if _UTC_WORD.search(value):
        value = _UTC_WORD.sub("", value) + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise IuCoreError(
            f"{what}: cannot read {text!r} as a time; use ISO 8601, e.g. {TIME_EXAMPLES}"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _words(seconds: int) -> str:
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(
    text: str,
    what: str = "duration",
    *,
    minimum: dt.timedelta = dt.timedelta(0),
    maximum: dt.timedelta = MAX_DURATION,
) -> dt.timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``3600s`` within [minimum, maximum]; else one clear error."""
    match = _DURATION.match(text)
    if match is None:
        raise IuCoreError(f"{what}: cannot read {text!r}; use a whole number and a unit, e.g. 30d, 12h, 2w")
    seconds = int(match["n"]) * _SECONDS[match["unit"]]
    low, high = int(minimum.total_seconds()), int(maximum.total_seconds())
    if seconds < low:
        raise IuCoreError(f"{what} {text.strip()!r} is too short: at least {_words(low)}")
    if seconds > high:
        raise IuCoreError(f"{what} {text.strip()!r} is too long: at most {_words(high)} (100 years)")
    return dt.timedelta(seconds=seconds)
