"""One argument grammar for `/care verb …`, `/verb …`, bare `verb …` and button actions.

A command's argument spec is a short string: `"ref reason? note*"` means a required `ref`,
an optional `reason`, and the rest joined as `note`. Declared options are `key=value` tokens
anywhere on the line (quotes allowed: `due="in 6 weeks"`).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from types import SimpleNamespace

from handlers.base import UserError

UMBRELLA = "care"


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


def split_line(text: str) -> list[str]:
    """Split a typed line into tokens; strip `/care`, a leading slash and a `@botname` suffix."""
    text = text.strip()
    try:
        tokens = shlex.split(text)
    except ValueError:
        raise UserError('A quote is not closed. Example: action add "Evening meds late"') from None
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


def bind(params: list[Param], options: tuple[str, ...], tokens: list[str], usage: str,
         example: str) -> SimpleNamespace:
    """Match tokens to the spec; a missing argument is one clear line with an example."""
    values: dict[str, str | None] = {name: None for name in options}
    positional: list[str] = []
    for token in tokens:
        key, eq, value = token.partition("=")
        if eq and key.lower() in options:
            values[key.lower()] = value
        else:
            positional.append(token)
    for i, param in enumerate(params):
        if param.rest:
            values[param.name] = " ".join(positional[i:]) or None
            positional = positional[:i]
            break
        if i < len(positional):
            values[param.name] = positional[i]
        elif param.required:
            raise UserError(f"Missing {param.name.upper()}: use `{usage}`. Example: {example}")
        else:
            values[param.name] = None
    else:
        extra = positional[len(params):]
        if extra:
            raise UserError(f"Unexpected {' '.join(extra)!r}: use `{usage}`. Example: {example}")
    return SimpleNamespace(**values)


def command_tokens(text: str) -> tuple[str, list[str]]:
    """A typed line as (verb, args). An empty line or a bare `/care` means `help`."""
    tokens = split_line(text)
    return (tokens[0], tokens[1:]) if tokens else ("help", [])
