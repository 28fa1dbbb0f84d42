"""Small charts drawn on the server as inline SVG: no script, no library, no CDN.

Each chart is an ``<svg role="img">`` named by its ``<title>``; the page puts the numbers
it draws in a table beside it, for screen readers and for reading exact values.  Colours
come from classes in exportd.css (the page's CSP allows no inline style).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 26  # room for the axes' labels
GRID_LINES = 4


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: nothing to draw there (no data that hour)
    css: str  # the class that colours it


def bars(
    chart_id: str, title: str, labels: Sequence[str], series: Series, fmt: Callable[[float], str]
) -> Markup:
    """One bar per label (an hour, say), from zero."""
    top = _ceiling(max((v or 0.0 for v in series.values), default=0.0))
    plot = _Plot(len(labels), top)
    slot = plot.slot
    shapes = []
    for i, value in enumerate(series.values):
        if not value:
            continue
        y = plot.y(value)
        shapes.append(
            f'<rect class="{series.css}" x="{plot.x(i) - slot * 0.4:.1f}" y="{y:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{plot.bottom - y:.1f}">'
            f"<title>{escape(labels[i])}: {escape(fmt(value))}</title></rect>"
        )
    return _svg(chart_id, title, plot, labels, fmt, shapes, [series])


def lines(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    top: float | None = None,
) -> Markup:
    """One line per series, broken where a value is missing; a dot on every value."""
    highest = max((v or 0.0 for s in series for v in s.values), default=0.0)
    plot = _Plot(len(labels), top if top is not None else _ceiling(highest))
    shapes = []
    for s in series:
        points = [(plot.x(i), plot.y(v)) for i, v in enumerate(s.values) if v is not None]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{plot.x(i):.1f},{plot.y(value):.1f}")
        for run in runs:
            if len(run) > 1:
                shapes.append(f'<polyline class="line {s.css}" points="{" ".join(run)}"/>')
        shapes.extend(
            f'<circle class="dot {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>' for x, y in points
        )
    return _svg(chart_id, title, plot, labels, fmt, shapes, series)


class _Plot:
    def __init__(self, count: int, top: float) -> None:
        self.count = max(count, 1)
        self.top = top if top > 0 else 1.0
        self.bottom = HEIGHT - BOTTOM
        self.slot = (WIDTH - LEFT - RIGHT) / self.count

    def x(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - TOP) * min(value, self.top) / self.top


def _svg(
    chart_id: str,
    title: str,
    plot: _Plot,
    labels: Sequence[str],
    fmt: Callable[[float], str],
    shapes: list[str],
    series: Sequence[Series],
) -> Markup:
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" focusable="false">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
    ]
    for step in range(GRID_LINES + 1):
        value = plot.top * step / GRID_LINES
        y = plot.y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 6))  # six labels at most: they must not collide
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text class="tick" x="{plot.x(i):.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.extend(shapes)
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch {s.css}" aria-hidden="true"></span>{escape(s.name)}</li>'
        for s in series
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')  # noqa: S704 - escaped above


def _ceiling(value: float) -> float:
    """A round number at or above ``value`` for the top of the scale: 1, 2, 2.5 or 5
    times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power:
            return step * power
    return 10.0 * power
