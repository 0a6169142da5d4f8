"""Telegram posts that used to be refused or crash: long and emoji-heavy learning points, posts
Telegram refuses outright, and updates carebot must not act on."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session, select

from storage.models import AuditEvent, Outbox
from tests.conftest import count, run
from tests.fakes.servers import wait_for
from tests.fakes.telegram_api import parse_html, units
from tests.conftest import GROUP, contact, deliver, typed
from tests.conftest import TG_USERS as USERS


def rows(engine) -> dict[str, Outbox]:
    with Session(engine) as session:
        return {row.key: row for row in session.exec(select(Outbox))}


def to_group(fake) -> list[dict]:
    return [m for m in fake.named("sendMessage") if m["chat_id"] == GROUP]


@pytest.mark.parametrize("text, char", [("&" * 5000, "&"), ("😀" * 3000, "😀")])
def test_a_long_learning_point_is_delivered_split_with_no_400(tg, text, char):
    app, fake, bot = tg
    assert run(app, "amira", f"learn {text}").ok
    bot.call(app.deliver())
    parts = to_group(fake)
    refused = [name for name, _ in fake.calls if name.endswith("!400")]
    assert refused == [] and len(parts) >= 2
    seen = [parse_html(p["text"])[0] for p in parts]
    assert all(p["parse_mode"] == "HTML" and units(s) <= 4096 for p, s in zip(parts, seen))
    assert sum(s.count(char) for s in seen) == len(text)  # all of it, nothing cut off
    assert seen[0].splitlines()[0] == "North Community Team: handover learning point L-1"
    assert parts[-1]["reply_markup"]["inline_keyboard"]  # the I've read this button, at the end
    assert [row.status for row in rows(app.engine).values()] == ["sent"]


def test_a_post_refused_once_goes_as_plain_text(tg):
    app, fake, bot = tg
    fake.fail("sendMessage", status=400)
    bot.call(app.run_job("morning", "north"))
    refused, plain = [p for name, p in fake.calls if name.startswith("sendMessage")]
    assert refused["parse_mode"] == "HTML" and "parse_mode" not in plain
    assert plain["text"].startswith("North Community Team: contacts due Tue 24 Nov\n")
    assert "<b>" not in plain["text"] and plain["reply_markup"]["inline_keyboard"]
    assert rows(app.engine)["morning:north:2026-11-24"].status == "sent"


def test_a_post_refused_twice_is_failed_managers_told_and_counted_never_retried(tg):
    app, fake, bot = tg
    fake.fail("sendMessage", status=400, times=2)
    bot.call(app.run_job("morning", "north"))
    assert [n for n, _ in fake.calls if n.startswith("sendMessage")] == [
        "sendMessage!400", "sendMessage!400", "sendMessage"]
    row = rows(app.engine)["morning:north:2026-11-24"]
    assert (row.status, row.attempts) == ("failed", 1) and "refused twice" in row.last_error
    [told] = fake.named("sendMessage")
    assert told["chat_id"] == USERS["dan"]  # North's manager, in a DM
    lines = parse_html(told["text"])[0].splitlines()
    assert lines[0] == "carebot: a post could not be delivered — North Community Team"
    assert "morning:north:2026-11-24" in lines[1] and "will not be retried" in lines[1]
    health = httpx.get(f"{bot.url}/healthz", timeout=30).json()
    assert health["ok"] and health["failed_posts"] == 1

    calls = len(fake.calls)
    for hours in (1, 5, 30):  # never tried again
        app.clock.set(app.clock.now() + timedelta(hours=hours))
        bot.call(app.deliver())
    assert len(fake.calls) == calls and rows(app.engine)[row.key].status == "failed"


def test_an_edited_message_with_a_command_does_nothing(tg):
    app, fake, bot = tg
    update = typed("/done C-2M9Q", handle="ben")
    assert deliver(bot, {"update_id": update["update_id"], "edited_message": {
        **update["message"], "edit_date": int(time.time())}}) == 200
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert fake.named("sendMessage") == [] and count(app.engine, AuditEvent) == 0


def test_a_channel_post_does_not_crash_and_does_nothing(tg, caplog):
    app, fake, bot = tg
    post = {"message_id": 9, "date": int(time.time()), "text": "/due",
            "chat": {"id": -1009876, "type": "channel", "title": "News"},
            "sender_chat": {"id": -1009876, "type": "channel", "title": "News"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}]}
    assert deliver(bot, {"update_id": 777001, "channel_post": post}) == 200
    assert deliver(bot, {"update_id": 777002, "edited_channel_post": post}) == 200
    assert fake.named("sendMessage") == [] and count(app.engine, AuditEvent) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []  # no crash
    assert deliver(bot, typed("/whoami")) == 200  # and the bot still answers
    assert "You are Amira Khan" in fake.named("sendMessage")[-1]["text"]


def test_the_webhook_asks_only_for_messages_and_button_taps(tg):
    app, fake, bot = tg
    assert fake.named("setWebhook")[0]["allowed_updates"] == ["message", "callback_query"]


@pytest.mark.polling
def test_polling_asks_only_for_messages_and_taps_and_skips_edits(tg):
    app, fake, bot = tg
    edited = typed("/done C-2M9Q", handle="ben")
    fake.queue({"update_id": edited["update_id"], "edited_message": edited["message"]})
    fake.queue(typed("/missed C-7F3K hospital"))
    wait_for(lambda: contact(app.engine, "N-20261124-001").status == "missed", "the polled update")
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert fake.named("getUpdates")[0]["allowed_updates"] == ["message", "callback_query"]
