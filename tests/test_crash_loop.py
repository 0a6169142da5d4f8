"""Crashes during delivery. First the Telegram transport cut short between the parts of a long
list (in process, the real transport against the fake Bot API); then real `carebot run`
processes killed (SIGKILL) at random points of a morning fan-out, restarted each time."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot import outbox
from messages.reply import Block, Reply
from storage.models import Outbox
from tests.conftest import count
from tests.test_files_transport import queue, statuses
from tests.test_telegram import GROUP, tg  # noqa: F401 - tg is a fixture


def long_list() -> Reply:
    """Three Telegram messages' worth (each part is under 4,096 characters)."""
    return Reply(blocks=[Block(text=f"Line {i}: " + "x" * 60) for i in range(150)])


def crash_at(monkeypatch, call: int, *, stored: bool) -> list[dict]:
    """The process dies at the `call`-th receipt write of a part (after writing it when
    stored, else before): the delivery stops there, nothing else runs, the lease stays."""
    real, seen = outbox._receipt, []

    def receipt(engine, row_id, transport, value):
        seen.append(value)
        if len(seen) == call:
            if stored:
                real(engine, row_id, transport, value)
            raise asyncio.CancelledError("killed")
        real(engine, row_id, transport, value)

    monkeypatch.setattr(outbox, "_receipt", receipt)
    return seen


def after_the_lease(app, monkeypatch) -> None:
    monkeypatch.undo()
    app.clock.set(app.clock.now() + timedelta(minutes=3))


def texts(fake) -> list[str]:
    return [m["text"] for m in fake.named("sendMessage")]


def test_a_crash_between_the_parts_of_a_list_sends_only_the_missing_parts_after(tg, monkeypatch):
    app, fake, bot = tg
    queue(app, "long:north", "team:north", long_list())
    crash_at(monkeypatch, 1, stored=True)  # part 1 sent and recorded, then the crash
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    [first] = texts(fake)
    assert statuses(app) == ["pending"]
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    parts = texts(fake)
    assert len(parts) == 3 and parts[0] == first and "Line 149" in parts[2]  # the rest, once
    assert fake.named("deleteMessage") == [] and statuses(app) == ["sent"]


def test_a_crash_before_a_part_is_recorded_sends_that_part_again_never_half_a_list(tg,
                                                                                   monkeypatch):
    """At least once: the part in the window between Telegram's answer and its receipt is sent
    twice; every part reaches the group and none before it is repeated."""
    app, fake, bot = tg
    queue(app, "long:north", "team:north", long_list())
    crash_at(monkeypatch, 2, stored=False)  # part 2 sent, its receipt never written
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    assert len(texts(fake)) == 2
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    one, two, two_again, three = texts(fake)
    assert two_again == two and "Line 149" in three and one != two
    assert count(app.engine, Outbox, Outbox.status == "sent") == 1


def test_a_dm_cut_short_resumes_in_the_same_chat(tg, monkeypatch):
    app, fake, bot = tg
    queue(app, "long:amira", "person:amira", long_list())
    crash_at(monkeypatch, 1, stored=True)
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    chats = [m["chat_id"] for m in fake.named("sendMessage")]
    assert len(chats) == 3 and len(set(chats)) == 1 and chats[0] != GROUP
    assert statuses(app) == ["sent"]
