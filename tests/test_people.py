"""People onboarded at scale (issue 19 item 1): `carebot import people`, the Slack lookup by
email, one-time Telegram invite links, `bind TEAM`, and `carebot people`."""
from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.config import load_config
from bot.slack_people import client_for, lookup_missing
from bot.settings import Settings
from storage import repo
from storage.db import session_scope
from storage.models import AuditEvent, Invite, Membership, Person, Team
from storage.people import PEOPLE_COLUMNS, ImportRejected, import_people
from tests.conftest import (GROUP, MORNING, TG_USERS, count, deliver, link, post, run,
                            write_csv)
from tests.conftest import command as slash
from tests.fakes.servers import Served
from tests.fakes.slack_api import FakeSlack

COLUMNS = [*PEOPLE_COLUMNS, "slack_user", "telegram_user"]


def _people(n: int, **over) -> list[dict]:
    return [{"handle": f"carer{i:03}", "name": f"Carer {i}", "role": "staff",
             "teams": "north" if i % 3 else "north;south", "email": f"carer{i}@example.org",
             "slack_user": "", "telegram_user": "", **over} for i in range(n)]


def _person(engine, handle: str) -> Person | None:
    with Session(engine) as s:
        return s.exec(select(Person).where(Person.handle == handle)).first()


def test_500_people_import_once_a_reimport_changes_nothing_and_a_config_reload_keeps_them(
        app, tmp_path):
    path = write_csv(tmp_path / "people.csv", _people(500), COLUMNS)
    first = import_people(app.engine, path, now=MORNING)
    assert (first.rows, first.inserted, first.updated, first.unchanged) == (500, 500, 0, 0)
    again = import_people(app.engine, path, now=MORNING)
    assert (again.rows, again.inserted, again.updated, again.unchanged) == (500, 0, 0, 500)
    assert count(app.engine, Person, Person.source == "import") == 500
    assert count(app.engine, Membership) - 8 * 1 >= 500  # demo people keep theirs too

    # An imported person is someone carebot knows: they see their teams at once.
    who = run(app, "carer000", "whoami").plain()
    assert "Carer 0" in who and "north" in who and "south" in who
    # A restart syncs the config: imported people, memberships and ids stay as they were.
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config)
    assert count(app.engine, Person, Person.source == "import", Person.active == True) == 500  # noqa: E712
    assert run(app, "carer001", "due").ok
    # A changed row is an update of that person only.
    rows = _people(500)
    rows[7]["role"] = "supervisor"
    write_csv(path, rows, COLUMNS)
    third = import_people(app.engine, path, now=MORNING)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 499)
    assert _person(app.engine, "carer007").role == "supervisor"


def test_a_bad_file_lists_every_bad_line_and_writes_nothing(app, tmp_path):
    rows = _people(500)
    rows[9]["role"] = "boss"
    rows[99]["teams"] = "west"
    rows[199]["email"] = "not-an-address"
    rows[299]["handle"] = "carer000"  # twice in the file
    rows[399]["handle"] = "amira"  # a person of the config file
    rows[450]["telegram_user"] = "55x"
    path = write_csv(tmp_path / "people.csv", rows, COLUMNS)
    before = (count(app.engine, Person), count(app.engine, Membership), count(app.engine, AuditEvent))
    with pytest.raises(ImportRejected) as caught:
        import_people(app.engine, path, now=MORNING)
    problems = caught.value.problems
    assert caught.value.total_bad == 6
    assert [p.split(":")[1].strip() for p in problems] == [
        "line 11", "line 101", "line 201", "line 301", "line 401", "line 452"]
    assert "role 'boss' is not one of staff, supervisor, manager, nominated" in problems[0]
    assert "unknown team 'west'" in problems[1]
    assert "not-an-address" not in problems[2]  # personal data is not echoed
    assert "appears twice" in problems[3] and "config file" in problems[4]
    assert "numeric Telegram id" in problems[5]
    after = (count(app.engine, Person), count(app.engine, Membership), count(app.engine, AuditEvent))
    assert after == before


def test_a_missing_column_is_refused(app, tmp_path):
    path = write_csv(tmp_path / "people.csv", [{"handle": "x", "name": "X"}], ["handle", "name"])
    with pytest.raises(ImportRejected) as caught:
        import_people(app.engine, path, now=MORNING)
    assert "missing column(s) role, teams, email" in caught.value.problems[0]


