"""Delivery per platform: each receipt is stored as its send completes, Slack never waits for
Telegram, and a Slack post that went out just before a crash is found by its key (message
metadata in the channel history) instead of being posted again."""
from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot import outbox
from bot.outbox import deliver_due
from bot.slack import SlackTransport, web_client
from bot.transport import TransportError
from messages.reply import Block, Reply
from storage import repo
from storage.db import session_scope
from storage.models import Outbox
from tests.conftest import link
from tests.fakes.servers import Served
from tests.fakes.slack_api import FakeSlack

KEY = "morning:north:2026-11-24"


class Crash(BaseException):
    """The process dies here: nothing after it runs (not even the outbox's error handling)."""


class Telegram:
    """A stand-in Telegram transport that counts sends; it can fail, or hold until released."""

    name = "telegram"

    def __init__(self):
        self.sent: Counter[str] = Counter()
        self.fail = 0
        self.hold: asyncio.Event | None = None

    def reaches_team(self, team) -> bool:
        return True

    def reaches_person(self, person) -> bool:
        return True

    async def post_to_team(self, team, reply, *, key):
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            self.fail -= 1
            raise TransportError("telegram: 502 Bad Gateway")
        self.sent[key] += 1
        return {"chat": -100, "ids": [self.sent.total()]}

    async def update_team_post(self, team, reply, *, key, ref):
        return ref

    async def notify(self, person, reply, *, key):
        self.sent[key] += 1
        return {"chat": 1, "ids": [self.sent.total()]}


@pytest.fixture
def slack_api(app):
    link(app.engine, team={"slack_channel": "C0NORTH01"}, people={})
    fake = FakeSlack()
    api = Served(fake.app)
    yield fake, SlackTransport(web_client("xoxb-test", f"{api.url}/api/"))
    api.stop()


def queue(app, key: str = KEY, target: str = "team:north") -> None:
    payload = Reply(blocks=[Block(text="carebot: contacts due today")]).model_dump(mode="json")
    with session_scope(app.engine) as session:
        repo.enqueue(session, key=key, target=target, payload=payload, now=app.clock.now())


def row(app, key: str = KEY) -> Outbox:
    with Session(app.engine) as session:
        return session.exec(select(Outbox).where(Outbox.key == key)).one()


def posts(fake: FakeSlack) -> list[dict]:
    return fake.named("chat.postMessage")


def test_a_crash_between_the_slack_post_and_its_receipt_posts_nothing_new(app, slack_api,
                                                                         monkeypatch):
    fake, slack = slack_api
    telegram = Telegram()
    queue(app)
    real_receipts = outbox._receipts

    def crash_on_slack(engine, items):
        if any(transport == "slack" for _, transport, _ in items):
            raise Crash()
        return real_receipts(engine, items)

    async def first_sweep():
        telegram.hold = asyncio.Event()  # Telegram's send has not gone out when the crash hits
        await deliver_due(app.engine, app.clock, [slack, telegram])

    monkeypatch.setattr(outbox, "_receipts", crash_on_slack)
    with pytest.raises(Crash):
        asyncio.run(first_sweep())
    monkeypatch.setattr(outbox, "_receipts", real_receipts)
    [posted] = posts(fake)
    assert posted["metadata"] == {"event_type": "carebot_post", "event_payload": {"key": KEY}}
    assert telegram.sent == Counter() and row(app).receipts == {} and row(app).status == "pending"

    telegram.hold = None
    asyncio.run(deliver_due(app.engine, app.clock, [slack, telegram]))  # still leased: nothing
    assert len(posts(fake)) == 1 and telegram.sent == Counter()

    app.clock.set(app.clock.now() + repo.LEASE + timedelta(seconds=1))
    asyncio.run(deliver_due(app.engine, app.clock, [slack, telegram]))
    assert len(posts(fake)) == 1, "the Slack post was sent again after the crash"
    [looked] = fake.named("conversations.history")
    assert looked["channel"] == "C0NORTH01" and looked["include_all_metadata"] in ("1", "true")
    assert telegram.sent == Counter({KEY: 1})
    done = row(app)
    assert done.status == "sent"
    assert done.receipts["slack"]["ref"] == {"channel": "C0NORTH01", "ts": fake.messages[
        "C0NORTH01"][0]["ts"]}


