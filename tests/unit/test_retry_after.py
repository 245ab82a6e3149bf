"""Retry-After, as seconds or as an HTTP date, bounded on both sides."""

from __future__ import annotations

from email.utils import format_datetime

from iu_core.targets.classify import RETRY_AFTER_MAX_S, parse_retry_after


def test_retry_after_parsing() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(format_datetime(now + dt.timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after(format_datetime(now - dt.timedelta(days=1), usegmt=True), now) == 1.0
    assert parse_retry_after("0", now) == 1.0
    assert parse_retry_after("10000000", now) == RETRY_AFTER_MAX_S
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) is None
