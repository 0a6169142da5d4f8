"""Generated command lines through the dispatcher, for every role: each gets a reply or one
clear error line, never the generic crash line. SQLite only (the grammar and the handlers'
input checks are what is under test); derandomized so a failure repeats."""
from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_config
from handlers.base import Actor, Chat, SimClock
from handlers.dispatch import dispatch_line
from handlers.registry import load
from messages import catalog
from storage import repo
from storage.db import make_engine, session_scope
from storage.importer import import_contacts
from tests.conftest import MORNING

# CAREBOT_FUZZ_EXAMPLES lowers the count while working on this file; the suite runs 10,000
EXAMPLES = int(os.environ.get("CAREBOT_FUZZ_EXAMPLES", 10_000))
ROLES = {"staff": "ben", "supervisor": "amira", "manager": "dan", "nominated": "grace"}
CRASHED = catalog.crashed("REF").split("REF")[0]
# status and help draw charts and list everything: slow and not about input, so rarer
SLOW = {"status", "help", "reconcile", "due"}

VERBS = sorted(load())
HUGE = ["9223372036854775808", "2147483648", "2147483647", "-1", "0", "1e400", "nan", "inf",
        "99999999999999999999999999", "１２", "²", "٣"]
WORDS = ["C-7F3K", "C-2M9Q", "C-9X2P", "C-NOPE", "A-1", "A-2", "E-1", "E-2", "L-1", "D-14",
         "D-15", "INC-31", "1", "2", "all", "north", "south", "team", "week", "last", "since",
         "hospital", "safety", "no_reply", "other", "weather", "audit", "incident", "review",
         "record", "morning", "evening", "yes", "no", "cqc", "submitted", "export", "trend",
         "tomorrow", "in 6 weeks", "31 Feb 2027", "04/05/2027", "@amira", "@ben", "@zed",
         "<@U0AMIRA01>", "client's", "it's", "daughter", "'", "''", '"', '""', "“", "”",
         "=", "==", "a=b", "/care", "@carebot", "\\", "`", "*", "_", "—", "👍", "🏥",
         "9434765919", "12/03/1956", "\u200b", "\u00a0", "\t", "\n"]
KEYS = ["owner", "due", "risk", "finding", "title", "incident", "action", "informed", "changed",
        "measured", "controlled", "monitoring", "team", "note", "OWNER", "Due"]


def _quoted(text: str) -> str:
    return f'"{text}"'


numbers = st.one_of(st.sampled_from(HUGE), st.integers(min_value=-10**30, max_value=10**30)
                   .map(str), st.integers(min_value=0, max_value=3).map(str))
ids = st.builds(lambda prefix, number: prefix + number,
                st.sampled_from(["", "A-", "E-", "L-", "D-", "INC-", "C-", "a-", "e-"]), numbers)
words = st.one_of(
    st.sampled_from(WORDS), ids,
    st.text(max_size=12), st.text(alphabet="'\" =@-:/“”\n", max_size=6),
)
options = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS),
                    st.one_of(words, words.map(_quoted), st.just("")))
pieces = st.one_of(words, words.map(_quoted), options)
FAST = [v for v in VERBS if v.split()[0] not in SLOW]
# every verb, the slow ones about once in 200 lines, and a few that are not verbs
verbs = st.sampled_from(FAST * 8 + sorted(SLOW) + ["/care", "/done@carebot", "frob", ""] * 4)
spaces = st.sampled_from([" ", " ", " ", "  ", "\t", " \n", "\u00a0"])


@st.composite
def lines(draw) -> str:
    parts = [draw(verbs), *draw(st.lists(ids, max_size=1)), *draw(st.lists(pieces, max_size=6))]
    return "".join(p + draw(spaces) for p in parts).rstrip(" ") if draw(st.booleans()) else \
        " ".join(parts)


@pytest.fixture
def sqlite_app(tmp_path, config_path, contacts_csv, monkeypatch):
    # a crash is logged with its traceback; thousands of refusals need not be
    logging.getLogger("handlers.dispatch").setLevel(logging.ERROR)
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    with session_scope(engine) as session:
        repo.sync_config(session, load_config(config_path))
    import_contacts(engine, contacts_csv)
    yield engine
    engine.dispose()


def test_generated_lines_never_crash_for_any_role(sqlite_app):
    """The same 10,000 generated lines for each role (staff, supervisor, manager, nominated)."""
    clock, chat = SimClock(MORNING), Chat("console", None)
    actors = {role: Actor("console", handle) for role, handle in ROLES.items()}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(lines())
    def one(line: str) -> None:
        for role, actor in actors.items():
            reply = dispatch_line(sqlite_app, clock, actor, chat, line)
            text = reply.plain()
            assert text.strip() or reply.duplicate, (role, line)
            assert CRASHED not in text, (role, line, text)
            seen[role] += 1

    seen = dict.fromkeys(ROLES, 0)
    one()
    assert all(n >= EXAMPLES for n in seen.values()), seen