def test_a_crash_before_the_slack_post_posts_it_once_after_the_lease(app, slack_api):
    fake, slack = slack_api
    telegram = Telegram()
    queue(app)
    with session_scope(app.engine) as session:  # a sweeper leased the row, then died
        assert len(repo.lease_due(session, now=app.clock.now())) == 1
    app.clock.set(app.clock.now() + repo.LEASE + timedelta(seconds=1))
    asyncio.run(deliver_due(app.engine, app.clock, [slack, telegram]))
    assert len(fake.named("conversations.history")) == 1  # looked, found nothing, posted
    assert len(posts(fake)) == 1 and telegram.sent == Counter({KEY: 1})
    assert row(app).status == "sent"


def test_a_new_post_does_not_search_the_history(app, slack_api):
    fake, slack = slack_api
    queue(app)
    asyncio.run(deliver_due(app.engine, app.clock, [slack, Telegram()]))
    assert len(posts(fake)) == 1 and fake.named("conversations.history") == []


def test_slack_receipt_is_stored_while_telegram_is_still_sending_and_kept_when_it_fails(
        app, slack_api):
    fake, slack = slack_api
    telegram = Telegram()
    telegram.fail = 1
    queue(app)
    seen: dict = {}

    async def sweep():
        telegram.hold = asyncio.Event()
        sweeping = asyncio.create_task(deliver_due(app.engine, app.clock, [slack, telegram]))
        for _ in range(500):  # bounded: until Slack's receipt is in the database
            seen.update(await asyncio.to_thread(lambda: row(app).receipts))
            if "slack" in seen:
                break
            await asyncio.sleep(0.01)
        telegram.hold.set()
        await sweeping

    asyncio.run(sweep())
    assert "slack" in seen, "Slack's receipt waited for Telegram"
    failed = row(app)
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert "slack" in failed.receipts and "telegram" not in failed.receipts

    telegram.hold = None
    app.clock.set(app.clock.now() + timedelta(seconds=31))
    asyncio.run(deliver_due(app.engine, app.clock, [slack, telegram]))
    assert len(posts(fake)) == 1, "Slack was sent again on Telegram's retry"
    assert fake.named("conversations.history") == []  # its receipt said it was sent
    assert telegram.sent == Counter({KEY: 1}) and row(app).status == "sent"


def test_a_retried_slack_dm_is_found_in_the_dm_history(app, slack_api, monkeypatch):
    fake, slack = slack_api
    link(app.engine, team={}, people={"amira": {"slack_user": "U0AMIRA01"}})
    key = "esc:1:L1:P1"
    queue(app, key=key, target="person:amira")
    real_receipts = outbox._receipts

    def crash(*args):
        raise Crash()

    monkeypatch.setattr(outbox, "_receipts", crash)
    with pytest.raises(Crash):
        asyncio.run(deliver_due(app.engine, app.clock, [slack]))
    monkeypatch.setattr(outbox, "_receipts", real_receipts)
    app.clock.set(app.clock.now() + repo.LEASE + timedelta(seconds=1))
    asyncio.run(deliver_due(app.engine, app.clock, [slack]))
    assert [p["channel"] for p in posts(fake)] == ["DU0AMIRA01"]
    assert row(app, key).status == "sent"


def test_the_key_is_found_beyond_the_first_page_of_history(app, slack_api):
    fake, slack = slack_api
    queue(app)
    with session_scope(app.engine) as session:
        repo.lease_due(session, now=app.clock.now())
    asyncio.run(slack.post("C0NORTH01", Reply.text("carebot: earlier"), key=KEY))
    for i in range(250):  # the team kept talking since
        asyncio.run(slack.post("C0NORTH01", Reply.text(f"chat {i}")))
    app.clock.set(app.clock.now() + repo.LEASE + timedelta(seconds=1))
    asyncio.run(deliver_due(app.engine, app.clock, [slack]))
    assert len(posts(fake)) == 251 and len(fake.named("conversations.history")) == 2
    assert row(app).receipts["slack"]["ref"]["ts"] == fake.messages["C0NORTH01"][0]["ts"]


