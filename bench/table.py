"""The benchmark's one table: each of our figures beside the figure it is compared with."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table: our figure beside the one it is compared with.

    ``compare`` is ``"ratio"`` (ours / reference) or ``"diff"`` (ours - reference, in the
    unit); ``goal`` the largest value of that comparison that meets the goal, if any.
    """

    section: str
    case: str
    ours: float | None
    reference_name: str
    reference: float | None
    unit: str = "us"
    compare: str = "ratio"
    goal: float | None = None
    note: str = ""
    at_least: bool = False

    @property
    def value(self) -> float | None:
        if self.ours is None or self.reference is None:
            return None
        if self.compare == "diff":
            return self.ours - self.reference
        return self.ours / self.reference

    @property
    def met(self) -> bool | None:
        """Whether the comparison meets the goal; ``None`` when the row has no goal."""
        if self.goal is None:
            return None
        value = self.value
        if value is None:
            return False
        return value >= self.goal if self.at_least else value <= self.goal

    def cells(self) -> list[str]:
        value = self.value
        if value is None:
            shown = "-"
        elif self.compare == "diff":
            shown = f"{value:+.1f} {self.unit}"
        else:
            shown = f"{value:.2f}x"
        goal = ""
        if self.goal is not None:
            relation = ">=" if self.at_least else "<="
            bound = (
                f"{relation} {self.goal:+.1f} {self.unit}"
                if self.compare == "diff"
                else (
                    f"{relation} {self.goal:.2f}x"
                    if self.goal >= 1 or self.compare == "ratio"
                    else ""
                )
            )
            goal = f"{bound} {'meets' if self.met else 'MISSES'}"
        return [
            self.case,
            _figure(self.ours, self.unit),
            f"{self.reference_name} {_figure(self.reference, self.unit)}".strip(),
            shown,
            goal,
            self.note,
        ]


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "us":
        return f"{value:.1f} us"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return f"{value:.2f} {unit}"


def print_table(rows: Sequence[Row]) -> None:
    headers = ["case", "ours", "beside", "ratio", "goal", ""]
    table = [row.cells() for row in rows]
    widths = [max(len(headers[i]), *(len(cells[i]) for cells in table)) for i in range(5)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    section = None
    print(line)
    print("-" * len(line))
    for row, cells in zip(rows, table, strict=True):
        if row.section != section:
            section = row.section
            print(f"\n{section}")
        text = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
        print(("  " + text + ("  " + cells[5] if cells[5] else "")).rstrip())
