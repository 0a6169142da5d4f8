"""Masks identifying numbers and dates in free text before it is stored or posted.

Chat is not the care record: a note like "NHS 943 476 5919, DOB 12/03/1954" must never
reach a channel or the database as typed.
"""
from __future__ import annotations

import re

NHS_MASK = "[NHS no. removed]"
DOB_MASK = "[date removed]"

# Ten digits, optionally grouped 3-3-4 with spaces or hyphens, not part of a longer number.
_NHS = re.compile(r"(?<![\d])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\d])")
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DOB = re.compile(
    r"(?<![\d])(?:"
    r"\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})"  # 12/03/1954, 12-3-54, 12.03.1954
    r"|\d{4}-\d{1,2}-\d{1,2}"  # 1954-03-12
    r"|\d{1,2}(?:st|nd|rd|th)?\s+" + _MONTHS + r"\.?,?\s+\d{4}"  # 12 March 1954
    r"|" + _MONTHS + r"\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"  # March 12, 1954
    r")(?![\d])",
    re.IGNORECASE,
)


def mask(text: str | None) -> str | None:
    """Return text with NHS-number-shaped and date-of-birth-shaped strings masked."""
    if not text:
        return text
    text = _DOB.sub(DOB_MASK, text)
    return _NHS.sub(NHS_MASK, text)