def test_concurrent_receipts_for_one_row_keep_each_other(engine):
    with session_scope(engine) as session:
        repo.enqueue(session, key="k", target="team:north", payload={}, now=_now())
    with Session(engine) as session:
        row_id = session.exec(select(Outbox.id)).one()
    names = [f"p{i}" for i in range(8)]
    start = threading.Barrier(len(names))

    def write(name: str) -> None:
        start.wait()
        with session_scope(engine) as session:
            repo.record_receipts(session, [(row_id, name, {"ref": name, "rev": 0})])

    threads = [threading.Thread(target=write, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as session:
        receipts = session.exec(select(Outbox.receipts)).one()
    assert sorted(receipts) == names
    with session_scope(engine) as session:  # an older revision's late receipt loses
        repo.record_receipts(session, [(row_id, "p0", {"ref": "x", "rev": 2})])
        repo.record_receipts(session, [(row_id, "p0", {"ref": "y", "rev": 1})])
    with Session(engine) as session:
        assert session.exec(select(Outbox.receipts)).one()["p0"] == {"ref": "x", "rev": 2}


def _now():
    from datetime import datetime, timezone

    return datetime(2026, 11, 24, 8, tzinfo=timezone.utc)


class Paced:
    """Counts sends in flight and the order each target got its posts in."""

    name = "paced"

    def __init__(self):
        self.in_flight = self.most = 0
        self.order: dict[str, list[str]] = {}

    def reaches_team(self, team) -> bool:
        return True

    def reaches_person(self, person) -> bool:
        return True

    async def _send(self, where: str, key: str):
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.001)  # yield: let the other targets' sends start
        self.order.setdefault(where, []).append(key)
        self.in_flight -= 1
        return key

    async def post_to_team(self, team, reply, *, key):
        return await self._send(team.key, key)

    async def update_team_post(self, team, reply, *, key, ref):
        return ref

    async def notify(self, person, reply, *, key):
        return await self._send(person.handle, key)


def test_targets_are_sent_side_by_side_bounded_per_platform_each_in_order(app, monkeypatch):
    paced = Paced()
    targets = {"north": "team:north", "south": "team:south", "amira": "person:amira"}
    for i in range(30):
        for where, target in targets.items():
            queue(app, key=f"{where}:{i:02d}", target=target)
    monkeypatch.setattr(outbox, "IN_FLIGHT", 2)
    asyncio.run(deliver_due(app.engine, app.clock, [paced]))
    assert paced.most == 2  # side by side, never past the platform's bound
    for where in targets:
        assert paced.order[where] == [f"{where}:{i:02d}" for i in range(30)]


class Ready(Telegram):
    """A transport with a wire form (as Slack's and Telegram's): notes, weakly, each Reply it
    prepared from, and whether any is still alive while its send waits."""

    def __init__(self):
        super().__init__()
        self.made, self.got, self.alive = [], [], []

    def prepare(self, make):
        reply = make()
        self.made.append(weakref.ref(reply))
        return ("wire", reply.first_line)

    async def post_to_team(self, team, post, *, key):
        self.got.append(post)
        gc.collect()
        self.alive.append(any(ref() is not None for ref in self.made))
        return await super().post_to_team(team, post, key=key)


def test_while_a_send_waits_only_its_wire_form_is_held_not_the_reply(app):
    """A 200-team fan-out's replies (hundreds of objects each) must be garbage before their
    sends wait on the network, or they reach the collector's oldest generation."""
    ready = Ready()
    queue(app)
    asyncio.run(deliver_due(app.engine, app.clock, [ready]))
    assert ready.got == [("wire", "carebot: contacts due today")]
    assert ready.alive == [False] and len(ready.made) == 1
    assert row(app).status == "sent"
