"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CAREBOT_TEST_DATABASE_URL; when it is unset those tests skip with the
reason shown, unless CAREBOT_REQUIRE_POSTGRES=1 (CI), which makes the skip a failure.
"""
from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlmodel import SQLModel, Session, func, select

from bot import slack as slack_transport
from bot import telegram as telegram_transport
from bot.app import App
from bot.config import load_config
from bot.demo import CONFIG as DEMO_CONFIG
from bot.demo import demo_rows
from bot.server import web_app
from bot.settings import Settings
from handlers.base import Actor, Chat, SimClock
from handlers.dispatch import dispatch_line
from messages.reply import Reply
from storage import repo
from storage.db import make_engine, session_scope, upgrade, use_files_dir
from storage.importer import COLUMNS, import_contacts
from tests.driver import Bot, Recorder
from tests.fakes.servers import Served
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

PG_URL = os.environ.get("CAREBOT_TEST_DATABASE_URL")
# The demo teams without the 09:00 routes reminder: it has tests of its own (test_routes.py), and
# elsewhere a DM to every supervisor at 09:00 would be noise among the DMs a test counts.
CONFIG = DEMO_CONFIG.replace('reconcile = "17:30"\n', 'reconcile = "17:30"\nroutes_by = ""\n')
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


@pytest.fixture(autouse=True)
def files_dir(tmp_path):
    """Charts and packs of each test in its own folder, as Settings.files_dir sets it in the bot."""
    use_files_dir(tmp_path / "files")
    yield tmp_path / "files"
    use_files_dir(Settings.model_fields["files_dir"].default)


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


def contact(engine, source_id: str):
    """A contact as stored, by its import file id."""
    from storage.models import Contact

    with Session(engine) as session:
        return session.exec(select(Contact).where(Contact.source_id == source_id)).one()


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


def needs_note(app, code: str) -> None:
    """Configure reason `code` to need a note, as a carebot.toml line would (this resyncs the
    config, so chat bindings set with `link` must be set again after it)."""
    codes = [rc.model_copy(update={"needs_note": rc.needs_note or rc.code == code})
             for rc in app.config.reason_codes]
    app.config = app.config.model_copy(update={"reason_codes": codes})
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config)


# ---- Slack: really signed requests into the bot's real HTTP server, a fake Web API out

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_USERS = {"amira": "U0AMIRA01", "ben": "U0BEN0001", "dan": "U0DAN0001"}


@pytest.fixture
def slack_env(app):
    """The demo app bound to Slack: North in C0NORTH01, three people with Slack ids."""
    link(app.engine, team={"slack_channel": "C0NORTH01"},
         people={handle: {"slack_user": user} for handle, user in SLACK_USERS.items()})
    fake = FakeSlack()
    api = Served(fake.app)
    app.settings = Settings(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SLACK_SECRET,
                            SLACK_API_URL=f"{api.url}/api/")
    plugin = slack_transport.build(app)
    app.transports = [plugin.transport]
    bot = Served(web_app(app, plugin.routes))
    yield app, fake, api, bot
    bot.call(app.stop_background())  # a sweep a command started, not left pending at close
    bot.stop()
    api.stop()


def post(bot, body: str, *, ts: int | None = None, secret: str = SLACK_SECRET, headers=None):
    ts = str(int(time.time()) if ts is None else ts)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return httpx.post(f"{bot.url}/slack/events", content=body, timeout=30, headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def command(api, text: str, user: str = "U0AMIRA01", channel: str = "C0NORTH01",
            trigger: str = "t-1") -> str:
    return urlencode({"command": "/care", "text": text, "user_id": user, "channel_id": channel,
                      "team_id": "T1", "trigger_id": trigger, "token": "legacy",
                      "response_url": f"{api.url}/respond/{trigger}"})


def interaction(api, payload: dict, user: str = "U0AMIRA01", trigger: str = "t-2") -> str:
    payload = {"team": {"id": "T1"}, "user": {"id": user}, "trigger_id": trigger,
               "response_url": f"{api.url}/respond/{trigger}", **payload}
    return urlencode({"payload": json.dumps(payload)})


def pressed(api, value: str, *, ephemeral: bool = False, trigger: str = "t-2",
            user: str = "U0AMIRA01") -> str:
    return interaction(api, {"type": "block_actions", "channel": {"id": "C0NORTH01"},
                             "container": {"type": "message", "is_ephemeral": ephemeral},
                             "actions": [{"type": "overflow", "action_id": "carebot:4:menu",
                                          "block_id": "b", "action_ts": "1.2",
                                          "selected_option": {"value": value}}]},
                       user=user, trigger=trigger)


# ---- Telegram: updates into the bot's real webhook (or long polling), a fake Bot API out

GROUP = -1001234567890
TG_USERS = {"amira": 5550001, "ben": 5550002, "dan": 5550003}
TG_SECRET = "s3cret-token"


def bind(app) -> None:
    link(app.engine, team={"telegram_chat": GROUP},
         people={handle: {"telegram_user": user} for handle, user in TG_USERS.items()})


@pytest.fixture
def tg(app, request):
    """The demo app bound to Telegram; webhook mode unless the test is marked polling."""
    bind(app)
    fake = FakeTelegram()
    api = Served(fake.app)
    polling = request.node.get_closest_marker("polling") is not None
    app.settings = Settings(TELEGRAM_BOT_TOKEN="123:abc", TELEGRAM_API_URL=f"{api.url}/bot",
                            TELEGRAM_WEBHOOK_URL=None if polling else "https://carebot.example.org/telegram/webhook",
                            TELEGRAM_WEBHOOK_SECRET=TG_SECRET)
    plugin = telegram_transport.build(app)
    app.transports = [plugin.transport]
    bot = Served(web_app(app, plugin.routes))
    bot.telegram_api = f"{api.url}/bot123:abc"  # where deliver() runs a webhook's answer
    bot.call(plugin.start())
    yield app, fake, bot
    bot.call(app.stop_background())
    bot.call(plugin.stop())
    bot.stop()
    api.stop()


_ids = iter(range(1, 10_000))


def user(handle: str) -> dict:
    return {"id": TG_USERS.get(handle, 9999999), "is_bot": False, "first_name": handle.title()}


def chat(chat_id: int = GROUP) -> dict:
    return {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private", "title": "North"}


def typed(text: str, handle: str = "amira", chat_id: int = GROUP) -> dict:
    command = text.split()[0]
    return {"update_id": next(_ids), "message": {
        "message_id": next(_ids), "date": int(time.time()), "chat": chat(chat_id),
        "from": user(handle), "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}]}}


def tapped(data: str, handle: str = "amira", reply_to: int | None = None,
           chat_id: int = GROUP) -> dict:
    message = {"message_id": 500, "date": int(time.time()), "chat": chat(chat_id), "text": "list",
               "from": {"id": 4242, "is_bot": True, "first_name": "carebot"}}
    if reply_to:
        message["reply_to_message"] = {**message, "message_id": reply_to}
        message["message_id"] = 501
    return {"update_id": next(_ids), "callback_query": {
        "id": f"cb{next(_ids)}", "from": user(handle), "chat_instance": "ci", "data": data,
        "message": message}}


def deliver(bot, update: dict, secret: str | None = TG_SECRET) -> int:
    """POST an update to the webhook, as Telegram does; like Telegram, run the one Bot API
    method the response may carry (a tap's answerCallbackQuery) against the fake."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    resp = httpx.post(f"{bot.url}/telegram/webhook", json=update, headers=headers, timeout=30)
    if resp.status_code == 200 and resp.headers.get("content-type") == "application/json":
        call = resp.json()
        httpx.post(f"{bot.telegram_api}/{call.pop('method')}", json=call, timeout=30)
    return resp.status_code


def pytest_sessionfinish(session, exitstatus):
    """A test's event loop may close with a delivery sweep still waiting (App.deliver_soon):
    collect it now, so asyncio's "Task was destroyed" note comes before the summary line."""
    import gc

    gc.collect()
