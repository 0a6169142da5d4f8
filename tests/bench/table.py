"""The one table `make bench` ends with (minimal; issue 15): each bench records its figures."""
from __future__ import annotations

ROWS: list[tuple[str, str, str, float | None, str, bool]] = []


def record(figure: str, carebot: str, peer: str, ratio: float | None, goal: str,
           met: bool) -> None:
    ROWS.append((figure, carebot, peer, ratio, goal, met))


def print_table() -> None:
    head = ("figure", "carebot", "peer or floor", "ratio", "goal", "met")
    rows = [head] + [(f, c, p, "" if r is None else f"{r:.2f}", g, "yes" if m else "NO")
                     for f, c, p, r, g, m in ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
