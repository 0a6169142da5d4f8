"""`make bench` ends with one table of what the benches recorded, also written as markdown."""
from __future__ import annotations

from tests.bench import table


def test_recorded_rows_print_as_one_table_and_markdown(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(table, "ROWS", [])
    table.record("Slack ack p99", "9.1 ms", "3.0 ms bolt no-op", 3.03, "≤ 4×", True)
    table.record("sweep | 10k open", "95.0 ms", "", None, "< 50 ms", False)
    md = tmp_path / "var" / "bench.md"
    table.print_table(md)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["figure", "carebot", "peer", "or", "floor", "ratio", "goal", "met"]
    assert "3.03×" in lines[2] and lines[2].endswith("yes")
    assert lines[3].endswith("NO")  # an unmet goal stands out
    assert md.read_text().splitlines() == [
        "| figure | carebot | peer or floor | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        "| Slack ack p99 | 9.1 ms | 3.0 ms bolt no-op | 3.03× | ≤ 4× | yes |",
        "| sweep \\| 10k open | 95.0 ms |  |  | < 50 ms | NO |"]
