"""One argument grammar for `/care verb …`, `/verb …`, bare `verb …` and button actions.

A command's argument spec is a short string: `"ref reason? note*"` means a required `ref`,
an optional `reason`, and the rest of the line as `note`. Declared options are `key=value`
anywhere on the line; an option declared `key*` takes the words up to the next option (or the
end), the others take one word.

Quoting: double quotes (straight or curly) group words into one argument, and a value or note
that is wholly quoted loses its quotes. Everything else is kept as typed: a note is the raw
rest of the line (apostrophes, quotes inside it, runs of spaces), and a quote that is never
closed is just a character. The tokenizer is one pass over the line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace

from handlers.base import UserError
from handlers.phone import tidy_ref

UMBRELLA = "care"
MAX_LINE = 20_000  # a typed line longer than this is refused before it is read
MAX_TEXT = 2_000  # one note, value or argument
CLOSERS = {'"': '"', "“": "”"}
_WORD = re.compile(r'[^\s"“]+')
_SPACE = re.compile(r"\s+")
_ID = re.compile(r"[0-9]{1,10}")
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
REFS = ("ref", "duty", "id", "point")  # arguments that name a record: a phone's dash is a hyphen


@dataclass(frozen=True)
class Param:
    name: str
    required: bool
    rest: bool


def parse_spec(spec: str) -> list[Param]:
    params = []
    for token in spec.split():
        rest = token.endswith("*")
        optional = token.endswith("?") or rest
        params.append(Param(token.rstrip("?*"), required=not optional, rest=rest))
    return params


class Token(str):
    """A word of a typed line, quotes removed, that knows where it sits in the line, so a note
    can be taken back exactly as typed. `quoted`: the whole word was one quoted section."""

    line: str
    start: int
    end: int
    quoted: bool

    def __new__(cls, value: str, line: str, start: int, end: int, quoted: bool) -> "Token":
        token = super().__new__(cls, value)
        token.line, token.start, token.end, token.quoted = line, start, end, quoted
        return token


def clean(text: str) -> str:
    """What a database can store: no NUL characters, no lone surrogates."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def tokenize(line: str) -> list[Token]:
    """Words of the line in one pass. Each closing quote is searched for at most once per
    opening quote that finds one; once a search fails, later openers of that kind are text."""
    tokens: list[Token] = []
    unclosed_from = {opener: len(line) + 1 for opener in CLOSERS}
    pos, n = 0, len(line)
    while True:
        space = _SPACE.match(line, pos)
        if space:
            pos = space.end()
        if pos >= n:
            return tokens
        start, parts, sections, plain = pos, [], 0, False
        while pos < n:
            char = line[pos]
            if char in CLOSERS:
                close = -1 if pos >= unclosed_from[char] else line.find(CLOSERS[char], pos + 1)
                if close == -1:
                    unclosed_from[char] = min(unclosed_from[char], pos)
                    parts.append(char)  # never closed: just text
                    pos, plain = pos + 1, True
                else:
                    parts.append(line[pos + 1:close])
                    pos, sections = close + 1, sections + 1
                continue
            word = _WORD.match(line, pos)
            if word is None:  # white space: the word ends
                break
            parts.append(word.group())
            pos, plain = word.end(), True
        tokens.append(Token("".join(parts), line, start, pos, sections == 1 and not plain))


def unquote(text: str) -> str:
    """`"a b"` → `a b` when the whole text is one quoted section; otherwise as it is."""
    if len(text) >= 2 and text[0] in CLOSERS and text.find(CLOSERS[text[0]], 1) == len(text) - 1:
        return text[1:-1]
    return text


def split_line(text: str) -> list[str]:
    """Split a typed line into tokens; strip `/care`, a leading slash and a `@botname` suffix."""
    if len(text) > MAX_LINE:
        raise UserError(f"That message is {len(text):,} characters; carebot reads at most "
                        f"{MAX_LINE:,} and a note at most {MAX_TEXT:,}. Example: done C-2M9Q "
                        "short note")
    tokens: list[str] = tokenize(clean(text))
    if not tokens:
        return []
    first = tokens[0]
    if first.startswith("/"):
        first = first[1:].split("@", 1)[0]
        tokens[0] = first
    if tokens[0].lower() == UMBRELLA:
        tokens = tokens[1:]
    if tokens:
        tokens[0] = tokens[0].lower()
    return tokens