# ---------------------------------------------------------------- Slack ids from emails


def test_slack_ids_are_found_by_email_not_found_and_rate_limited_within_bounds(app, tmp_path):
    rows = _people(4)
    import_people(app.engine, write_csv(tmp_path / "p.csv", rows, COLUMNS), now=MORNING)
    fake = FakeSlack()
    fake.emails = {"carer0@example.org": "U0CARER00", "carer2@example.org": "U0CARER02",
                   "carer3@example.org": "U0CARER03"}
    api = Served(fake.app)
    try:
        settings = Settings(SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=f"{api.url}/api/")
        # carer0: one 429 then found; carer1: no such user; carer2: found; carer3 stays
        # rate-limited past the retries and is left for the next run.
        fake.fail("users.lookupByEmail", 429, {"Retry-After": "7"}, times=1)
        fake.limited["carer3@example.org"] = 4
        waits: list[float] = []

        async def sleep(seconds):  # the Retry-After waits, recorded instead of slept
            waits.append(seconds)

        result = asyncio.run(lookup_missing(app.engine, client_for(settings), MORNING, sleep))
        assert result.found == ["carer000", "carer002"]
        assert result.not_found == ["carer001"] and result.failed == ["carer003"]
        assert waits == [7, 2, 2, 2]  # bounded: carer3 tried 1 + 3 times
        assert _person(app.engine, "carer000").slack_user == "U0CARER00"
        assert _person(app.engine, "carer003").slack_user is None
        assert "1 not checked (carer003)" in result.line()
        # The next run asks only about those still without an id, and finds carer3.
        again = asyncio.run(lookup_missing(app.engine, client_for(settings), MORNING, sleep))
        assert again.found == ["carer003"] and again.not_found == ["carer001"]
        # A re-import with an empty slack_user keeps the id that was found.
        import_people(app.engine, tmp_path / "p.csv", now=MORNING)
        assert _person(app.engine, "carer000").slack_user == "U0CARER00"
    finally:
        api.stop()


# ---------------------------------------------------------------- Telegram invite links

NEW_USER = 7770001


