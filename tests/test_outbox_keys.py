"""The outbox's exactly-once contract: each key format pinned, unique per logical post, and
built only in storage/outbox.py, with targets as typed addresses stored as before."""
from __future__ import annotations

import ast
import inspect
import itertools
from datetime import date
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import pytest
from sqlmodel import Session, select

from storage import outbox
from storage.models import Outbox
from storage.outbox import Address
from tests.conftest import run

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 30)

# Rows in flight in deployed databases carry these exact strings: a changed format would post
# a second time (or never refresh the first). Never edit an expected value; add new rows.
PINNED = [
    ("morning_key", ("north", DAY), "morning:north:2026-11-30"),
    ("reconcile_key", ("north", DAY), "reconcile:north:2026-11-30"),
    ("meds_round_key", ("north", "am", DAY), "meds:north:am:2026-11-30"),
    ("meds_check_key", ("north", "am", DAY), "meds-check:north:am:2026-11-30"),
    ("meds_chase_key", ("north", "am", DAY), "meds-chase:north:am:2026-11-30"),
    ("action_owner_key", (7, 3), "action-owner:7:v3"),
    ("action_remind_key", (7, "due", DAY), "action-remind:7:due:2026-11-30"),
    ("action_closed_key", (7,), "action-closed:7"),
    ("learn_key", (4,), "learn:4"),
    ("learn_remind_key", (4, "amira"), "learn-remind:4:amira"),
    ("incident_key", ("C-7F3K", "open", 0), "incident:C-7F3K:open:0"),
    ("incident_review_key", ("C-7F3K", 1, "dan"), "incident-review:C-7F3K:1:dan"),
    ("status_key", ("dan", DAY), "status:dan:2026-11-30"),
    ("page_key", (12, 1, 2, "amira"), "esc:12:L1:P2:amira"),
    ("nobody_key", (12, 0, 1), "esc:12:nobody:L0:P1"),
    ("unowned_key", (12,), "esc:12:unowned"),
    ("unowned_key", (12, "dan"), "esc:12:unowned:dan"),
    ("raised_owned_key", (12,), "esc:12:raised-owned"),
    ("esc_told_key", (12, "owned", "ben"), "esc:12:owned:ben"),
    ("esc_told_key", (12, "resolved", "ben"), "esc:12:resolved:ben"),
    ("failed_key", (99, "dan"), "failed:99:dan"),
]


def builders() -> dict[str, object]:
    return {name: fn for name, fn in vars(outbox).items()
            if name.endswith("_key") and inspect.isfunction(fn)}


@pytest.mark.parametrize("name, args, expected", PINNED)
def test_each_key_format_is_stable_across_versions(name, args, expected):
    assert getattr(outbox, name)(*args) == expected


def test_every_key_builder_is_pinned():
    assert {name for name, _, _ in PINNED} == set(builders())


# Sample values per argument type, chosen to tempt collisions: words that other keys use.
SAMPLES = {int: (0, 1, 12), date: (DAY, date(2026, 12, 1)),
           str: ("amira", "north", "C-7F3K", "owned", "unowned", "nobody", "l1", "raised-owned")}


def values(hint) -> tuple:
    if get_origin(hint) is Literal:
        return get_args(hint)
    options = get_args(hint)  # str | None
    if options:
        return tuple(v for o in options for v in (SAMPLES[o] if o in SAMPLES else (None,)))
    return SAMPLES[hint]


def test_every_key_names_one_logical_post():
    """Across every builder and many arguments, no two different posts share a key."""
    seen: dict[str, tuple] = {}
    for name, fn in builders().items():
        hints = get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters]
        for args in itertools.product(*(values(hints[p]) for p in params)):
            key = fn(*args)
            assert seen.setdefault(key, (name, args)) == (name, args), key
    assert len(seen) > 1000


