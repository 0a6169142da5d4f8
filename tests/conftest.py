"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CAREBOT_TEST_DATABASE_URL; when it is unset those tests skip with the
reason shown, unless CAREBOT_REQUIRE_POSTGRES=1 (CI), which makes the skip a failure.
"""
from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, Session, func, select

from bot.app import App
from bot.config import load_config
from bot.demo import CONFIG, demo_rows
from bot.settings import Settings
from handlers.base import Actor, Chat, SimClock
from handlers.dispatch import dispatch_line
from messages.reply import Reply
from storage import repo
from storage.db import make_engine, session_scope, upgrade
from storage.importer import COLUMNS, import_contacts
from tests.driver import Bot

PG_URL = os.environ.get("CAREBOT_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("CAREBOT_REQUIRE_POSTGRES") == "1"
DAY = date(2026, 11, 24)
# 08:00 in London on the demo day (GMT, so the same in UTC).
MORNING = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_engine():
    if not PG_URL:
        reason = "CAREBOT_TEST_DATABASE_URL is not set: PostgreSQL tests skipped"
        if REQUIRE_PG:
            pytest.fail(reason + " (CAREBOT_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        SQLModel.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)  # the real migrations, as `carebot db upgrade` runs them
    yield engine
    engine.dispose()


def _truncate(engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """An empty, migrated database: SQLite in a temp file, or the shared PostgreSQL one."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'carebot.db'}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _truncate(eng)
        yield eng


@pytest.fixture
def config_path(tmp_path) -> Path:
    path = tmp_path / "carebot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def contacts_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "contacts.csv", demo_rows(DAY))


def write_csv(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


class Recorder:
    """A transport that records what it was asked to send."""

    name = "recorder"

    def __init__(self):
        self.posts: list[tuple[str, Reply]] = []
        self.dms: list[tuple[str, Reply]] = []
        self.edits: list[tuple[str, Reply]] = []
        self.fail = 0  # fail this many sends first

    def reaches_team(self, team) -> bool:
        return True

    def reaches_person(self, person) -> bool:
        return True

    def _maybe_fail(self):
        if self.fail:
            self.fail -= 1
            raise RuntimeError("platform unavailable")

    async def post_to_team(self, team, reply, *, key):
        self._maybe_fail()
        self.posts.append((team.key, reply))
        return f"msg-{len(self.posts)}"

    async def update_team_post(self, team, reply, *, key, ref):
        self._maybe_fail()
        self.edits.append((team.key, reply))
        return ref

    async def notify(self, person, reply, *, key):
        self._maybe_fail()
        self.dms.append((person.handle, reply))
        return f"dm-{len(self.dms)}"


@pytest.fixture
def app(engine, config_path, contacts_csv) -> App:
    """Demo teams and people, today's demo contacts, a clock at 08:00 on 24 Nov 2026."""
    config = load_config(config_path)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    import_contacts(engine, contacts_csv)
    settings = Settings(CAREBOT_CONFIG=str(config_path))
    return App(settings=settings, config=config, engine=engine, clock=SimClock(MORNING),
               transports=[Recorder()])


@pytest.fixture
def bot(app) -> Bot:
    """The demo app driven like a chat (tests/driver.py): bot.say, bot.advance, bot.dms."""
    return Bot(app)


def run(app: App, handle: str, line: str, *, transport: str = "console", chat: str | None = None,
        private: bool = False) -> Reply:
    """Type a line as a person, through the real grammar and dispatcher."""
    return dispatch_line(app.engine, app.clock, Actor(transport, handle),
                         Chat(transport, chat, private), line)


def count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


def link(engine, *, team: dict, people: dict[str, dict], key: str = "north") -> None:
    """Bind a team to a chat and people to platform ids, e.g.
    link(engine, team={"slack_channel": "C0NORTH01"}, people={"amira": {"slack_user": "U1"}})."""
    from storage.models import Person, Team

    with Session(engine) as session:
        rows = [(session.exec(select(Team).where(Team.key == key)).one(), team)]
        rows += [(session.exec(select(Person).where(Person.handle == handle)).one(), fields)
                 for handle, fields in people.items()]
        for row, fields in rows:
            for name, value in fields.items():
                setattr(row, name, value)
            session.add(row)
        session.commit()


def pytest_sessionfinish(session, exitstatus):
    """A test's event loop may close with a delivery sweep still waiting (App.deliver_soon):
    collect it now, so asyncio's "Task was destroyed" note comes before the summary line."""
    import gc

    gc.collect()