def _private(text: str, user: int = NEW_USER) -> dict:
    from tests.conftest import _ids

    return {"update_id": next(_ids), "message": {
        "message_id": next(_ids), "date": int(time.time()),
        "chat": {"id": user, "type": "private", "first_name": "New"},
        "from": {"id": user, "is_bot": False, "first_name": "New"}, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


def _code(reply_text: str) -> str:
    return re.search(r"start[= ]([a-p]{24})", reply_text)[1]


def test_an_invite_code_never_reads_as_personal_data(tg, monkeypatch):
    """Random hex can hold a digit run the masks take for an NHS number (1 code in 300): the
    link reached the colleague broken. The same random bytes now make a code of letters."""
    import handlers.people
    import storage.privacy

    app, fake, bot = tg
    monkeypatch.setattr(handlers.people, "BOT_USERNAME", "carebot_demo_bot")
    monkeypatch.setattr(storage.privacy.secrets, "token_hex", lambda n: "caf92f8593444768b36b3a11")
    text = run(app, "amira", "invite @chloe").plain()
    assert "removed]" not in text
    assert deliver(bot, _private(f"/start {_code(text)}")) == 200
    assert _person(app.engine, "chloe").telegram_user == NEW_USER


def test_an_invite_link_binds_one_telegram_account_once_and_not_after_72_hours(tg, monkeypatch):
    import handlers.people

    app, fake, bot = tg
    monkeypatch.setattr(handlers.people, "BOT_USERNAME", "carebot_demo_bot")
    reply = run(app, "amira", "invite @chloe")  # a supervisor, from the console
    assert reply.ok and reply.ephemeral
    text = reply.plain()
    assert "https://t.me/carebot_demo_bot?start=" in text and "expires" in text
    code = _code(text)
    with Session(app.engine) as s:
        stored = s.exec(select(Invite)).one()
        assert code not in stored.code_hash  # only a hash is kept
    assert count(app.engine, AuditEvent, AuditEvent.action == "person:invite") == 1

    # Opening the link: Telegram sends `/start CODE` in the private chat.
    assert deliver(bot, _private(f"/start {code}")) == 200
    assert _person(app.engine, "chloe").telegram_user == NEW_USER
    said = fake.named("sendMessage")[-1]
    assert str(said["chat_id"]) == str(NEW_USER) and said["text"].startswith("Welcome, Chloe")
    assert count(app.engine, AuditEvent, AuditEvent.action == "person:telegram_bound") == 1
    # Chloe is now known on Telegram.
    assert deliver(bot, _private("/whoami")) == 200
    assert "chloe" in fake.named("sendMessage")[-1]["text"]

    # The same link again, from anyone: refused, nothing changed.
    assert deliver(bot, _private(f"/start {code}", user=7770002)) == 200
    assert "already used" in fake.named("sendMessage")[-1]["text"]
    assert _person(app.engine, "chloe").telegram_user == NEW_USER
    # A link opened after 72 hours: refused.
    later = run(app, "amira", "invite @ben")
    app.clock.set(MORNING + timedelta(hours=72, minutes=1))
    assert deliver(bot, _private(f"/start {_code(later.plain())}", user=7770003)) == 200
    assert "expired" in fake.named("sendMessage")[-1]["text"]
    assert _person(app.engine, "ben").telegram_user == TG_USERS["ben"]
    # A made-up code, and a bare /start (the Start button): help, nothing bound.
    assert deliver(bot, _private("/start 0123456789abcdef01234567", user=7770004)) == 200
    assert "not valid" in fake.named("sendMessage")[-1]["text"]
    assert count(app.engine, AuditEvent, AuditEvent.action == "person:telegram_bound") == 1
    # A restart (config sync): Chloe's config entry names no telegram_user; the invite's stays.
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config)
    assert _person(app.engine, "chloe").telegram_user == NEW_USER
    assert _person(app.engine, "ben").telegram_user is None  # set outside the file: cleared


def test_invites_are_for_your_own_teams_and_not_posted_in_a_group(tg):
    app, fake, bot = tg
    refused = run(app, "amira", "invite @femi")  # South's
    assert not refused.ok and "No one '@femi' in your teams" in refused.plain()
    assert not run(app, "ben", "invite @chloe").ok  # staff may not
    from tests.conftest import typed

    assert deliver(bot, typed("/invite @chloe")) == 200  # in North's group
    assert "private chat" in fake.named("sendMessage")[-1]["text"]
    assert count(app.engine, Invite) == 0
    without_name = run(app, "amira", "invite @chloe").plain()  # no TELEGRAM_BOT_USERNAME
    assert "/start " in without_name and "t.me" not in without_name


# ---------------------------------------------------------------- bind TEAM


def test_a_manager_binds_an_unbound_telegram_group_and_not_another_teams(tg):
    app, fake, bot = tg
    from tests.conftest import typed

    link(app.engine, key="north", team={}, people={"dan": {"telegram_user": TG_USERS["dan"]}})
    new_group = -1005550000001
    assert deliver(bot, typed("/bind north", handle="amira", chat_id=new_group)) == 200
    assert "can only" in fake.named("sendMessage")[-1]["text"] or \
        "manager" in fake.named("sendMessage")[-1]["text"]  # a supervisor may not
    with Session(app.engine) as s:
        dan = s.exec(select(Person).where(Person.handle == "dan")).one()
        dan.role = "manager"
        s.add(dan)
        s.commit()
    assert deliver(bot, typed("/bind north", handle="dan", chat_id=new_group)) == 200
    assert "now North Community Team's" in fake.named("sendMessage")[-1]["text"]
    with Session(app.engine) as s:
        assert s.exec(select(Team).where(Team.key == "north")).one().telegram_chat == new_group
    assert count(app.engine, AuditEvent, AuditEvent.action == "team:bind") == 1
    # The group is now North's: commands work there.
    assert deliver(bot, typed("/due", handle="amira", chat_id=new_group)) == 200
    assert "North Community Team" in fake.named("sendMessage")[-1]["text"]
    # The nominated individual may not make North's group South's.
    with Session(app.engine) as s:
        grace = s.exec(select(Person).where(Person.handle == "grace")).one()
        grace.telegram_user = 5550009
        s.add(grace)
        s.commit()
    TG_USERS["grace"] = 5550009
    try:
        assert deliver(bot, typed("/bind south", handle="grace", chat_id=new_group)) == 200
    finally:
        del TG_USERS["grace"]
    assert "already belongs to North Community Team" in fake.named("sendMessage")[-1]["text"]
    with Session(app.engine) as s:
        assert s.exec(select(Team).where(Team.key == "south")).one().telegram_chat is None


def test_a_manager_binds_a_slack_channel_that_survives_a_restart(slack_env):
    app, fake, api, bot = slack_env
    link(app.engine, key="north", team={}, people={"dan": {"role": "manager"}})
    body = post(bot, slash(api, "bind north", user="U0DAN0001", channel="C0NEWCHAN")).json()
    assert "now North Community Team's" in body["text"]
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config)
    with Session(app.engine) as s:
        assert s.exec(select(Team).where(Team.key == "north")).one().slack_channel == "C0NEWCHAN"
    link(app.engine, key="north", team={}, people={"amira": {"slack_user": "U0AMIRA01"}})
    body = post(bot, slash(api, "due", user="U0AMIRA01", channel="C0NEWCHAN",
                           trigger="t-9")).json()
    assert "North Community Team" in str(body) and "isn't linked" not in str(body)


