"""The outbox's exactly-once contract: each key format pinned, unique per logical post, and
built only in storage/outbox.py, with targets as typed addresses stored as before."""
from __future__ import annotations

import ast
import itertools
from datetime import date
from pathlib import Path

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
    ("MORNING", dict(team="north", day=DAY), "morning:north:2026-11-30"),
    ("RECONCILE", dict(team="north", day=DAY), "reconcile:north:2026-11-30"),
    ("MEDS_ROUND", dict(team="north", round="am", day=DAY), "meds:north:am:2026-11-30"),
    ("MEDS_CHECK", dict(team="north", round="am", day=DAY), "meds-check:north:am:2026-11-30"),
    ("MEDS_CHASE", dict(team="north", round="am", day=DAY), "meds-chase:north:am:2026-11-30"),
    ("ACTION_CLOSED", dict(action=7), "action-closed:7"),
    ("ACTION_OWNER", dict(action=7, version=3), "action-owner:7:v3"),
    ("ACTION_REMIND", dict(action=7, what="due", day=DAY), "action-remind:7:due:2026-11-30"),
    ("ACTION_REMIND", dict(action=7, what="review", day=DAY), "action-remind:7:review:2026-11-30"),
    ("LEARN", dict(point=4), "learn:4"),
    ("LEARN_REMIND", dict(point=4, handle="amira"), "learn-remind:4:amira"),
    ("INCIDENT", dict(ref="C-7F3K", what="open", reopened=0), "incident:C-7F3K:open:0"),
    ("INCIDENT", dict(ref="C-7F3K", what="closed", reopened=0), "incident:C-7F3K:closed:0"),
    ("INCIDENT", dict(ref="C-7F3K", what="reopen", reopened=1), "incident:C-7F3K:reopen:1"),
    ("INCIDENT_REVIEW", dict(ref="C-7F3K", reopened=1, handle="dan"),
     "incident-review:C-7F3K:1:dan"),
    ("STATUS", dict(handle="dan", week=DAY), "status:dan:2026-11-30"),
    ("PAGE", dict(esc=12, level=1, page=2, handle="amira"), "esc:12:L1:P2:amira"),
    ("NOBODY", dict(esc=12, level=0, page=1), "esc:12:nobody:L0:P1"),
    ("UNOWNED", dict(esc=12), "esc:12:unowned"),
    ("UNOWNED_DM", dict(esc=12, handle="dan"), "esc:12:unowned:dan"),
    ("RAISED_OWNED", dict(esc=12), "esc:12:raised-owned"),
    ("TOLD", dict(esc=12, what="owned", handle="ben"), "esc:12:owned:ben"),
    ("TOLD", dict(esc=12, what="resolved", handle="ben"), "esc:12:resolved:ben"),
    ("FAILED", dict(row=99, handle="dan"), "failed:99:dan"),
    ("COVER", dict(contact=41, handle="ben", at=1796112000), "cover:41:ben:1796112000"),
    ("ROUTES_REMIND", dict(team="north", day=DAY, handle="amira"),
     "routes-remind:north:2026-11-30:amira"),
    ("MONTHLY", dict(handle="grace", month="2026-10"), "monthly:grace:2026-10"),
    ("MILESTONE_REMIND", dict(milestone=4, day=DAY), "milestone-remind:4:2026-11-30"),
    ("ACTION_REOPENED", dict(action=3, reopened=1, handle="amira"),
     "action-reopened:3:1:amira"),
    ("CQC_REMIND", dict(request=2, days=14, handle="dan"), "cqc-remind:2:14:dan"),
    ("SAMPLE", dict(team="north", week="2026-W48", handle="amira"), "sample:north:2026-W48:amira"),
    ("SAMPLE_REMIND", dict(team="north", week="2026-W48", what="due", handle="amira"),
     "sample-remind:north:2026-W48:due:amira"),
    ("SAMPLE_REMIND", dict(team="north", week="2026-W48", what="overdue", handle="dan"),
     "sample-remind:north:2026-W48:overdue:dan"),
    ("REFERRAL_SAMPLE", dict(team="north", day=DAY), "referral-sample:north:2026-11-30"),
    ("REFERRAL_PENDING", dict(referral=7, handle="dan"), "referral-pending:7:dan"),
    ("REFERRAL_CHASE", dict(team="north", day=DAY, handle="amira"),
     "referral-chase:north:2026-11-30:amira"),
    ("PIP_DM", dict(pip=2, what="opened", n=0, handle="ben"), "pip:2:opened:0:ben"),
    ("PIP_DM", dict(pip=2, what="reviewed", n=14, handle="ben"), "pip:2:reviewed:14:ben"),
    ("PIP_CHECKLIST", dict(pip=2, day=DAY), "pip-checklist:2:2026-11-30"),
    ("PIP_REVIEW", dict(pip=2, day=DAY, handle="amira"), "pip-review:2:2026-11-30:amira"),
    ("REFERRAL_WRONG", dict(referral=7, handle="dan"), "referral-wrong:7:dan"),
]


def kinds() -> dict[str, outbox.Kind]:
    return {name: k for name, k in vars(outbox).items() if isinstance(k, outbox.Kind)}


@pytest.mark.parametrize("name, parts, expected", PINNED)
def test_each_key_format_is_stable_across_versions(name, parts, expected):
    kind = getattr(outbox, name)
    assert kind.key(**parts) == expected
    assert kind.parse(expected) == {k: str(v) for k, v in parts.items()}


def test_every_kind_of_post_is_pinned():
    assert {name for name, _, _ in PINNED} == set(kinds())


# Sample parts, chosen to tempt collisions: words the formats themselves use.
SAMPLES = (0, 1, 12, DAY, date(2026, 12, 1), "amira", "north", "C-7F3K", "owned", "unowned",
           "nobody", "raised-owned", "L1", "P0", "v1")


def test_every_key_names_one_logical_post():
    """Across every kind and many parts, no two different posts share a key."""
    seen: dict[str, tuple] = {}
    for name, kind in kinds().items():
        for values in itertools.product(*((kind.what if f == "what" else SAMPLES)
                                          for f in kind.fields)):
            parts = dict(zip(kind.fields, values))
            key = kind.key(**parts)
            assert seen.setdefault(key, (name, parts)) == (name, parts), key
            assert [k for k in kinds().values() if k.parse(key)] == [kind], key
    assert len(seen) > 10_000


def test_a_part_that_could_blur_two_keys_is_refused():
    for bad in (dict(team="north:x", day=DAY), dict(team="", day=DAY)):
        with pytest.raises(ValueError):
            outbox.MORNING.key(**bad)
    with pytest.raises(ValueError):
        outbox.TOLD.key(esc=1, what="unowned", handle="dan")  # that is UNOWNED_DM's key
    with pytest.raises(TypeError):
        outbox.PAGE.key(esc=1, level=1, handle="dan")


def test_an_address_keeps_the_stored_text_and_parses_back():
    assert str(Address.team("north")) == "team:north"
    assert str(Address.person("amira")) == "person:amira"
    for text in ("team:north", "person:amira"):
        assert str(Address.parse(text)) == text
    for bad in ("north", "group:north", "team:"):
        with pytest.raises(ValueError):
            Address.parse(bad)


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