def test_an_address_keeps_the_stored_text_and_parses_back():
    assert str(Address.team("north")) == "team:north"
    assert str(Address.person("amira")) == "person:amira"
    for text in ("team:north", "person:amira"):
        assert str(Address.parse(text)) == text
    for bad in ("north", "group:north", "team:"):
        with pytest.raises(ValueError):
            Address.parse(bad)


def test_the_morning_list_is_found_from_its_key():
    assert outbox.morning_of(outbox.morning_key("north", DAY)) == ("north", "2026-11-30")
    assert outbox.morning_of(outbox.reconcile_key("north", DAY)) is None


def test_a_command_says_whether_it_queued_a_post(app):
    assert not run(app, "amira", "due").queued
    assert run(app, "amira", "learn Bed rails must be checked after every transfer").queued
    with Session(app.engine) as session:
        rows = list(session.exec(select(Outbox)))
    assert [(r.key, r.target) for r in rows] == [("learn:1", "team:north")]
    assert rows[0].payload["blocks"]  # the Reply, stored as JSON


# ---------------------------------------------------------------- built in one place only

KEY_CALLS = {"post_to_team", "notify", "enqueue", "outbox_row", "refresh_post", "mark_stale",
             "outbox_exists"}
SUBJECT_CALLS = {"audit", "add_audit", "settle", "open_escalation"}
PREFIXES = tuple(sorted({expected.split(":")[0] + ":" for _, _, expected in PINNED}))


def name_of(call: ast.Call) -> str:
    return getattr(call.func, "attr", getattr(call.func, "id", ""))


def hand_built(source: str) -> list[str]:
    """f-strings that build an outbox target or key outside storage/outbox.py."""
    tree, found = ast.parse(source), []
    exempt = set()  # audit actions and escalation subjects share words with keys ("meds:…")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            exempt |= {id(k.value) for k in node.keywords if k.arg in ("subject", "action")}
            if name_of(node) in SUBJECT_CALLS:
                exempt |= {id(a) for a in node.args}

    def text(node: ast.JoinedStr) -> str:
        first = node.values[0] if node.values else None
        return first.value if isinstance(first, ast.Constant) else ""

    for node in ast.walk(tree):
        suspects: list[ast.AST] = []
        if isinstance(node, ast.Call):
            suspects += [k.value for k in node.keywords if k.arg in ("key", "target")]
            if name_of(node) in KEY_CALLS:
                suspects += node.args
        elif isinstance(node, ast.Dict):
            suspects += [v for k, v in zip(node.keys, node.values)
                         if isinstance(k, ast.Constant) and k.value in ("key", "target")]
        elif isinstance(node, ast.JoinedStr) and id(node) not in exempt and \
                text(node).startswith(("person:", "team:", *PREFIXES)):
            suspects.append(node)
        found += [f"line {s.lineno}: {ast.unparse(s)}" for s in suspects
                  if isinstance(s, ast.JoinedStr)]
    return sorted(set(found))


def test_targets_and_keys_are_built_only_in_storage_outbox():
    offenders = [f"{path.relative_to(ROOT)} {hit}"
                 for room in ("bot", "handlers", "storage", "messages")
                 for path in sorted((ROOT / room).rglob("*.py"))
                 if path != ROOT / "storage" / "outbox.py"
                 for hit in hand_built(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_check_itself_catches_a_hand_built_key():
    bad = ('repo.enqueue(s, key=f"esc:{i}:x", target=f"person:{h}", payload={}, now=n)\n'
           'ctx.post_to_team(f"thing:{x}", reply)\n'
           'due = {"key": f"a:{b}"}\n'
           'where = f"team:{team.key}"\n'
           'k = f"meds-chase:{t}:{r}:{d}"\n'
           'open_escalation(s, subject=f"meds:{duty}")\n'
           'escalation.settle(ctx, f"incident:{ref}:{n}", "closed")\n')
    assert [hit.split(":")[0] for hit in hand_built(bad)] == ["line 1", "line 1", "line 2",
                                                               "line 3", "line 4", "line 5"]
