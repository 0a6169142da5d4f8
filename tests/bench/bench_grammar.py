"""Tokenize lines of 50 KB, 100 KB and 500 KB of the shapes that are slow for a naive
tokenizer (one long word, quotes never closed, many short words), and bind a note of 2,000
characters. Prints seconds per line and the 100 KB / 50 KB ratio (linear: about 2); the old
shlex tokenizer took 14 s on 500 KB of one word.
"""
from __future__ import annotations

import time

from handlers.grammar import bind, parse_spec, split_line, tokenize

SHAPES = {"one long word": "x", "unclosed quotes": "“a ", "short words": "ab ",
          "quoted pairs": '"a b" ', "apostrophes": "client's "}


def seconds_between(fn, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    for name, unit in SHAPES.items():
        times = {kb: seconds_between(tokenize, unit * (kb * 1000 // len(unit))) for kb in (50, 100, 500)}
        print(f"{name:16s} 50 KB {times[50] * 1000:7.1f} ms · 100 KB {times[100] * 1000:7.1f} ms"
              f" · 500 KB {times[500] * 1000:7.1f} ms · 100/50 ratio "
              f"{times[100] / times[50]:.2f}")
    line = "done C-7F3K " + "client's daughter was there " * 71
    tokens = split_line(line)[1:]
    spent = seconds_between(lambda: [bind(parse_spec("ref note*"), (), tokens, "u", "e")
                              for _ in range(1000)])
    print(f"bind a {len(line) - 12:,}-character note: {spent:.3f} ms per line")


if __name__ == "__main__":
    main()
