"""Values as a person reads them: badges with colour and words, relative times, labels, plain values.

Registered on the console's Jinja environment (:func:`install`). Every badge
says in words what its colour says, so it reads the same without colour; a
relative time carries the exact time in its ``title``; a column name becomes
words and a Python value (``True``, ``None``, a list) becomes plain text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

# Tones: ok (green), warn (amber), bad (red), idle (grey). Each badge names its state in words too.
LAG_ON_TIME_S = 60.0
LAG_BEHIND_S = 600.0

# Column names as words, where the plain replacement of "_" would not do.
LABELS: dict[str, str] = {
    "iu_id": "IU id",
    "code": "code",
    "created_at": "created",
    "updated_at": "updated",
    "changed_at": "changed",
    "applied_at": "applied",
    "last_login_at": "last log-in",
    "valid_from": "valid from",
    "valid_to": "valid to",
    "dry_run": "dry-run",
    "target_ref": "target",
    "target_kind": "target kind",
    "max_attempts": "attempts at most",
    "base_delay_ms": "first retry after (ms)",
    "max_delay_ms": "longest retry delay (ms)",
    "disabled_reason": "why disabled",
    "operation_seq": "#",
    "operation_type": "operation",
    "source_ref": "source",
    "parent_code": "part of",
}


def badge(tone: str, text: str, title: str | None = None) -> Markup:
    extra = f' title="{escape(title)}"' if title else ""
    return Markup(f'<span class="badge {escape(tone)}"{extra}>{escape(text)}</span>')


def circuit_badge(circuit: str | None, open_until: dt.datetime | None = None) -> Markup:
    if circuit == "open":
        until = f" until {exact(open_until)}" if open_until else ""
        return badge("bad", f"circuit open: paused{until}")
    if circuit == "half-open":
        return badge("warn", "circuit half-open: testing")
    return badge("ok", "circuit closed: delivering")


def lag_badge(lag_s: float | None) -> Markup:
    """The age of the oldest event a route has not delivered yet."""
    if lag_s is None:
        return badge("ok", "nothing waiting")
    text = duration(lag_s)
    if lag_s < LAG_ON_TIME_S:
        return badge("ok", f"oldest waiting {text}: on time")
    if lag_s < LAG_BEHIND_S:
        return badge("warn", f"oldest waiting {text}: behind")
    return badge("bad", f"oldest waiting {text}: far behind")


def rate_badge(sent: int | None, failed: int | None) -> Markup:
    """The share of attempts that reached their target (skipped ones do not count)."""
    tried = (sent or 0) + (failed or 0)
    if tried == 0:
        return badge("idle", "no attempts")
    share = 100.0 * (sent or 0) / tried
    text = f"{share:.1f} % sent" if share < 100 else "100 % sent"
    tone = "ok" if share >= 99 else "warn" if share >= 90 else "bad"
    word = {"ok": "healthy", "warn": "some failing", "bad": "failing"}[tone]
    return badge(tone, f"{text}: {word}", f"{sent or 0} sent, {failed or 0} failed")


def mode_badge(mode: str | None, enabled: bool = True) -> Markup:
    if not enabled:
        return badge("bad", "disabled")
    if mode == "live":
        return badge("ok", "live")
    return badge("warn", "dry-run")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def millis(ms: float | None) -> str:
    return "—" if ms is None else duration(ms / 1000)


def exact(when: dt.datetime | None) -> str:
    """The exact time, UTC, to the second."""
    if when is None:
        return "—"
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(when: dt.datetime | dt.date | None, now: dt.datetime | None = None) -> Markup:
    """``3 min ago`` (or ``in 20 s``) with the exact time on hover, as a ``<time>`` element."""
    if when is None:
        return Markup("—")
    if not isinstance(when, dt.datetime):
        return Markup(f'<time datetime="{when.isoformat()}">{when.isoformat()}</time>')
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - when).total_seconds()
    if abs(seconds) < 5:
        text = "just now"
    elif seconds > 0:
        text = f"{duration(seconds)} ago"
    else:
        text = f"in {duration(-seconds)}"
    if abs(seconds) >= 7 * 86400:
        text = when.astimezone(dt.UTC).strftime("%Y-%m-%d")
    iso = when.astimezone(dt.UTC).isoformat()
    return Markup(f'<time datetime="{escape(iso)}" title="{escape(exact(when))}">{escape(text)}</time>')


def label(name: str) -> str:
    """A column name as words: ``created_at`` -> ``created``."""
    if name in LABELS:
        return LABELS[name]
    for suffix, unit in (("_at", ""), ("_ms", " (ms)"), ("_per_s", " (per s)"), ("_s", " (s)")):
        if name.endswith(suffix):
            return name[: -len(suffix)].replace("_", " ").strip() + unit
    return name.replace("_", " ").strip()


def plain(value: Any) -> str:
    """A value as text, never a Python repr: yes/no, "—", lists joined, mappings as JSON."""
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, dt.datetime):
        return exact(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(plain(v) for v in value) or "—"
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def value(item: Any) -> Markup:
    """:func:`plain`, but a time is relative with the exact time on hover."""
    if isinstance(item, dt.datetime):
        return ago(item)
    if isinstance(item, str) and len(item) >= 19 and item[4:5] == "-" and item[10:11] in "T ":
        try:
            return ago(dt.datetime.fromisoformat(item))
        except ValueError:
            pass
    return Markup(escape(plain(item)))


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
    """What an audit row changed, as (label, was, now), without bookkeeping columns."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return []
    out = []
    for key, new in after.items():
        if key in ("updated_at",) or before.get(key) == new:
            continue
        out.append((label(key), plain(before.get(key)), plain(new)))
    return out


FILTERS: dict[str, Callable[..., Any]] = {
    "ago": ago,
    "exact": exact,
    "label": label,
    "plain": plain,
    "value": value,
    "duration": duration,
    "millis": millis,
}
GLOBALS: dict[str, Callable[..., Any]] = {
    "circuit_badge": circuit_badge,
    "lag_badge": lag_badge,
    "rate_badge": rate_badge,
    "mode_badge": mode_badge,
    "changes": changes,
}


def install(env: Environment) -> None:
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS)
