"""Every case of the privacy corpus: masked shapes go, operational dates and ordinary text stay."""
from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from messages.privacy import mask, ref_problem
from tests.privacy_corpus import CASES, DOB, NHS, TODAY


def test_the_corpus_is_big_and_has_both_sides():
    masked = [c for c in CASES if c[0] != c[1]]
    assert len(CASES) >= 200 and len(masked) >= 100 and len(CASES) - len(masked) >= 80
    assert len({c[0] for c in CASES}) == len(CASES)  # no case counted twice


@pytest.mark.parametrize("typed, stored, why", CASES, ids=[f"{i}:{c[2]}" for i, c in enumerate(CASES)])
def test_corpus(typed, stored, why):
    assert mask(typed, today=TODAY) == stored


def test_without_a_day_every_full_date_is_masked():
    # A call site that cannot say what today is keeps nothing that might be a birth date.
    assert mask("CQC report published 12 Nov 2026") == f"CQC report published {DOB}"


def test_recent_is_relative_to_the_day_given():
    assert mask("audit 1 Dec 2024", today=TODAY) == "audit 1 Dec 2024"
    assert mask("audit 1 Dec 2024", today=TODAY.replace(year=2027)) == f"audit {DOB}"


@pytest.mark.parametrize("ref, why", [
    ("9434765919", "NHS number"), ("943-476-5919", "NHS number"), ("INC-1234567890", "NHS number"),
    ("C-12031956", "date of birth"), ("INC-1956-03-12", "date of birth"),
    ("C-12MAR56", "date of birth")])
def test_refs_shaped_like_personal_data_are_named(ref, why):
    assert why in ref_problem(ref, TODAY)


@pytest.mark.parametrize("ref", ["C-7F3K", "INC-31", "D-14", "N-20261124-001", "INC-2026-11-24",
                                 "C-100234", "A-12"])
def test_opaque_refs_pass(ref):
    assert ref_problem(ref, TODAY) is None
    assert NHS not in mask(ref, today=TODAY)


SEPARATORS = [" ", "  ", "\u00a0", "\u2009", "\u202f", "\u200b", ".", "-", "\u2013", "\u2014",
              "/", " - ", ""]


@given(st.integers(100_000_000, 999_999_999), st.sampled_from(SEPARATORS),
       st.sampled_from(SEPARATORS), st.text(alphabet="abc ,;:()", max_size=15),
       st.text(alphabet="abc ,;:()", max_size=15))
def test_a_valid_nhs_number_in_any_separator_shape_is_masked(body, sep1, sep2, before, after):
    check = 11 - sum(int(d) * w for d, w in zip(str(body), range(10, 1, -1))) % 11
    assume(check != 10)
    digits = f"{body}{check % 11}"
    out = mask(f"{before} {digits[:3]}{sep1}{digits[3:6]}{sep2}{digits[6:]} {after}", today=TODAY)
    assert NHS in out and not re.search(r"\d", out)


@given(st.dates(date(1900, 1, 1), date(2024, 11, 23)),
       st.sampled_from(["%d/%m/%Y", "%d %m %Y", "%Y/%m/%d", "%Y.%m.%d", "%d%m%Y", "%d %b %y",
                        "%d-%b-%Y", "%B %d, %Y", "%dth of %B %Y", "%d.%m.%Y"]))
def test_any_old_date_in_any_shape_is_masked(day, shape):
    assume("%y" not in shape or day.year > TODAY.year + 10 - 100)  # 36 reads as 2036
    out = mask(f"client seen, {day.strftime(shape)} noted", today=TODAY)
    assert out == f"client seen, {DOB} noted"


@given(st.dates(date(2024, 11, 24), date(2099, 12, 31)),
       st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%B %d, %Y"]))
def test_any_recent_or_future_date_is_kept_unless_labelled(day, shape):
    text = f"CQC report published {day.strftime(shape)}"
    assert mask(text, today=TODAY) == text
    assert mask(f"born {day.strftime(shape)}", today=TODAY) == f"born {DOB}"
