"""The benchmark's ratios as a picture: one bar per row, its goal marked, grouped by section.

An SVG written by hand (no plotting library to install): the docs show it above the full
table, which stays the reference. Only rows compared as a ratio are drawn; a bar's length
is its ratio on a logarithmic scale, so 0.5x and 2x are as far from 1x, and its colour says
whether it meets its goal (rows without a goal are grey).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Final

from bench.table import Row

__all__ = ["chart_svg", "write_chart"]

_WIDTH: Final = 900
_LABEL: Final = 380  # the case names' column
_BAR_AREA: Final = _WIDTH - _LABEL - 90
_ROW: Final = 18
_SECTION: Final = 28
_LOWEST: Final = 0.1  # the scale's ends, as ratios
_HIGHEST: Final = 10.0
_COLOURS: Final = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}


def _x(ratio: float) -> float:
    """Where ``ratio`` falls on the logarithmic scale, from the bars' left edge."""
    clamped = min(max(ratio, _LOWEST), _HIGHEST)
    span = math.log10(_HIGHEST) - math.log10(_LOWEST)
    return _LABEL + (math.log10(clamped) - math.log10(_LOWEST)) / span * _BAR_AREA


def chart_svg(rows: Sequence[Row], *, title: str) -> str:
    """The SVG text for the ratio rows among ``rows``."""
    drawn = [row for row in rows if row.compare == "ratio" and row.value is not None]
    parts: list[str] = []
    y = 40.0
    section = None
    for row in drawn:
        if row.section != section:
            section = row.section
            y += _SECTION - _ROW
            parts.append(f'<text x="8" y="{y:.0f}" font-weight="bold">{escape(section)}</text>')
            y += _ROW
        value = row.value
        assert value is not None
        start, end = _x(1.0), _x(value)
        left, width = min(start, end), max(abs(end - start), 1.0)
        parts.append(f'<text x="16" y="{y + 12:.0f}">{escape(row.case)}</text>')
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 3:.0f}" width="{width:.1f}" height="{_ROW - 6}" '
            f'fill="{_COLOURS[row.met]}"><title>{escape(row.case)}: {value:.2f}x of '
            f"{escape(row.reference_name)}</title></rect>"
        )
        parts.append(f'<text x="{_LABEL + _BAR_AREA + 8}" y="{y + 12:.0f}">{value:.2f}x</text>')
        if row.goal is not None:
            goal = _x(row.goal)
            parts.append(
                f'<line x1="{goal:.1f}" y1="{y + 1:.0f}" x2="{goal:.1f}" y2="{y + _ROW - 1:.0f}" '
                'stroke="#000" stroke-width="2"/>'
            )
        y += _ROW
    height = y + 30
    axis = [
        f'<line x1="{_x(1.0):.1f}" y1="30" x2="{_x(1.0):.1f}" y2="{y:.0f}" stroke="#555" '
        'stroke-dasharray="3,3"/>'
    ]
    for tick in (0.1, 0.5, 1.0, 2.0, 5.0, 10.0):
        axis.append(
            f'<text x="{_x(tick):.1f}" y="{y + 18:.0f}" text-anchor="middle">{tick:g}x</text>'
        )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {_WIDTH} {height:.0f}" font-family="sans-serif" font-size="12">',
            f'<rect width="{_WIDTH}" height="{height:.0f}" fill="#fff"/>',
            f'<text x="8" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
            *axis,
            *parts,
            "</svg>",
            "",
        ]
    )


def write_chart(rows: Sequence[Row], path: Path, *, title: str) -> None:
    """Write the chart of ``rows`` to ``path``."""
    path.write_text(chart_svg(rows, title=title), encoding="utf-8")
