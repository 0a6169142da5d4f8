"""Masks NHS numbers and dates of birth in free text before it is stored or posted, and
refuses refs shaped like either. Pure rules (storage and messages both use them, so they live
here: storage never imports messages) plus the one boundary: the FreeText and FreeJSON column
types mask whatever is stored, on assignment and again on the way to the database.

Chat is not the care record: "NHS 943 476 5919, DOB 12/03/1954" must never reach a channel
or the database as typed. Governance text needs its dates, though ("CQC report published
12 Nov 2026"), so a date is masked only when it could be a date of birth.

The rules (README "Privacy"):
- Zero-width characters and soft hyphens are dropped first (they only hide a shape).
- NHS number: ten digits grouped 3-3-4 with any separators (any kind of space, dots, dashes,
  slashes) is masked. Ten digits in a row are masked when the Modulus 11 check digit is
  valid or the word NHS comes just before; otherwise (an order number) they are kept. Ten
  digits in any other grouping are masked when labelled NHS.
- Date of birth: a full date (day, month and year) in any common shape: 12/03/1956,
  12 03 1956, 12.3.56, 1956-03-12, 1956/03/12, 12031956, 19560312, 12 Mar 56, 12-Mar-1956,
  12th of March 1956, March 12th, 1956. It is masked when labelled (dob, d.o.b., date of
  birth, born, birth, birthday) or older than RECENT_YEARS before today; a recent or future
  date is operational and kept. Two-digit years mean the latest year no more than 10 years
  ahead (56 → 1956, 27 → 2027). A day and month without a year is kept; a month and year, or
  a six-digit 120356, only when labelled.
"""
from __future__ import annotations

import bisect
import re
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from typing import Any, Iterator

from sqlalchemy import JSON
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString
from stdnum.gb import nhs

NHS_MASK = "[NHS no. removed]"
DOB_MASK = "[date removed]"
RECENT_YEARS = 2  # a date this recent, or later, is operational unless labelled

_HIDDEN = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_SEP = rf"[\s.{_DASH}/\\_]"  # \s covers non-breaking, thin and other Unicode spaces
_NHS_334 = re.compile(rf"(?<!\d)(\d{{3}})({_SEP}{{0,3}})(\d{{3}})({_SEP}{{0,3}})(\d{{4}})(?!\d)")
_NHS_ANY = re.compile(rf"(?<!\d)\d(?:{_SEP}{{0,3}}\d){{9}}(?!\d)")
_NHS_LABEL = re.compile(r"\bnhs\b[^\d\n]{0,25}$", re.IGNORECASE)

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MON = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
        r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])")
_DSEP = rf"(?:\s*[./\\{_DASH}]\s*|\s+)"  # 12/03, 12 - 03, 12 03
_ORD = r"(?:st|nd|rd|th)?"
_END = r"(?!\d|[:.]\d)"  # a year is not followed by a time: 24 Nov 23:59
_NOT_A_DAY = rf"(?!{_ORD}\s*(?:of\s+)?{_MON})"  # two digits then a month: 28 Oct – 24 Nov
_F = re.IGNORECASE
# Each shape: (regex with groups d, m (number or name), y; labelled only?)
_DATES = [
    (re.compile(rf"(?<![\d.])(?P<d>\d{{1,2}})\s*[./\\{_DASH}]\s*(?P<m>\d{{1,2}})\s*[./\\{_DASH}]"
                rf"\s*(?P<y>\d{{4}}|\d{{2}}){_END}"), False),  # 12/03/1956, 12.3.56
    (re.compile(r"(?<![\d.])(?P<d>\d{1,2})\s+(?P<m>\d{1,2})\s+(?P<y>\d{4})(?!\d)"), False),
    (re.compile(rf"(?<!\d)(?P<y>\d{{4}}){_DSEP}(?P<m>\d{{1,2}}){_DSEP}(?P<d>\d{{1,2}})(?!\d)"),
     False),  # 1956-03-12, 1956/03/12, 1956.03.12
    (re.compile(r"(?<!\d)(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d{4})(?!\d)"), False),  # 12031956
    (re.compile(r"(?<!\d)(?P<y>\d{4})(?P<m>\d\d)(?P<d>\d\d)(?!\d)"), False),  # 19560312
    (re.compile(rf"(?<!\d)(?P<d>\d{{1,2}}){_ORD}(?:\s+of)?(?:{_DSEP})?(?P<m>{_MON}),?"
                rf"(?:{_DSEP})?(?P<y>\d{{4}}|\d{{2}}{_NOT_A_DAY}){_END}", _F), False),  # 12th of March 1956
    (re.compile(rf"\b(?P<m>{_MON})(?:{_DSEP})?(?P<d>\d{{1,2}}){_ORD},?(?:{_DSEP})?"
                rf"(?P<y>\d{{4}})(?!\d)", _F), False),  # March 12th, 1956
    (re.compile(r"(?<!\d)(?P<d>\d\d)(?P<m>\d\d)(?P<y>\d\d)(?!\d)"), True),  # 120356
    (re.compile(rf"\b(?P<m>{_MON}),?\s+(?P<y>\d{{4}})(?!\d)", _F), True),  # March 1956
]
_DOB_BEFORE = re.compile(
    r"(?:\bd\.?\s*o\.?\s*b\b\.?|\bdate\s+of\s+birth|\bborn\b|\bbirth(?:day|date)?\b|\bbday\b)"
    r"[^\d\n.;!?]{0,20}$", re.IGNORECASE)
