"""The command registry: one table drives dispatch, `help` and the platforms' command menus."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from handlers.grammar import MAX_TEXT, Param, parse_spec

COMMANDS: dict[str, "Spec"] = {}


@dataclass(frozen=True)
class Spec:
    verb: str  # one or two words: "due", "meds done"
    fn: Callable
    args: list[Param]
    usage: str
    summary: str
    example: str
    min_role: str = "staff"
    options: tuple[str, ...] = field(default_factory=tuple)
    greedy: tuple[str, ...] = ()  # options that take the words up to the next option
    max_text: int = MAX_TEXT  # the longest note, value or argument it takes


def command(verb: str, *, args: str = "", summary: str, example: str | None = None,
            min_role: str = "staff", options: tuple[str, ...] = (), max_text: int = MAX_TEXT):
    """Register a handler `fn(ctx, args) -> Reply` under `verb`. An option named `key*`
    takes several words (up to the next option); a plain `key` takes one."""

    def register(fn: Callable) -> Callable:
        params = parse_spec(args)
        names = tuple(o.rstrip("*") for o in options)
        usage = " ".join([verb, *(_shown(p) for p in params), *(f"[{o}=…]" for o in names)])
        COMMANDS[verb] = Spec(verb=verb, fn=fn, args=params, usage=usage, summary=summary,
                              example=example or verb, min_role=min_role, options=names,
                              greedy=tuple(o.rstrip("*") for o in options if o.endswith("*")),
                              max_text=max_text)
        return fn

    return register


def _shown(param: Param) -> str:
    """`REF`, `[TEAM]`, `[NOTE…]`: how help and error lines show an argument."""
    name = param.name.upper() + ("…" if param.rest and param.required else "")
    return name if param.required else f"[{name}{'…' if param.rest else ''}]"


def lookup(tokens: list[str]) -> tuple[Spec | None, list[str]]:
    """The longest registered verb at the start of tokens, and the tokens after it."""
    load()
    if len(tokens) >= 2 and f"{tokens[0]} {tokens[1].lower()}" in COMMANDS:
        return COMMANDS[f"{tokens[0]} {tokens[1].lower()}"], tokens[2:]
    if tokens and tokens[0] in COMMANDS:
        return COMMANDS[tokens[0]], tokens[1:]
    return None, tokens


def sub_commands(word: str) -> list[Spec]:
    """The two-word commands starting with `word` (`routes` → routes ok), when `word` is not a
    command of its own: what to offer someone who typed only the first word."""
    load()
    if word in COMMANDS:
        return []
    return [s for s in COMMANDS.values() if s.verb.startswith(f"{word} ")]


FIRST = ("contacts", "reconcile", "escalation")  # help lists the daily loop first
NOT_CAPABILITIES = {"base", "dates", "dispatch", "grammar", "jobs", "phone", "registry",
                    "retention", "sweep"}


def load() -> dict[str, Spec]:
    """Import every capability module in handlers/ so their commands and jobs register.

    A new capability is a new module here: nothing else needs to list it.
    """
    global _loaded
    if _loaded:  # every command looks up its verb: scan the package once
        return COMMANDS
    import importlib
    import pkgutil

    import handlers

    names = sorted(m.name for m in pkgutil.iter_modules(handlers.__path__)
                   if m.name not in NOT_CAPABILITIES)
    order = [*FIRST, *(n for n in names if n not in FIRST)]
    for name in order:
        importlib.import_module(f"handlers.{name}")
    # A module imported by another registers early (escalation, sampling): put each module's
    # commands back in this order, so `help all` and the menus start with the daily loop.
    rank = {f"handlers.{name}": i for i, name in enumerate(order)}
    ordered = sorted(COMMANDS.values(), key=lambda s: rank.get(s.fn.__module__, len(rank)))
    COMMANDS.clear()
    COMMANDS.update((s.verb, s) for s in ordered)
    _loaded = True
    return COMMANDS


_loaded = False


def menu() -> list[tuple[str, str]]:
    """A platform's command menu: each first word once, with its summary (one source for the
    menu and for help)."""
    seen: dict[str, str] = {}
    for spec in load().values():
        seen.setdefault(spec.verb.split()[0], spec.summary)
    return list(seen.items())
