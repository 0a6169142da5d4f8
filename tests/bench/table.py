"""The one table `make bench` prints at the end: each bench records its rows here (a minimal
stand-in; H12's fuller module replaces it)."""
from __future__ import annotations

ROWS: list[tuple[str, str, str, float | None, str, bool]] = []


def record(figure: str, carebot: str, peer: str, ratio: float | None, goal: str,
           met: bool) -> None:
    ROWS.append((figure, carebot, peer, ratio, goal, met))


def print_table() -> None:
    if not ROWS:
        return
    head = ("figure", "carebot", "peer or floor", "ratio", "goal", "met")
    cells = [head] + [(f, c, p, "—" if r is None else f"{r:.2f}", g, "yes" if m else "NO")
                      for f, c, p, r, g, m in ROWS]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    for row in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
