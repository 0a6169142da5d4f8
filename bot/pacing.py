"""Sending at the platforms' floor without tripping their flood limits.

A Window lets at most `rate` sends through in any `period` seconds, counted from when each send
*completed*: the platform counts arrivals, which fall between our start and our completion, so
network jitter can never make two of our windows overlap one of theirs. Slack gets a Window per
channel (1 post a second), Telegram one per group (20 a minute) and one overall (30 a second),
the overall one split between the instances sharing the database (Budget).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Callable

from sqlalchemy.engine import Engine
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from storage import instances
from storage.db import session_scope
from storage.privacy import opaque_token

log = logging.getLogger(__name__)
# What Telegram's limits count: messages sent or edited (not callback answers, not getUpdates).
TELEGRAM_PACED = {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage",
                  "forwardMessage", "editMessageText", "editMessageCaption",
                  "editMessageReplyMarkup"}


class Window:
    def __init__(self, rate: float | Callable[[], float], period: float,
                 clock: Callable[[], float] = time.monotonic, *, even: bool = False):
        self._rate, self.period, self.clock = rate, period, clock
        self.recent: deque[float] = deque()  # completion times within the last period
        self.busy = 0
        # even: starts spaced period/rate apart, rather than a burst that queues at the server
        # (each reply then comes later, and the window counts from it). The spacing follows a
        # schedule, not the last start: sends held up (a busy event loop) catch up at once, a
        # quarter of a period's worth at most (so a short burst, never a period's).
        self.even, self.next_start = even, float("-inf")
        self.max_wait: float | None = None  # then TimeoutError: the send is not made at all
        self._loop = None

    @property
    def rate(self) -> float:
        return self._rate() if callable(self._rate) else self._rate

    def wait_time(self) -> float | None:
        """0 when a send may start now; else seconds until a slot frees (None: when one of the
        sends in flight completes, or the rate grows)."""
        now = self.clock()
        while self.recent and self.recent[0] <= now - self.period:
            self.recent.popleft()
        rate = self.rate
        if self.busy + len(self.recent) < rate:
            gap = self.next_start - now if self.even else 0.0
            return max(gap, 0.0)
        return self.recent[0] + self.period - now if self.recent else None

    def idle(self) -> bool:
        return self.busy == 0 and self.wait_time() == 0 and not self.recent

    def _primitives(self) -> tuple[asyncio.Lock, asyncio.Event]:
        loop = asyncio.get_running_loop()  # tests and the CLI may run several loops in turn
        if self._loop is not loop:
            self._loop, self._turn, self._freed = loop, asyncio.Lock(), asyncio.Event()
        return self._turn, self._freed

    async def __aenter__(self) -> None:
        turn, freed = self._primitives()
        since = self.clock()
        async with turn:  # first come, first served
            while (delay := self.wait_time()) != 0:
                wait = 1.0 if delay is None else delay  # None: look again now and then
                if self.max_wait is not None:
                    left = self.max_wait - (self.clock() - since)
                    if left <= 0:
                        raise TimeoutError(f"no send slot within {self.max_wait:g} s")
                    wait = min(wait, left)
                freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(freed.wait(), wait)
            self.busy += 1
            now = self.clock()
            self.next_start = max(self.next_start, now - self.period / 4) + self.period / self.rate

    async def __aexit__(self, *exc) -> None:
        self.busy -= 1
        self.recent.append(self.clock())
        self._primitives()[1].set()


class Windows:
    """A Window per key (a channel, a group), forgetting idle ones."""

    def __init__(self, rate: float, period: float, max_wait: float | None = None):
        self.rate, self.period, self.max_wait = rate, period, max_wait
        self.windows: dict[object, Window] = {}

    def __call__(self, key: object) -> Window:
        if len(self.windows) > 1000:
            self.windows = {k: w for k, w in self.windows.items() if not w.idle()}
        if key not in self.windows:
            self.windows[key] = Window(self.rate, self.period)
            self.windows[key].max_wait = self.max_wait
        return self.windows[key]


class Budget:
    """Telegram's overall budget, split between the live instances on one database.

    Each instance beats every REFRESH s (a row in `instance`) and may send total // N a period,
    N being the instances seen within TTL. A newcomer others have not counted yet sends nothing
    until they all have (JOIN_WAIT); an instance whose last beat is older than STALE sends
    nothing either, and the others take its share only after TTL. So the shares of one moment
    never add up to more than the total (STALE ≤ JOIN_WAIT < TTL)."""

    REFRESH, STALE, JOIN_WAIT, TTL = 5.0, 10.0, 11.0, 30.0

    def __init__(self, engine: Engine, total: int = 30, period: float = 1.0, *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), scale: float = 1.0):
        self.engine, self.total, self.period, self.now = engine, total, period, now
        self.scale = scale  # tests shrink the timings
        self.id = opaque_token(16)  # stored: no shape the masks would catch
        self.share, self.valid_until, self.waiting_until = 0, None, None
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Future | None = None

    def seconds_between(self, name: str) -> timedelta:
        return timedelta(seconds=getattr(self, name) * self.scale)

    def rate(self) -> int:
        now = self.now()
        if self.valid_until is None or now >= self.valid_until:
            return 0
        if self.waiting_until is not None and now < self.waiting_until:
            return 0
        return self.share

    def beat(self) -> int:
        """Tell the others this instance is alive; take its share. Returns the instances seen.

        The share lapses STALE after the beat began; a wait for the others starts when it
        ended: beats take a table lock, so a beat that missed us began before ours ended."""
        began = self.now()
        with session_scope(self.engine) as session:
            known, live = instances.beat(session, instance=self.id, now=began,
                                         ttl=self.seconds_between("TTL"),
                                         counted=self.seconds_between("TTL") - self.seconds_between("JOIN_WAIT"))
        if not known and live > 1:  # the others may not have counted us yet
            self.waiting_until = self.now() + self.seconds_between("JOIN_WAIT")
        self.share = math.floor(self.total / live)
        self.valid_until = began + self.seconds_between("STALE")
        return live

    async def start(self) -> None:
        """Beat now, then every REFRESH s on this loop: one heartbeat however many sends ask at
        once (again on another loop, or after a first beat that failed)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.get_loop() is not loop or self._task.done():
            self._ready = loop.create_future()
            self._task = asyncio.create_task(self._beating(self._ready))
        await asyncio.shield(self._ready)

    async def _beating(self, ready: asyncio.Future) -> None:
        try:
            await asyncio.to_thread(self.beat)
        except Exception as exc:
            ready.set_exception(exc)  # the senders waiting see it; the next one tries again
            return
        ready.set_result(None)
        while True:
            await asyncio.sleep(self.REFRESH * self.scale)
            try:
                await asyncio.to_thread(self.beat)
            except Exception as exc:  # noqa: BLE001 - the share lapses after STALE; keep trying
                log.warning("telegram budget: heartbeat failed: %s", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.valid_until = None
        with contextlib.suppress(Exception):  # the others find out after TTL anyway
            await asyncio.to_thread(self._leave)

    def _leave(self) -> None:
        with session_scope(self.engine) as session:
            instances.leave(session, instance=self.id)


class TelegramPacing(BaseRateLimiter):
    """PTB's rate limiter slot: each message waits for its group's window and the overall one
    before it is sent, so no 429 pauses the others. A 429 that still comes (another bot on the
    token, a limit we do not know) is waited out for that request only. A message that finds
    no slot within MAX_WAIT (a group over its 20 a minute, a share lapsed) is not sent: the
    outbox tries the row again later, rather than sending it after its lease ran out and
    another sweep took it."""

    MAX_WAIT = 60.0  # half the outbox lease

    def __init__(self, budget: Budget, *, group: tuple[int, float] = (20, 60.0),
                 max_retries: int = 3):
        self.budget, self.max_retries = budget, max_retries
        self.overall = Window(budget.rate, budget.period, even=True)
        self.overall.max_wait = self.MAX_WAIT
        self.groups = Windows(*group, max_wait=self.MAX_WAIT)

    async def initialize(self) -> None:
        await self.budget.start()

    async def shutdown(self) -> None:
        await self.budget.stop()

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint not in TELEGRAM_PACED:
            return await callback(*args, **kwargs)
        await self.budget.start()  # a bot used before initialize(), or on another loop
        chat = data.get("chat_id")
        for attempt in range((rate_limit_args or self.max_retries) + 1):
            async with self.groups(str(chat)) if _group(chat) else contextlib.nullcontext():
                async with self.overall:
                    try:
                        return await callback(*args, **kwargs)
                    except RetryAfter as exc:
                        if attempt >= (rate_limit_args or self.max_retries):
                            raise
                        wait = exc._retry_after.total_seconds()  # noqa: SLF001 - as PTB's own
            log.info("telegram: 429 on %s, retrying that one after %.1f s", endpoint, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _group(chat) -> bool:
    """A group or channel (negative id, or "@name"), which Telegram limits per minute."""
    text = str(chat or 0)
    return not text.lstrip("-").isdigit() or int(text) < 0
