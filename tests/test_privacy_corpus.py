"""Every case of the privacy corpus: masked shapes go, operational dates and ordinary text stay."""
from __future__ import annotations

import pytest

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
