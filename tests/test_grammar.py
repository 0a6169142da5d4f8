"""The argument grammar on its own: tokens, quotes, options, limits, ids, and linear work."""
from __future__ import annotations

import pytest

import handlers.grammar as grammar
from handlers.base import UserError
from handlers.grammar import bind, parse_spec, record_id, split_line, tokenize


def _bind(spec: str, line: str, options: tuple[str, ...] = ()):
    names = tuple(o.rstrip("*") for o in options)
    greedy = tuple(o.rstrip("*") for o in options if o.endswith("*"))
    return bind(parse_spec(spec), names, split_line("verb " + line)[1:], "verb …", "verb x",
                greedy)


def test_a_note_is_the_rest_of_the_line_as_typed():
    args = _bind("ref note*", "C-7F3K client's daughter  said \"no\"\tthen left ")
    assert args.ref == "C-7F3K"
    assert args.note == "client's daughter  said \"no\"\tthen left"


def test_quotes_group_words_and_a_wholly_quoted_note_loses_them():
    assert _bind("title*", '"Evening meds late"').title == "Evening meds late"
    assert _bind("title*", "“Evening  meds late”").title == "Evening  meds late"
    assert _bind("id kind? text*", 'A-1 audit "MAR: 2 late"').text == "MAR: 2 late"
    assert _bind("a b", '"x y" z').a == "x y"


def test_an_empty_note_is_no_note():
    assert _bind("ref note*", 'C-1 ""').note is None
    assert _bind("ref note*", "C-1   ").note is None


def test_an_unclosed_quote_is_just_text():
    assert _bind("ref note*", 'C-1 5" wound, he said "ok').note == '5" wound, he said "ok'
    assert [str(t) for t in tokenize('a "b c')] == ["a", '"b', "c"]


def test_a_multi_word_option_takes_the_words_up_to_the_next_option():
    args = _bind("id answer*", "A-1 measured=MAR audit weekly changed=named  lead",
                 options=("measured*", "changed*"))
    assert (args.measured, args.changed, args.answer) == ("MAR audit weekly", "named  lead", None)


def test_a_one_word_option_leaves_the_rest_to_the_note():
    args = _bind("text*", "incident=INC-31 Bed rails checked", options=("incident",))
    assert (args.incident, args.text) == ("INC-31", "Bed rails checked")


def test_options_are_cut_out_of_the_note_and_quoted_values_kept_verbatim():
    args = _bind("title*", 'Evening meds late owner=@amira due="in  6 weeks" after',
                 options=("owner", "due"))
    assert (args.title, args.owner, args.due) == ("Evening meds late after", "@amira", "in  6 weeks")


def test_a_quoted_key_value_is_text_not_an_option():
    args = _bind("note*", '"risk=high" stays', options=("risk",))
    assert (args.note, args.risk) == ('"risk=high" stays', None)


def test_an_option_given_twice_is_refused():
    with pytest.raises(UserError, match="given twice"):
        _bind("id", "A-1 owner=@a owner=@b", options=("owner",))


def test_a_note_over_the_limit_is_refused_with_the_limit():
    assert len(_bind("ref note*", "C-1 " + "x" * 2000).note) == 2000
    with pytest.raises(UserError, match="NOTE is 2,001 characters; the limit is 2,000"):
        _bind("ref note*", "C-1 " + "x" * 2001)
    with pytest.raises(UserError, match="MEASURED is 2,001 characters"):
        _bind("id", "A-1 measured=" + "y " * 1000 + "z", options=("measured*",))


def test_a_line_over_the_cap_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(grammar, "tokenize", lambda line: pytest.fail("tokenized"))
    with pytest.raises(UserError, match="at most 20,000"):
        split_line("done C-1 " + "x" * 20_000)


def test_the_command_prefixes_are_stripped():
    assert split_line("/care DONE C-1  a  b")[:2] == ["done", "C-1"]
    assert split_line("/done@carebot C-1")[:2] == ["done", "C-1"]
    assert split_line("   ") == []


def test_nul_and_lone_surrogates_never_reach_the_database():
    assert split_line("done C-1 a\x00b\ud800")[2:] == ["ab?"]


@pytest.mark.parametrize("text,expected", [
    ("A-12", 12), ("a-12", 12), ("12", 12), ("A-2147483647", 2**31 - 1),
    ("A-2147483648", None), ("9223372036854775808", None), ("A-0", None), ("A--1", None),
    ("A-１２", None), ("A-²", None), ("A-", None), ("", None), ("A-1.5", None), (None, None),
])
def test_ids_out_of_range_or_odd_are_none(text, expected):
    assert record_id(text, "A-") == expected


WORD, SPACE = grammar._WORD, grammar._SPACE


class _Counted:
    """A compiled pattern that counts the characters its matches look at."""

    def __init__(self, pattern, counter):
        self.pattern, self.counter = pattern, counter

    def match(self, line, pos):
        m = self.pattern.match(line, pos)
        self.counter[0] += 1 + (m.end() - pos if m else 0)
        return m


class _Line(str):
    """A line that counts the characters `find` scans."""

    def find(self, sub, start=0, *rest):
        found = super().find(sub, start, *rest)
        self.counter[0] += (found if found != -1 else len(self)) - start + 1
        return found


def _work(monkeypatch, text: str) -> int:
    counter = [0]
    monkeypatch.setattr(grammar, "_WORD", _Counted(WORD, counter))
    monkeypatch.setattr(grammar, "_SPACE", _Counted(SPACE, counter))
    line = _Line(text)
    line.counter = counter
    tokenize(line)
    return counter[0]


@pytest.mark.parametrize("unit", [
    "x",  # one long word
    '"a ',  # straight quotes pairing up
    "“a ",  # quotes never closed (a naive search for each closer is quadratic here)
    "“a ”b ",  # curly pairs
    'k="v w" ',  # quoted option values
    "client's ",  # apostrophes
    " \t\u00a0",  # runs of odd spaces
])
def test_tokenizing_is_linear_in_the_line(monkeypatch, unit):
    """Work (characters examined) for 100 KB is about twice that for 50 KB, and a small
    multiple of the length: counted, not timed."""
    half = _work(monkeypatch, unit * (50_000 // len(unit)))
    full = _work(monkeypatch, unit * (100_000 // len(unit)))
    assert full <= 2.2 * half
    assert full <= 5 * 100_000
