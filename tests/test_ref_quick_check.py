"""ref_problem's quick all-clear (what makes an import of 100,000 refs cheap) never lets
through a ref the full rules refuse, and never refuses one they allow."""
from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from messages.privacy import DOB_MASK, NHS_MASK, ref_problem
from storage.privacy import _HIDDEN, _spans
from tests.privacy_corpus import CASES, TODAY


def full_rules(ref: str, today: date | None) -> str | None:
    spans = _spans(_HIDDEN.sub("", ref), today, strict=True)
    if any(k == NHS_MASK for _, _, k in spans):
        return "looks like an NHS number"
    return "looks like a date of birth" if any(k == DOB_MASK for _, _, k in spans) else None


REFS = ["C-7F3K", "B-000123", "C-01234", "V123456789", "9434765919", "943-476-5919",
        "DOB12031956", "born1956", "C-12/03/1956", "12MAR56", "C-March-1956", "bday120356",
        "2026-11-24", "C-2024-11-25", "X-01.02.03", "d.o.b-1-2-56", "C\u200b-943 476 5919"]


def test_every_listed_ref_and_corpus_text_judged_as_the_full_rules_judge_it():
    texts = REFS + [typed for typed, _, _ in CASES]
    assert [ref_problem(t, TODAY) for t in texts] == [full_rules(t, TODAY) for t in texts]
    assert ref_problem("9434765919", TODAY) == "looks like an NHS number"
    assert ref_problem("DOB12031956", None) == "looks like a date of birth"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 -./DOBdobirthnMarJ\u200bC", max_size=24),
       st.one_of(st.none(), st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))))
def test_quick_check_agrees_with_the_full_rules_on_any_ref(ref, today):
    assert ref_problem(ref, today) == full_rules(ref, today)
