"""Values as a person reads them: badges in words, relative times with the exact time, labels."""

from __future__ import annotations

import datetime as dt

from iu_core.console import humane

NOW = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def test_a_relative_time_keeps_the_exact_time_in_its_title() -> None:
    out = humane.ago(NOW - dt.timedelta(minutes=3), NOW)
    assert out == (
        '<time datetime="2026-05-01T11:57:00+00:00" title="2026-05-01 11:57:00 UTC">3 min ago</time>'
    )
    assert ">in 20.0 s<" in humane.ago(NOW + dt.timedelta(seconds=20), NOW)
    assert ">just now<" in humane.ago(NOW, NOW)
    assert ">2026-04-01<" in humane.ago(NOW - dt.timedelta(days=30), NOW)
    assert humane.ago(None) == "—"


def test_labels_and_values_are_words_not_columns_or_reprs() -> None:
    assert humane.label("created_at") == "created"
    assert humane.label("timeout_s") == "timeout (s)"
    assert humane.label("max_delay_ms") == "longest retry delay (ms)"
    assert humane.label("rate_limit_per_s") == "rate limit (per s)"
    assert humane.label("event_type") == "event type"
    assert [humane.plain(v) for v in (True, False, None, "", [1, 2], ())] == [
        "yes",
        "no",
        "—",
        "—",
        "1, 2",
        "—",
    ]
    assert humane.changes({"dry_run": True, "updated_at": 1}, {"dry_run": False, "updated_at": 2}) == [
        ("dry-run", "yes", "no")
    ]


def test_every_badge_says_in_words_what_its_colour_says() -> None:
    assert humane.circuit_badge("closed") == '<span class="badge ok">circuit closed: delivering</span>'
    assert "badge bad" in humane.circuit_badge("open") and "paused" in humane.circuit_badge("open")
    assert "badge warn" in humane.circuit_badge("half-open") and "testing" in humane.circuit_badge(
        "half-open"
    )
    assert humane.lag_badge(None) == '<span class="badge ok">nothing waiting</span>'
    assert "on time" in humane.lag_badge(5) and "badge ok" in humane.lag_badge(5)
    assert "behind" in humane.lag_badge(120) and "badge warn" in humane.lag_badge(120)
    assert "far behind" in humane.lag_badge(3600) and "badge bad" in humane.lag_badge(3600)
    assert "no attempts" in humane.rate_badge(0, 0)
    assert "100 % sent: healthy" in humane.rate_badge(10, 0)
    assert "50.0 % sent: failing" in humane.rate_badge(1, 1) and "badge bad" in humane.rate_badge(1, 1)
    assert "<script>" not in humane.badge("ok", "<script>")