_DOB_AFTER = re.compile(r"[\s,:(\[]*(?:d\.?\s*o\.?\s*b\b|date\s+of\s+birth|birth\s*date)",
                        re.IGNORECASE)


# Digits as letters g-p: random hex can hold a digit run that reads as an NHS number or a date
# ("8feb38") to the rules below (1 token in 250), and would be masked in chat or in a check.
_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def opaque_token(nbytes: int) -> str:
    """nbytes random bytes as letters a-p, two a byte: a code shown in chat, or a token stored,
    that holds no shape of personal data."""
    return secrets.token_hex(nbytes).translate(_DIGITS_AS_LETTERS)


def _labelled(pattern: re.Pattern, text: str, start: int) -> bool:
    return bool(pattern.search(text[max(0, start - 40):start]))


def _year(text: str, today: date | None) -> int:
    y = int(text)
    if len(text) == 2:
        pivot = (today or date(2000, 1, 1)).year + 10
        y += 2000 if 2000 + y <= pivot else 1900
    return y


def _reading(m: re.Match, today: date | None) -> date | None:
    """The real date the match stands for: day first (UK); month first only when day first
    is impossible (03/25/1956)."""
    y = _year(m["y"], today)
    if not 1900 <= y <= 2200:
        return None
    day = int(m["d"]) if "d" in m.re.groupindex else 1
    name = m["m"].lower()[:3]
    pairs = ([(day, _MONTHS.index(name) + 1)] if name in _MONTHS
             else [(day, int(name)), (int(name), day)])
    for d, mo in pairs:
        try:
            return date(y, mo, d)
        except ValueError:
            pass
    return None


def _recent_from(today: date) -> date:
    try:
        return today.replace(year=today.year - RECENT_YEARS)
    except ValueError:  # 29 Feb
        return today.replace(year=today.year - RECENT_YEARS, day=28)


def _spans(text: str, today: date | None, *, strict: bool = False,
           labelled_only: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, mask) for every NHS-number-shaped or date-of-birth-shaped span.

    strict (refs): ten digits, 3-3-4 or in a row, are an NHS number whatever the check digit."""
    found: list[tuple[int, int, str]] = []
    for m in _NHS_334.finditer(text):
        separated = bool(m[2] or m[4])
        digits = "".join(str(int(c)) for c in m[1] + m[3] + m[5])  # any script's digits
        if strict or separated or nhs.is_valid(digits) or _labelled(_NHS_LABEL, text, m.start()):
            found.append((m.start(), m.end(), NHS_MASK))
    for m in _NHS_ANY.finditer(text):
        if not strict and _labelled(_NHS_LABEL, text, m.start()):
            found.append((m.start(), m.end(), NHS_MASK))
    cutoff = _recent_from(today) if today else None
    for pattern, needs_label in _DATES:
        for m in pattern.finditer(text):
            when = _reading(m, today)
            if when is None:
                continue
            old = not needs_label and not labelled_only and (cutoff is None or when < cutoff)
            if old or _labelled(_DOB_BEFORE, text, m.start()) or _DOB_AFTER.match(text, m.end()):
                found.append((m.start(), m.end(), DOB_MASK))
    return _longest_first(found)


def _longest_first(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans, longer ones winning, in text order (bisect keeps it n log n)."""
    starts: list[int] = []
    chosen: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        i = bisect.bisect(starts, span[0])
        if (i and chosen[i - 1][1] > span[0]) or (i < len(chosen) and chosen[i][0] < span[1]):
            continue
        starts.insert(i, span[0])
        chosen.insert(i, span)
    return chosen


def mask(text: str | None, today: date | None = None, *, labelled_only: bool = False) -> str | None:
    """text with NHS-number-shaped and date-of-birth-shaped strings masked.

    today (the team's day) decides which dates are recent enough to be operational; without
    it every full date is masked. labelled_only: only labelled dates count as births (a
    post rendered outside any team's day, where every date shown is operational)."""
    if not text:
        return text
    text = _HIDDEN.sub("", text)
    out, last = [], 0
    for start, end, replacement in _spans(text, today, labelled_only=labelled_only):
        out += [text[last:start], replacement]
        last = end
    return "".join(out) + text[last:]


