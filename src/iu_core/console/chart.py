"""The overview's chart, drawn on the server as inline SVG: no chart library, no script.

Bars: attempts per minute over the last hour (sent, and failed stacked on
top). Line: the worst lag of each minute (event written -> delivered), on its
own scale at the right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 52, 14, 26


@dataclass(frozen=True, slots=True)
class Minute:
    minute: dt.datetime
    sent: int
    failed: int
    lag_s: float


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    for factor in (1, 2, 5, 10):
        if top <= factor * step:
            return float(factor * step)
    return float(10 * step)


def _lag_label(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.0f}m"
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s"
    return f"{seconds * 1000:.0f}ms"


def render(minutes: Sequence[Minute]) -> Markup:
    """The SVG element (safe to put into a template as is: it holds numbers only)."""
    n = max(len(minutes), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count_max = _nice(max((m.sent + m.failed for m in minutes), default=0))
    lag_max = _nice(max((m.lag_s for m in minutes), default=0.0))
    slot = plot_w / n
    bar_w = max(slot - 2, 1)
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="deliveries per minute and lag, last hour">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - frac)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{count_max * frac:.0f}</text>"
        )
        parts.append(
            f'<text x="{LEFT + plot_w + 4}" y="{y + 4:.1f}" class="axis lag">'
            f"{_lag_label(lag_max * frac)}</text>"
        )
    points: list[str] = []
    for i, m in enumerate(minutes):
        x = LEFT + i * slot + 1
        sent_h = plot_h * m.sent / count_max
        failed_h = plot_h * m.failed / count_max
        base = TOP + plot_h
        title = f"{m.minute:%H:%M} sent {m.sent}, failed {m.failed}, lag {_lag_label(m.lag_s)}"
        if m.sent:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - sent_h:.1f}" width="{bar_w:.1f}" '
                f'height="{sent_h:.1f}" class="sent"><title>{title}</title></rect>'
            )
        if m.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{base - sent_h - failed_h:.1f}" width="{bar_w:.1f}" '
                f'height="{failed_h:.1f}" class="failed"><title>{title}</title></rect>'
            )
        points.append(f"{x + bar_w / 2:.1f},{TOP + plot_h * (1 - m.lag_s / lag_max):.1f}")
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" class="lagline"/>')
        first, last = minutes[0].minute, minutes[-1].minute
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="axis">{first:%H:%M}</text>')
        parts.append(
            f'<text x="{LEFT + plot_w}" y="{HEIGHT - 8}" class="axis" text-anchor="end">'
            f"{last:%H:%M} UTC</text>"
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
        f"bars: attempts per minute (sent / failed) · line: worst lag</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