# ---------------------------------------------------------------- the command line


def test_cli_imports_people_and_lists_who_is_reachable_where(tmp_path):
    from tests.test_cli import carebot

    result = carebot("demo", "--dir", str(tmp_path), env={})
    assert result.returncode == 0, result.stderr
    env = {"CAREBOT_CONFIG": str(tmp_path / "carebot.toml"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'carebot.db'}", "SLACK_BOT_TOKEN": ""}
    rows = _people(3)
    rows[1]["telegram_user"] = "7770011"
    path = write_csv(tmp_path / "people.csv", rows, COLUMNS)
    result = carebot("import", "people", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3 people: 3 new, 0 updated, 0 unchanged"
    listed = carebot("people", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["handle", "name", "role", "teams", "from", "slack", "telegram",
                                "email"]
    carer1 = next(line for line in lines if line.startswith("carer001"))
    assert carer1.split()[-5:] == ["north", "import", "-", "yes", "yes"]
    assert "@example.org" not in listed.stdout  # emails are never printed
    assert lines[-1] == "11 people: 0 on Slack, 1 on Telegram"
    bad = write_csv(tmp_path / "bad.csv", _people(2, role="chief"), COLUMNS)
    result = carebot("import", "people", str(bad), env=env)
    assert result.returncode == 1
    assert "rejected, nothing imported: 2 bad row(s)" in result.stderr
    assert "bad.csv: line 2:" in result.stderr and "bad.csv: line 3:" in result.stderr
    # An imported person can use the console.
    console = carebot("console", "--as", "carer002", "--at", "08:00", env=env, stdin="whoami\n")
    assert console.returncode == 0, console.stderr
    assert "Carer 2" in console.stdout


def test_cli_import_looks_up_slack_ids_when_a_token_is_set(tmp_path):
    from tests.test_cli import carebot

    assert carebot("demo", "--dir", str(tmp_path), env={}).returncode == 0
    fake = FakeSlack()
    fake.emails = {"carer0@example.org": "U0CARER00"}
    api = Served(fake.app)
    try:
        env = {"CAREBOT_CONFIG": str(tmp_path / "carebot.toml"),
               "DATABASE_URL": f"sqlite:///{tmp_path / 'carebot.db'}",
               "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_API_URL": f"{api.url}/api/"}
        path = write_csv(tmp_path / "people.csv", _people(2), COLUMNS)
        result = carebot("import", "people", str(path), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "2 people: 2 new, 0 updated, 0 unchanged",
            "Slack lookup by email: 1 found, 1 not in Slack (carer001)"]
        listed = carebot("people", "--lookup", env=env).stdout.splitlines()
        assert listed[0] == "Slack lookup by email: 0 found, 1 not in Slack (carer001)"
        assert listed[-1] == "10 people: 1 on Slack, 0 on Telegram"
    finally:
        api.stop()
