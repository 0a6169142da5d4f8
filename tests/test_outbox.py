"""The outbox: at most once per key, kept and retried on failure, edits in place by revision."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from storage.models import Outbox
from tests.conftest import run


def outbox(engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)))


def test_a_failed_post_is_kept_and_retried_later_never_dropped(app):
    recorder = app.transports[0]
    recorder.fail = 2
    asyncio.run(app.run_job("morning", "north"))
    row = outbox(app.engine)[0]
    assert (row.status, row.attempts) == ("pending", 1) and "platform unavailable" in row.last_error
    asyncio.run(app.deliver())  # not due yet: backing off
    assert recorder.posts == [] and outbox(app.engine)[0].attempts == 1
    app.clock.set(app.clock.now() + timedelta(seconds=31))
    asyncio.run(app.deliver())
    assert outbox(app.engine)[0].attempts == 2
    app.clock.set(app.clock.now() + timedelta(minutes=2))
    asyncio.run(app.deliver())
    row = outbox(app.engine)[0]
    assert (row.status, len(recorder.posts), row.receipts["recorder"]["ref"]) == ("sent", 1, "msg-1")


def test_two_sweeps_send_each_post_once(app):
    async def two():
        app.transports[0].fail = 0
        await app.run_job("morning", "north")
        await asyncio.gather(app.deliver(), app.deliver())

    asyncio.run(two())
    assert len(app.transports[0].posts) == 1


def test_a_crash_mid_send_retries_after_the_lease_and_sends_once(app):
    from storage import repo
    from storage.db import session_scope

    asyncio.run(app.run_job("morning", "north"))
    asyncio.run(app.run_job("morning", "south"))
    recorder = app.transports[0]
    recorder.posts.clear()
    # A sweeper that leased both rows and died before sending: nothing is due again until
    # the lease runs out, then each is sent once.
    with session_scope(app.engine) as session:
        for row in session.exec(select(Outbox)):
            row.status, row.receipts = "pending", {}
        session.flush()
        assert len(repo.lease_due(session, now=app.clock.now())) == 2
    asyncio.run(app.deliver())
    assert recorder.posts == []
    app.clock.set(app.clock.now() + repo.LEASE + timedelta(seconds=1))
    asyncio.run(app.deliver())
    asyncio.run(app.deliver())
    assert sorted(team for team, _ in recorder.posts) == ["north", "south"]


def test_edits_coalesce_and_follow_the_latest_revision(app):
    asyncio.run(app.run_job("morning", "north"))
    for line in ("done C-2M9Q", "missed C-7F3K hospital", "missed C-4T7P staffing"):
        run(app, "amira", line)
    asyncio.run(app.deliver())
    edits = app.transports[0].edits
    assert len(edits) == 1 and "3 done" not in edits[0][1].plain()
    assert "14 due · 1 done · 2 missed · 11 open" in edits[0][1].plain()
    assert outbox(app.engine)[0].receipts["recorder"]["rev"] == 3


class SlackLike:
    """Reaches teams with a channel and people with a user id, like a real platform."""

    name = "chat"

    def __init__(self):
        self.posts, self.dms = [], []

    def reaches_team(self, team):
        return team.key == "north"

    def reaches_person(self, person):
        return person.handle == "dan"

    async def post_to_team(self, team, reply, *, key):
        self.posts.append((team.key, reply))
        return key

    async def update_team_post(self, team, reply, *, key, ref):
        return ref

    async def notify(self, person, reply, *, key):
        self.dms.append((person.handle, reply))
        return key


def test_a_dm_with_no_route_goes_to_the_home_channel_naming_nobody_first(app):
    chat = SlackLike()
    app.transports = [chat]
    run(app, "ben", "missed C-9X2P safety")  # pages amira, who has no DM route here
    asyncio.run(app.deliver())
    [(team, post)] = chat.posts
    lines = post.plain().splitlines()
    assert team == "north" and lines[0] == "carebot: a message for a colleague — North Community Team"
    assert lines[1].startswith("For Amira Khan (carebot cannot message you directly")
    assert "E-1 · C-9X2P · missed: Safety concern" in post.plain()
    [row] = [r for r in outbox(app.engine) if r.key.startswith("esc:")]
    assert row.status == "sent" and "chat" in row.receipts


def test_a_post_nobody_can_deliver_stays_queued(app):
    chat = SlackLike()
    app.transports = [chat]
    asyncio.run(app.run_job("morning", "south"))  # no channel for South on this platform
    [row] = outbox(app.engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "no transport reaches team morning:south:2026-11-24"


def test_without_transports_posts_wait_for_carebot_run(app):
    app.transports = []
    asyncio.run(app.run_job("morning", "north"))
    [row] = outbox(app.engine)
    assert (row.status, row.attempts) == ("pending", 0)


class Refusing(SlackLike):
    """Refuses every team post for good (like Telegram's 400 twice); DMs go through."""

    name = "telegram"

    def reaches_team(self, team):
        return True

    def reaches_person(self, person):
        return True

    async def post_to_team(self, team, reply, *, key):
        self.posts.append((team.key, reply))
        from bot.transport import Refused

        raise Refused("refused twice (HTML, then plain text): Bad Request")


def test_a_refused_post_is_failed_once_managers_told_once_and_never_retried(app):
    from storage import repo
    from storage.db import session_scope

    chat = Refusing()
    app.transports = [chat]
    asyncio.run(app.run_job("morning", "north"))
    asyncio.run(app.run_job("morning", "north"))  # the job again: the key still holds
    rows = {r.key: r for r in outbox(app.engine)}
    morning = rows["morning:north:2026-11-24"]
    assert (morning.status, morning.attempts, len(chat.posts)) == ("failed", 1, 1)
    [(who, told)] = chat.dms  # North's one manager; South's posts are untouched
    assert who == "dan" and rows[f"failed:{morning.id}:dan"].status == "sent"
    assert told.plain().splitlines()[0] == "carebot: a post could not be delivered — North Community Team"
    for _ in range(3):
        app.clock.set(app.clock.now() + timedelta(hours=2))
        asyncio.run(app.deliver())
    assert len(chat.posts) == 1 and len(chat.dms) == 1
    with session_scope(app.engine) as session:
        assert repo.failed_posts(session) == 1


class Down(SlackLike):
    """A platform that is down for now (a 5xx): its part must be retried, not given up."""

    name = "slack"
    up = False

    async def post_to_team(self, team, reply, *, key):
        if not self.up:
            raise RuntimeError("503 Service Unavailable")
        return await super().post_to_team(team, reply, key=key)


def test_a_refusal_on_one_platform_does_not_give_up_another_that_is_only_down(app):
    refusing, down = Refusing(), Down()
    app.transports = [refusing, down]
    asyncio.run(app.run_job("morning", "north"))
    [row] = [r for r in outbox(app.engine) if r.key == "morning:north:2026-11-24"]
    assert row.status == "pending" and down.posts == []  # kept for the platform that was down
    down.up = True
    app.clock.set(app.clock.now() + timedelta(minutes=5))
    asyncio.run(app.deliver())
    [row] = [r for r in outbox(app.engine) if r.key == "morning:north:2026-11-24"]
    assert [t for t, _ in down.posts] == ["north"]  # sent once it was back
    assert row.status == "failed" and "slack" in row.receipts  # then the refusal is final


def test_a_dm_a_platform_cannot_deliver_goes_to_the_home_channel_once_and_is_audited(app):
    """Any transport's Unreachable gets the same fallback, written by the outbox alone."""
    from bot.transport import Unreachable
    from storage.models import AuditEvent
    from tests.conftest import Recorder, count

    class NoDMs(Recorder):
        async def notify(self, person, reply, *, key):
            raise Unreachable("never opened a chat with the bot")

    app.transports = [NoDMs()]
    run(app, "ben", "missed C-9X2P safety")  # pages the on-call lead
    asyncio.run(app.deliver())
    [(team, posted)] = app.transports[0].posts
    assert team == "north" and posted.first_line.startswith("carebot: a message for a colleague")
    dm = [r for r in outbox(app.engine) if r.target.startswith("person:")][0]
    assert dm.status == "sent" and dm.receipts["recorder"]["ref"] == {"fallback": "north",
                                                                     "post": "msg-1"}
    assert count(app.engine, AuditEvent, AuditEvent.action == "notify:fallback") == 1


def test_a_burst_of_acked_commands_edits_the_list_a_few_times_ending_on_the_last(app, monkeypatch):
    """Acks deliver in the background (Slack, Telegram taps): a burst of taps must not edit the
    live list once per tap (each edit costs the acks CPU and counts against platform limits),
    and the burst's last tap must still reach the list."""
    from bot import app as app_module
    from handlers.base import Actor, Chat

    monkeypatch.setattr(app_module, "SOON", 0.02)
    monkeypatch.setattr(app_module, "GAP", 0.3)
    recorder = app.transports[0]
    slow_edit = recorder.update_team_post

    async def platform_edit(team, reply, *, key, ref):
        await asyncio.sleep(0.02)  # a platform round trip
        return await slow_edit(team, reply, key=key, ref=ref)

    recorder.update_team_post = platform_edit
    amira = (Actor("console", "amira"), Chat("console", None))

    async def burst() -> None:
        await app.run_job("morning", "north")
        for i in range(20):
            line = f"missed C-7F3K {('hospital', 'unavailable')[i % 2]}"
            assert (await app.handle_line(*amira, line, wait=False)).ok
            await asyncio.sleep(0.02)
        assert (await app.handle_line(*amira, "done C-2M9Q", wait=False)).ok
        for _ in range(300):  # bounded: until the list shows the last tap
            if outbox(app.engine)[0].status == "sent":
                break
            await asyncio.sleep(0.02)

    asyncio.run(burst())
    edits = [reply.plain() for _, reply in recorder.edits]
    assert 1 <= len(edits) <= 5  # once per tap would be 21
    assert "1 done · 1 missed" in edits[-1]


def test_stopping_ends_the_background_sweep_and_its_rows_stay_queued(app):
    """On shutdown the background sweep a command started is ended, not left pending as the
    loop closes; what it would have sent stays queued for the next run."""
    from bot.app import SOON

    async def queued_then_stopped():
        await app.run_job("morning", "north", wait=False)  # delivery left to the background
        await app.stop_background()
        await asyncio.sleep(SOON * 3)  # long past when the sweep would have run

    asyncio.run(queued_then_stopped())
    assert app.transports[0].posts == [] and outbox(app.engine)[0].status == "pending"
    asyncio.run(app.deliver())
    assert len(app.transports[0].posts) == 1


def test_a_cancelled_receipt_writer_cancels_every_waiting_sender_and_ends_cancelled(app, monkeypatch):
    """Receipts written together: when the sweep is stopped mid-write, the senders waiting on
    that write and those queued behind it are cancelled (none waits for a write that will never
    come), and the writer ends cancelled rather than writing on."""
    import threading

    from bot import outbox as delivery

    started, release, written = threading.Event(), threading.Event(), []

    def slow(engine, items):
        started.set()
        release.wait(5)
        written.extend(items)

    monkeypatch.setattr(delivery, "_receipts", slow)

    async def scenario():
        receipts = delivery.Receipts(app.engine)
        first = asyncio.create_task(receipts.add(1, "slack", {"ref": "a", "rev": 0}))
        await asyncio.to_thread(started.wait, 5)
        behind = asyncio.create_task(receipts.add(2, "slack", {"ref": "b", "rev": 0}))
        await asyncio.sleep(0)
        receipts.writing.cancel()
        outcomes = await asyncio.wait_for(asyncio.gather(first, behind, return_exceptions=True), 2)
        await asyncio.sleep(0)
        return outcomes, receipts.writing.cancelled(), receipts.waiting

    try:
        outcomes, cancelled, waiting = asyncio.run(scenario())
    finally:
        release.set()
    assert [type(o) for o in outcomes] == [asyncio.CancelledError, asyncio.CancelledError]
    assert cancelled and waiting == []
    assert [row for row, _, _ in written] in ([], [1])  # the write under way may finish; no other


def test_a_sweep_stopped_mid_send_ends_its_sends_and_the_post_goes_once_later(app):
    """Shutdown while a post is on its way: the sweep's sends are cancelled with it (none is
    left running with no sweep to own it), and the row goes out once after its lease."""
    recorder = app.transports[0]
    stuck, started = asyncio.Event(), asyncio.Event()
    real_post = recorder.post_to_team

    async def slow_post(team, reply, *, key):
        started.set()
        await stuck.wait()  # never set: the send is under way when the sweep is stopped
        return await real_post(team, reply, key=key)

    async def stopped_mid_send():
        recorder.post_to_team = slow_post
        await app.run_job("morning", "north", wait=False)
        await asyncio.wait_for(started.wait(), 5)
        await app.stop_background()
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(stopped_mid_send()) == []
    del recorder.post_to_team
    assert recorder.posts == [] and outbox(app.engine)[0].status == "pending"
    app.clock.set(app.clock.now() + timedelta(minutes=3))  # past the lease
    asyncio.run(app.deliver())
    assert len(recorder.posts) == 1 and outbox(app.engine)[0].status == "sent"
