"""The one table `make bench` prints at the end: every bench records its headline figures
against the goals of issue 15, beside a peer or floor measured in the same run."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEADERS = ("figure", "carebot", "peer or floor", "ratio", "goal", "met")
MARKDOWN = Path("var/bench.md")


@dataclass(frozen=True)
class Row:
    figure: str
    carebot: str
    peer: str
    ratio: float | None
    goal: str
    met: bool

    def cells(self) -> tuple[str, ...]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}×"
        return (self.figure, self.carebot, self.peer, ratio, self.goal,
                "yes" if self.met else "NO")


ROWS: list[Row] = []


def record(figure: str, carebot: str, peer: str, ratio: float | None, goal: str, met: bool) -> None:
    """One line of the table; `ratio` is carebot / peer (None when the goal is absolute)."""
    ROWS.append(Row(figure, carebot, peer, ratio, goal, bool(met)))


def text_table(rows: list[Row]) -> str:
    lines = [HEADERS, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(lines[0]), fmt(tuple("-" * w for w in widths)), *map(fmt, lines[1:])])


def markdown_table(rows: list[Row]) -> str:
    escape = lambda c: c.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(map(escape, r.cells())) + " |" for r in rows]
    return "\n".join(lines)


def print_table(markdown: Path | None = MARKDOWN) -> None:
    """Print what was recorded; also write it as markdown (for the README) unless None."""
    print(text_table(ROWS), flush=True)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(markdown_table(ROWS) + "\n")
        print(f"(also written to {markdown})")
