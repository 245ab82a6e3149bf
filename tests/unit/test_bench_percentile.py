"""The benchmarks' nearest-rank percentile: the figure BENCHMARKS.md reports as p50 / p99."""

from __future__ import annotations

import pytest
from bench.results import percentile


def test_the_99th_percentile_of_a_hundred_values_is_the_99th_not_the_largest() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile(values, 100) == 100.0


@pytest.mark.parametrize(
    ("count", "pct", "rank"),
    [(1, 99, 1), (7, 50, 4), (10, 99, 10), (200, 99, 198), (1000, 99, 990), (1000, 0, 1)],
)
def test_nearest_rank_is_the_smallest_rank_reaching_the_share(count: int, pct: float, rank: int) -> None:
    values = [float(v) for v in range(count, 0, -1)]  # unsorted on purpose
    assert percentile(values, pct) == float(rank)


def test_no_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
