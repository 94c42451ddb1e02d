"""Score charts as inline SVG, drawn on the server: no script, nothing fetched by the browser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class ChartPoint:
    """One run on a chart: its score (a share, 0 to 1) and what its tooltip says."""

    score: float
    label: str


def _clamp(score: float) -> float:
    return min(1.0, max(0.0, score))


def _coordinates(
    points: Sequence[ChartPoint], left: float, top: float, width: float, height: float
) -> list[tuple[float, float]]:
    # One run alone sits in the middle rather than on the axis.
    step = width / (len(points) - 1) if len(points) > 1 else 0.0
    start = left if len(points) > 1 else left + width / 2
    return [
        (round(start + index * step, 1), round(top + (1 - _clamp(point.score)) * height, 1))
        for index, point in enumerate(points)
    ]


def score_chart(
    points: Sequence[ChartPoint],
    *,
    title: str,
    first_label: str = "",
    last_label: str = "",
    width: int = 640,
    height: int = 220,
) -> Markup:
    """A line chart of scores over runs, 0 % to 100 %, each run a point with a tooltip.

    Args:
        points: The runs, oldest first.
        title: What the chart shows, for screen readers and the tooltip of the whole chart.
        first_label: Text under the first run (its date).
        last_label: Text under the last run.
        width: Width of the drawing in SVG units; the chart scales to its container.
        height: Height of the drawing in SVG units.
    """
    left, right, top, bottom = 44.0, 12.0, 12.0, 28.0
    plot_width, plot_height = width - left - right, height - top - bottom
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for share in (0.0, 0.5, 1.0):
        y = round(top + (1 - share) * plot_height, 1)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y}" x2="{width - right}" y2="{y}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4}" text-anchor="end">'
            f"{int(share * 100)}%</text>"
        )
    coordinates = _coordinates(points, left, top, plot_width, plot_height)
    if len(coordinates) > 1:
        path = " ".join(f"{x},{y}" for x, y in coordinates)
        parts.append(f'<polyline class="line" points="{path}"/>')
    for (x, y), point in zip(coordinates, points, strict=True):
        parts.append(
            f'<circle class="point" cx="{x}" cy="{y}" r="4">'
            f"<title>{escape(point.label)}</title></circle>"
        )
    baseline = height - 8
    if first_label:
        parts.append(f'<text class="axis" x="{left}" y="{baseline}">{escape(first_label)}</text>')
    if last_label and len(points) > 1:
        parts.append(
            f'<text class="axis" x="{width - right}" y="{baseline}" text-anchor="end">'
            f"{escape(last_label)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(
    points: Sequence[ChartPoint], *, title: str, width: int = 120, height: int = 28
) -> Markup:
    """A small trend line for a table cell; the last run is marked."""
    coordinates = _coordinates(points, 2.0, 3.0, width - 4.0, height - 6.0)
    parts = [
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    if len(coordinates) > 1:
        path = " ".join(f"{x},{y}" for x, y in coordinates)
        parts.append(f'<polyline class="line" points="{path}"/>')
    if coordinates:
        x, y = coordinates[-1]
        parts.append(f'<circle class="point" cx="{x}" cy="{y}" r="2.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
