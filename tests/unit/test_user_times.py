"""Times and durations a user types: one reader for every ``--since`` and every age."""

from __future__ import annotations

import datetime as dt

import pytest

from iu_core.errors import IuCoreError
from iu_core.ops.times import parse_duration, parse_timestamp

UTC = dt.UTC
MOMENT = dt.datetime(2026, 12, 7, 11, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T11:09:15+00:00",  # what --json and `audit` print
        "2026-12-07T11:09:15Z",
        "2026-12-07T11:09:15z",
        "2026-12-07T12:09:15+01:00",
        "2026-12-07 11:09:15",
        "2026-12-07T11:09:15",
        "2026-12-07 11:09:15 UTC",  # what `prune` prints
        " 2026-12-07T11:09:15.000+00:00 ",
    ],
)
def test_every_printed_form_reads_as_the_same_moment(text: str) -> None:
    assert parse_timestamp(text) == MOMENT


def test_a_date_alone_is_its_midnight_utc() -> None:
    assert parse_timestamp("2026-12-01") == dt.datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "2026-12-07T25:00", "", "99999-01-01"])
def test_anything_else_is_one_clear_error(text: str) -> None:
    with pytest.raises(IuCoreError, match=r"--since: cannot read .* use ISO 8601"):
        parse_timestamp(text, "--since")


def test_durations_within_bounds() -> None:
    assert parse_duration("30d") == dt.timedelta(days=30)
    assert parse_duration("2w") == dt.timedelta(weeks=2)
    assert parse_duration("90m", minimum=dt.timedelta(hours=1)) == dt.timedelta(minutes=90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("999999999d", "too long: at most 36500d"),
        ("999999999999999w", "too long"),
        ("59m", "too short: at least 1h"),
        ("5 years", "cannot read"),
        ("-3d", "cannot read"),
        ("1e9d", "cannot read"),
    ],
)
def test_absurd_durations_are_refused_before_any_arithmetic(text: str, message: str) -> None:
    with pytest.raises(IuCoreError, match=message):
        parse_duration(text, "--older-than", minimum=dt.timedelta(hours=1))
