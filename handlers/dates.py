"""Dates typed by people ("in 6 weeks", "Friday", "1 Oct") as days in the team's zone.

dateparser reads the phrase against the team's local "now". A numeric date that reads two
ways (04/05/2027) is refused rather than guessed: a deadline a month out is worse than a
question.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import dateparser

from handlers.base import UserError

_NUMERIC = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})(?:[/.-]\d{2,4})?\s*$")


def parse_day(text: str | None, *, now: datetime, zone: ZoneInfo, future: bool,
              what: str, example: str) -> date:
    """The day a phrase means, or one clear line saying why not (nothing is written)."""
    text = (text or "").strip()
    if not text:
        raise UserError(f"Say the {what}. Example: {example}")
    numeric = _NUMERIC.match(text)
    if numeric and numeric[1] != numeric[2] and int(numeric[1]) <= 12 and int(numeric[2]) <= 12:
        raise UserError(f"{text!r} could be read two ways: write the month as a word, e.g. "
                        f"'4 May 2027' or 2027-05-04. Example: {example}")
    local_now = now.astimezone(zone).replace(tzinfo=None)
    parsed = dateparser.parse(text, languages=["en"], settings={
        "PREFER_DATES_FROM": "future" if future else "past",
        "RELATIVE_BASE": local_now, "DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first"})
    if parsed is None:
        raise UserError(f"I can't read {text!r} as a date. Example: {example}")
    day = parsed.date()
    if future and day < local_now.date():
        raise UserError(f"The {what} ({day:%-d %b %Y}) is in the past. Example: {example}")
    return day
