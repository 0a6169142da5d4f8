"""What staff type on a phone: a ref with a typographic dash, a full stop or no hyphen, a reason
code spelt another way (`no reply`, `No-Reply`), a verb one letter off. Tidied or answered with
a did-you-mean, never guessed: a near miss is suggested, not run."""
from __future__ import annotations

import re

from rapidfuzz import fuzz, process

# Hyphen look-alikes a phone keyboard or autocorrect puts in (‐ ‑ ‒ – — ― − ﹣ －).
_DASHES = re.compile("[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d]")
_EDGES = ".,;:!?`'\"()[]<>«»“”‘’"
_SEPARATORS = re.compile(r"[\s_\-]+")
_BARE_REF = re.compile(r"([A-Za-z])([0-9A-Za-z]{4})")  # C2M9Q: a client ref without its hyphen


def tidy_ref(text: str) -> str:
    """The ref as meant: plain hyphens, no punctuation or quotes around it."""
    return _DASHES.sub("-", text).strip(_EDGES)


def ref_variants(text: str) -> list[str]:
    """Upper-case forms a typed client ref may stand for: as typed, and with the hyphen
    it lacks (`c2m9q` → C2M9Q, C-2M9Q)."""
    ref = tidy_ref(text).upper()
    bare = _BARE_REF.fullmatch(ref)
    return [ref, f"{bare[1]}-{bare[2]}"] if bare else [ref]


def word_key(text: str) -> str:
    """How two spellings of a code compare: case, spaces, `-` and `_` never matter."""
    return _SEPARATORS.sub("", _DASHES.sub("-", text).lower())


def closest(typed: str, choices: list[str], limit: int = 3, cutoff: float = 60) -> list[str]:
    """The choices that look like what was typed, best first (rapidfuzz's ratio)."""
    if not typed or not choices:
        return []
    found = process.extract(typed.upper(), {c: c.upper() for c in choices}, scorer=fuzz.ratio,
                            limit=limit, score_cutoff=cutoff)
    return [key for _, _, key in found]


def did_you_mean(options: list[str]) -> str:
    return f" Did you mean {' or '.join(options)}?" if options else ""


def reason_code(codes: list, typed: str, note: str | None) -> tuple[object | None, str | None]:
    """The reason code meant by `typed` (its code or an alias, spelt any way word_key allows),
    and the note left over. A two-word spelling (`missed C-2M9Q no reply`) takes the note's
    first word."""
    names = {word_key(name): c for c in codes for name in [c.code, *(c.aliases or [])]}
    if word_key(typed) in names:
        return names[word_key(typed)], note
    first, _, rest = (note or "").strip().partition(" ")
    if first and word_key(typed + first) in names:
        return names[word_key(typed + first)], rest.strip() or None
    return None, note


def near_codes(codes: list, typed: str) -> list[str]:
    """Codes whose code or alias looks like `typed`, each once, best first."""
    spelt = {name: c.code for c in codes for name in [c.code, *(c.aliases or [])]}
    return list(dict.fromkeys(spelt[n] for n in closest(typed, list(spelt), limit=3)))[:2]