def split_action(action: str) -> list[str]:
    """A button or select action, `verb:arg:arg`, as tokens (verbs of two words use `_`)."""
    verb, *args = action.split(":")
    return [*verb.split("_"), *args]


def record_id(text: str | None, prefix: str) -> int | None:
    """`A-12` or `12` as 12; anything else, or a number no row can have, is None (the caller
    says "no such …", the same as for an id that does not exist)."""
    text = (text or "").strip()
    if text[:len(prefix)].upper() == prefix.upper():
        text = text[len(prefix):]
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def _is_option(token: str, options: tuple[str, ...]) -> bool:
    key, eq, _ = token.partition("=")
    return bool(eq) and key.lower() in options and not getattr(token, "quoted", False)


def _raw(tokens: list[str]) -> str:
    """Consecutive tokens as typed (spacing and quotes kept); plain strings (buttons) joined."""
    if all(isinstance(t, Token) for t in tokens):
        return tokens[0].line[tokens[0].start:tokens[-1].end]
    return " ".join(tokens)


def _option_value(token: str, key: str, words: list[str]) -> str:
    if isinstance(token, Token) and token.line.startswith(f"{key}=", token.start) \
            and all(isinstance(w, Token) for w in words):
        end = words[-1].end if words else token.end
        value = token.line[token.start + len(key) + 1:end]
    else:
        value = " ".join([token.partition("=")[2], *words])
    return unquote(value.strip())


def _runs(positional: list[tuple[int, str]]) -> list[list[str]]:
    """Words that stood next to each other on the line, split where an option was cut out."""
    runs: list[list[str]] = []
    for n, (index, token) in enumerate(positional):
        if n and index == positional[n - 1][0] + 1:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _rest(runs: list[list[str]]) -> str | None:
    """The rest of the line: runs of words as typed, joined by a space where an option was."""
    if not runs:
        return None
    text = " ".join(_raw(run) for run in runs).strip()
    return (unquote(text) if len(runs) == 1 else text) or None


def _too_long(name: str, value: str | None, example: str, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise UserError(f"{name.upper()} is {len(value):,} characters; the limit is "
                        f"{limit:,}. Nothing saved: shorten it. Example: {example}")


def _shown(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def bind(params: list[Param], options: tuple[str, ...], tokens: list[str], usage: str,
         example: str, greedy: tuple[str, ...] = (), max_text: int = MAX_TEXT) -> SimpleNamespace:
    """Match tokens to the spec; a missing argument is one clear line with an example."""
    values: dict[str, str | None] = {name: None for name in options}
    positional: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not _is_option(token, options):
            positional.append((i, token))
            i += 1
            continue
        key = token.partition("=")[0]
        if values[key.lower()] is not None:
            raise UserError(f"{key.lower()}= is given twice: give it once. Example: {example}")
        j = i + 1
        if key.lower() in greedy:
            while j < len(tokens) and not _is_option(tokens[j], options):
                j += 1
        values[key.lower()] = _option_value(token, key, list(tokens[i + 1:j]))
        _too_long(key, values[key.lower()], example, max_text)
        i = j
    for k, param in enumerate(params):
        if param.rest:
            values[param.name] = _rest(_runs(positional[k:]))
            positional = positional[:k]
        elif k < len(positional):
            value = str(positional[k][1])
            values[param.name] = tidy_ref(value) if param.name in REFS else value
        elif param.required:
            raise UserError(f"Missing {param.name.upper()}: use `{usage}`. Example: {example}")
        else:
            values[param.name] = None
        _too_long(param.name, values[param.name], example, max_text)
        if param.rest:
            break
    else:
        extra = [t for _, t in positional[len(params):]]
        if extra:
            raise UserError(f"Unexpected {_shown(' '.join(extra))!r}: use `{usage}`. "
                            f"Example: {example}")
    return SimpleNamespace(**values)


def command_tokens(text: str) -> tuple[str, list[str]]:
    """A typed line as (verb, args). An empty line or a bare `/care` means `help`."""
    tokens = split_line(text)
    return (tokens[0], tokens[1:]) if tokens else ("help", [])
