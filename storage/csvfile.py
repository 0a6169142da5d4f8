"""Reading an import file (contacts, rota, medicines): every row checked, every bad line
listed with its number, and nothing written unless the whole file is clean."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from storage.privacy import ref_problem

MAX_LISTED = 200  # bad lines named one by one; the rest are counted


class ImportRejected(Exception):
    def __init__(self, problems: list[str], total_bad: int):
        self.problems, self.total_bad = problems, total_bad
        super().__init__("\n".join(problems))


@dataclass
class ImportResult:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    clients_written: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def when(text: str, zone: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(UTC)


def personal_refs(refs: dict[str, str], when: datetime | None, check=ref_problem) -> list[str]:
    """Refs shaped like an NHS number or a date of birth (judged against the row's own date),
    named without echoing them: they would travel into every post and audit row."""
    day = when.date() if when else None
    return [f"{name} {why}; use an opaque ref like C-7F3K" for name, value in refs.items()
            if value and (why := check(value, day))]


def rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRejected([f"{path.name}: line 1: missing column(s) {', '.join(missing)}; "
                                  f"expected {','.join(columns)}"], 1)
        for row in reader:
            yield reader.line_num, row


def checked(path: Path, columns: list[str], parse) -> Iterator[dict]:
    """Parsed rows while the file is clean; at the end, ImportRejected listing every bad row.

    Callers write inside one transaction, so the rejection rolls back what was written.
    """
    problems: list[str] = []
    bad = 0
    for line, row in rows(path, columns):
        try:
            parsed = parse(row)
        except ValueError as exc:
            bad += 1
            if len(problems) < MAX_LISTED:
                problems.append(f"{path.name}: line {line}: {exc}")
            continue
        if not bad:  # once the file is rejected, only keep checking the rest
            yield parsed
    if bad:
        if bad > MAX_LISTED:
            problems.append(f"… and {bad - MAX_LISTED} more bad rows")
        raise ImportRejected(problems, bad)
