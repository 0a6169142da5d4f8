"""NHS-number-shaped and date-of-birth-shaped text never survives into storage or chat."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from messages.privacy import DOB_MASK, NHS_MASK, mask


@given(st.from_regex(r"\A\d{10}\Z"), st.sampled_from(["", " ", "-"]), st.text(max_size=20))
def test_any_ten_digit_number_is_masked_in_any_grouping(digits, sep, tail):
    grouped = f"{digits[:3]}{sep}{digits[3:6]}{sep}{digits[6:]}"
    out = mask(f"nhs {grouped} {tail}")
    assert grouped not in out and NHS_MASK in out


@given(st.integers(1, 28), st.integers(1, 12), st.integers(1900, 2026))
def test_dates_with_a_year_are_masked(d, m, y):
    for text in (f"{d}/{m}/{y}", f"{d:02d}-{m:02d}-{y}", f"{y}-{m:02d}-{d:02d}", f"{d}.{m}.{y}"):
        assert mask(f"dob {text}!") == f"dob {DOB_MASK}!"


def test_written_dates_and_ordinary_text():
    assert mask("born 12 March 1954") == f"born {DOB_MASK}"
    assert mask("born March 12th, 1954") == f"born {DOB_MASK}"
    assert mask("visited at 14:30, 2 meds checked, back in 3 days") == \
        "visited at 14:30, 2 meds checked, back in 3 days"
    assert mask(None) is None and mask("") == ""
    assert mask("phone 12345") == "phone 12345"  # too short to be an NHS number


def test_opaque_tokens_hold_no_shape_of_personal_data():
    """Config tokens are stored and invite codes shown in chat: as hex, 1 in 250 held a digit run
    read as an NHS number or a date, and was masked."""
    from datetime import date

    from storage.privacy import opaque_token

    tokens = {opaque_token(16) for _ in range(3000)}
    assert len(tokens) == 3000 and {len(t) for t in tokens} == {32}
    assert [t for t in tokens if mask(t, today=date(2026, 11, 24)) != t] == []
