"""The figures of one run: repetitions, medians, percentiles, ratios, and the results JSON."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).with_name("results")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    # The smallest rank whose share reaches pct: the 99th of 100 values, not the
    # 100th (round(99.5) is 100 under Python's half-to-even rounding).
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered) - 1e-9)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One measured quantity: every repetition's value and their median."""

    key: str  # e.g. "worker.sql.c4"
    label: str  # a reader's name for the row
    unit: str  # "events/s", "ms", "MB"
    values: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # per-figure notes (n, settings, p50/p99…)
    higher_is_better: bool = True

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median: the noise between repetitions."""
        m = self.median
        if not self.values or not m:
            return None
        return (max(self.values) - min(self.values)) / m

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["median"] = self.median
        out["spread"] = self.spread
        return out


@dataclass
class RunResults:
    meta: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # figure group -> why
    errors: dict[str, str] = field(default_factory=dict)  # figure group -> what failed

    def figure(self, key: str, label: str, unit: str, *, higher_is_better: bool = True) -> Figure:
        if key not in self.figures:
            self.figures[key] = Figure(key, label, unit, higher_is_better=higher_is_better)
        return self.figures[key]

    def median(self, key: str) -> float | None:
        fig = self.figures.get(key)
        return fig.median if fig else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "figures": {k: f.as_dict() for k, f in self.figures.items()},
            "skipped": self.skipped,
            "errors": self.errors,
        }

    def save(self, directory: Path = RESULTS_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"results-{stamp}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> RunResults:
        raw = json.loads(path.read_text(encoding="utf-8"))
        out = cls(meta=raw.get("meta", {}), skipped=raw.get("skipped", {}), errors=raw.get("errors", {}))
        for key, f in raw.get("figures", {}).items():
            out.figures[key] = Figure(
                key=key,
                label=f["label"],
                unit=f["unit"],
                values=list(f["values"]),
                extra=dict(f.get("extra", {})),
                higher_is_better=bool(f.get("higher_is_better", True)),
            )
        return out


def newest_results(directory: Path = RESULTS_DIR) -> Path | None:
    files = sorted(directory.glob("results-*.json"))
    return files[-1] if files else None
