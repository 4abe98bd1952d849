"""The chart ``make bench`` writes: well-formed SVG, one bar per ratio row, coloured by its
goal, with every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

import pytest

from bench.chart import chart_svg
from bench.table import Row

SVG: Final = "{http://www.w3.org/2000/svg}"

ROWS: Final = [
    Row("Requests", "reused token", 2.5, "no auth", 1.6, goal=1.5),
    Row("Requests", "first sight", 3.0, "floor", 2.0, goal=2.0),
    Row("Requests", "a <b> & c", 1.0, "floor", 2.0),
    Row("Memory", "held", 10.0, "floor", 4.0, compare="diff"),
    Row("Wire", "req/s", None, "no auth", 100.0),
]


def _root(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - the SVG the test itself just made


def _bars(svg: str) -> list[ET.Element]:
    rects = _root(svg).iter(f"{SVG}rect")
    return [rect for rect in rects if rect.find(f"{SVG}title") is not None]


def test_one_bar_per_ratio_row_with_a_figure() -> None:
    bars = _bars(chart_svg(ROWS, title="t"))
    assert len(bars) == 3  # not the diff row, not the row without a figure


@pytest.mark.parametrize(
    ("index", "colour"),
    [
        pytest.param(0, "#c62828", id="misses"),
        pytest.param(1, "#2e7d32", id="meets"),
        pytest.param(2, "#9e9e9e", id="no-goal"),
    ],
)
def test_a_bar_is_coloured_by_its_goal(index: int, colour: str) -> None:
    assert _bars(chart_svg(ROWS, title="t"))[index].get("fill") == colour


def test_text_is_escaped() -> None:
    svg = chart_svg(ROWS, title="<t>")
    texts = [element.text for element in _root(svg).iter(f"{SVG}text")]
    assert "a <b> & c" in texts
    assert "<t>" in texts


def test_a_longer_ratio_draws_a_longer_bar() -> None:
    rows = [Row("s", "small", 1.2, "r", 1.0), Row("s", "large", 3.0, "r", 1.0)]
    small, large = (float(bar.get("width", "0")) for bar in _bars(chart_svg(rows, title="t")))
    assert large > small
