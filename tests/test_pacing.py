"""Sending at the platforms' floor without tripping their limits: Telegram's overall budget is
split between the instances on one database, and paced bots never see a 429 (counted by the
rate-limiting fakes, never timed)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from telegram.ext import ExtBot

from bot.pacing import Budget, TelegramPacing, Window
from tests.fakes.servers import Served
from tests.fakes.telegram_api import FakeTelegram

TOTAL = 30


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self):
        self.at = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def test_two_instances_on_one_database_never_take_more_than_the_whole_budget(engine):
    wall = Wall()
    a, b = Budget(engine, TOTAL, now=wall), Budget(engine, TOTAL, now=wall)
    shares: list[tuple[int, int]] = []
    # Each beats every 5 s, B a little later; B starts at 17 s; A is wedged (no beat) from 50 s
    # to 90 s, then beats again; A leaves for good at 150 s.
    for second in range(200):
        if second % 5 == 0 and second not in range(50, 90) and second < 150:
            a.beat()
        if second == 150:
            asyncio.run(a.stop())
        if second >= 17 and second % 5 == 2:
            b.beat()
        shares.append((a.rate(), b.rate()))
        wall.at += timedelta(seconds=1)
    over = [(s, pair) for s, pair in enumerate(shares) if sum(pair) > TOTAL]
    assert over == [], f"the instances together went over the budget: {over[:3]}"
    assert shares[10] == (30, 0), "alone, A has it all"
    assert shares[40] == (15, 15), "two live instances split it"
    assert shares[75][0] == 0, "a wedged instance sends nothing once its share lapsed"
    assert shares[85] == (0, 30), "and the other takes it over after the TTL"
    assert shares[120] == (15, 15), "back, it is counted again"
    assert shares[199] == (0, 30), "it left: the other has it all"


def test_a_window_lets_rate_sends_through_per_period_counted_from_completion():
    clock = [0.0]
    window = Window(2, 1.0, clock=lambda: clock[0])

    async def go():
        async with window:
            clock[0] += 0.3  # the send takes 0.3 s
        async with window:
            pass
        return window.wait_time()

    assert asyncio.run(go()) == 1.0  # full until the first send's completion is a period old
    clock[0] = 1.3
    assert window.wait_time() == 0


def test_an_even_window_spaces_starts_and_catches_up_after_a_stall():
    """Telegram's overall window: starts go period/rate apart on a schedule, so sends held up
    (a busy event loop) catch up at once, but only a quarter period's worth: a short burst."""
    clock = [0.0]
    window = Window(4, 1.0, clock=lambda: clock[0], even=True)  # a start every 0.25 s

    async def send() -> float:
        wait = window.wait_time()
        if wait == 0:  # else the frozen clock would never let it through
            async with window:
                pass
        return wait

    async def go() -> list[float]:
        waits = [await send(), await send(), window.wait_time()]  # idle: two at once
        clock[0] = 0.25
        waits.append(await send())
        clock[0] = 0.3
        waits.append(window.wait_time())  # the next is due at 0.5
        clock[0] = 1.0  # held up: the one due at 0.75 and the one due now go together
        waits += [await send(), await send(), window.wait_time()]
        return waits

    assert [round(w, 2) for w in asyncio.run(go())] == [0, 0, 0.25, 0, 0.2, 0, 0, 0.25]


def test_two_paced_bots_on_one_database_never_trip_telegram_429s(engine):
    """Two instances, each pacing to its share; the fake enforces the whole budget (scaled
    down: 10 messages per 0.5 s overall, 4 per second per group) and counts its 429s."""
    fake = FakeTelegram(limits=True, overall=(10, 0.5), group=(4, 1.0))
    api = Served(fake.app)
    per_bot = 16

    async def fan_out():
        bots = [ExtBot(f"1:bot{n}", base_url=f"{api.url}/bot", rate_limiter=TelegramPacing(
            Budget(engine, 10, 0.5, scale=0.05), group=(4, 1.0))) for n in range(2)]
        for bot in bots:
            await bot.initialize()
        # Six messages to each instance's own group, the rest to people.
        chats = [[-1000 - n] * 6 + [n * 100 + i for i in range(per_bot - 6)] for n in range(2)]
        await asyncio.gather(*(bot.send_message(chat, "carebot: list")
                               for bot, mine in zip(bots, chats) for chat in mine))
        for bot in bots:
            await bot.shutdown()

    try:
        api.call(fan_out(), timeout=120)
    finally:
        api.stop()
    assert len(fake.named("sendMessage")) == 2 * per_bot
    assert fake.throttled == 0


def test_a_send_that_finds_no_slot_in_time_is_not_made():
    window = Window(1, 60.0)
    window.max_wait = 0.05
    made = []

    async def go():
        async with window:
            made.append(1)
        try:
            async with window:  # the next slot is a minute away
                made.append(2)
        except TimeoutError:
            return "gave up"

    assert asyncio.run(go()) == "gave up" and made == [1]


def test_sends_that_start_together_share_one_heartbeat(engine, monkeypatch):
    from storage import instances

    beats = []
    real = instances.beat
    monkeypatch.setattr(instances, "beat", lambda *a, **k: beats.append(1) or real(*a, **k))
    budget = Budget(engine, TOTAL)

    async def many():
        await asyncio.gather(*(budget.start() for _ in range(20)))
        rate = budget.rate()
        await budget.stop()
        return rate

    assert asyncio.run(many()) == TOTAL and len(beats) == 1