def _either(patterns: list[re.Pattern]) -> re.Pattern:
    """One regex matching wherever any of `patterns` matches (groups unnamed, flags scoped)."""
    parts = [re.sub(r"\(\?P<\w+>", "(?:", p.pattern) for p in patterns]
    return re.compile("|".join(f"(?i:{x})" if p.flags & re.IGNORECASE else f"(?:{x})"
                               for p, x in zip(patterns, parts)))


# A ref's quick all-clear (an import checks 100,000s): strict _spans finds nothing unless an
# NHS shape or an unlabelled date shape matches, or a label word appears (labelled-only shapes
# and labelled recent dates need one before or after them). Exact, not a heuristic.
_REF_SHAPES = _either([_NHS_334, *(p for p, needs_label in _DATES if not needs_label)])
_LABEL_WORD = re.compile(r"d\.?\s*o\.?\s*b|birth|born|bday", re.IGNORECASE)


def ref_problem(ref: str, today: date | None) -> str | None:
    """Why a ref (client, contact, incident, duty) must not be used, or None.

    Refs name things in every post and audit row, so one that looks like an NHS number or a
    date of birth would carry personal data everywhere."""
    ref = _HIDDEN.sub("", ref)
    if not _REF_SHAPES.search(ref) and not _LABEL_WORD.search(ref):
        return None
    spans = _spans(ref, today, strict=True)
    if any(k == NHS_MASK for _, _, k in spans):
        return "looks like an NHS number"
    if spans:
        return "looks like a date of birth"
    return None


# ---- the boundary: one day per unit of work, and the column types that mask with it

_DAY: ContextVar[date | None] = ContextVar("carebot_masking_day", default=None)
# A post's quick all-clear (a list of 500 is 500 blocks): _spans finds nothing unless an NHS
# shape or an unlabelled date shape matches, or a label word (NHS, dob, born …) appears.
_MAYBE = re.compile(rf"{_REF_SHAPES.pattern}|{_LABEL_WORD.pattern}|nhs", re.IGNORECASE)


@contextmanager
def masking_day(today: date | None = None) -> Iterator[None]:
    """Free text stored inside is masked as of `today` (the team's day, so recent dates stay).
    The day may be named later in the scope with set_day: the dispatcher learns the team
    only after its first query. The scope must cover the commit, where rows are flushed.
    Without a day every full date in stored free text is masked (the safe side)."""
    token = _DAY.set(today)
    try:
        yield
    finally:
        _DAY.reset(token)


def set_day(today: date) -> None:
    _DAY.set(today)


def mask_stored(text: str | None) -> str | None:
    """Free text as it may be stored: masked as of the unit of work's day."""
    return mask(text, _DAY.get())


def mask_posted(text: str) -> str:
    """Text as it may be posted. Inside a team's day as stored text is; outside (a post
    loaded back from the outbox) every date shown is operational, so only NHS numbers and
    labelled births are masked."""
    if not text or _clear(text):
        return text
    today = _DAY.get()
    return mask(text, today, labelled_only=today is None)


_CLEAR: dict[str, None] = {}  # texts found clear, at most CLEAR_KEPT (emptied when full)
CLEAR_KEPT = 4096


def _clear(text: str) -> bool:
    """The quick all-clear, remembered: a list re-posted after every tap repeats the same
    lines, and the search cost ~25 µs a line. Depends on the text alone, never the day. Only
    texts found clear are kept, so nothing that needed masking stays in memory."""
    if text in _CLEAR:
        return True
    if _MAYBE.search(_HIDDEN.sub("", text)):
        return False
    if len(_CLEAR) >= CLEAR_KEPT:
        _CLEAR.clear()
    _CLEAR[text] = None
    return True


def mask_posted_field(label: str, value: str) -> tuple[str, str]:
    """A label/value pair as it may be posted: the label counts ("Born" | "12/03/1954")."""
    label, whole = mask_posted(label), mask_posted(f"{label}: {value}")
    head = f"{label}: "
    return label, whole[len(head):] if whole.startswith(head) else mask_posted(value)


def mask_tree(value: Any, masker=mask_stored) -> Any:
    """Every string in a JSON value masked (keys are names chosen by code, kept)."""
    if isinstance(value, str):
        return masker(value)
    if isinstance(value, dict):
        return {k: mask_tree(v, masker) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_tree(v, masker) for v in value]
    return value


class FreeText(TypeDecorator):
    """A column of text people type: masked on its way to the database, whatever wrote it
    (ORM or Core). The object in memory keeps what was typed (SQLModel stores assignments
    itself, past SQLAlchemy's set events); a post made from it is masked by the Reply."""

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_stored(value)


class FreeJSON(TypeDecorator):
    """A JSON column whose strings may be typed text: every string masked on the way in."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return mask_tree(value)

