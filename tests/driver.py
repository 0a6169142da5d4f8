"""A test driver in the spirit of errbot's testbot: type a line as a person, move the clock,
pop what was posted and DMed. Built over the real pieces: the grammar and dispatcher (as
`run`), the console's clock (`Console.advance` stops at every team job and escalation timer
on the way), and the outbox delivered to a recording transport.

    bot.say("ben", "missed C-9X2P safety")
    bot.advance(minutes=44)           # runs the 08:15 and 08:30 repeats
    bot.at("17:30")                   # runs the end-of-day log on the way
    [(handle, dm)] = bot.dms()        # delivers the outbox, then pops what was sent
"""
from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.app import App
from bot.console import Console
from handlers.base import Actor, Chat
from handlers.dispatch import dispatch_line
from messages.reply import Reply


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


class Bot:
    def __init__(self, app: App):
        self.app = app

    @property
    def engine(self):
        return self.app.engine

    @property
    def now(self) -> datetime:
        return self.app.clock.now()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.app.config.teams[0].timezone or self.app.config.timezone)

    # ---- typing

    def say(self, handle: str, line: str, *, transport: str = "console", chat: str | None = None,
            private: bool = False) -> Reply:
        """Type a line as a person, through the real grammar and dispatcher. Nothing is
        delivered until posts() or dms() (or the clock moves)."""
        return dispatch_line(self.app.engine, self.app.clock, Actor(transport, handle),
                             Chat(transport, chat, private), line)

    # ---- the clock

    def advance(self, **delta: float) -> None:
        """Move the clock forward (timedelta keywords), running every team job and escalation
        timer that falls due on the way, as `carebot console`'s `:tick` does."""
        self._to(self.now + timedelta(**delta))

    def at(self, when: str | datetime) -> None:
        """Move the clock forward to "HH:MM" today (the first team's zone) or to a moment,
        running what falls due on the way."""
        if isinstance(when, str):
            day = self.now.astimezone(self.zone).date()
            when = datetime.combine(day, time.fromisoformat(when), self.zone)
        if when < self.now:
            raise ValueError(f"the clock only moves forward ({when} is before {self.now})")
        self._to(when)

    def set_clock(self, when: datetime) -> None:
        """Put the clock at a moment without running anything on the way (a process that
        starts then)."""
        self.app.clock.set(when)

    def _to(self, target: datetime) -> None:
        asyncio.run(Console(self.app, "driver").advance(target))

    def sweep(self) -> int:
        """One scheduler sweep now (escalation timers, then the outbox); how many fired."""
        return asyncio.run(self.app.sweep())

    # ---- what was sent

    def deliver(self) -> int:
        return asyncio.run(self.app.deliver())

    def posts(self, team: str | None = None) -> list:
        """Deliver the outbox, then pop the channel posts: [(team, Reply)], or [Reply] of one team."""
        return self._pop("posts", team)

    def dms(self, handle: str | None = None) -> list:
        """Deliver the outbox, then pop the DMs: [(handle, Reply)], or [Reply] of one person."""
        return self._pop("dms", handle)

    def _pop(self, kind: str, who: str | None) -> list:
        self.deliver()
        sent: list[tuple[str, Reply]] = getattr(self.app.transports[0], kind)
        taken = [(to, reply) for to, reply in sent if who is None or to == who]
        popped = {id(reply) for _, reply in taken}
        sent[:] = [(to, reply) for to, reply in sent if id(reply) not in popped]
        return taken if who is None else [reply for _, reply in taken]


def plain(sent: list) -> list:
    """posts()/dms() with each Reply as its plain text."""
    return [(item[0], item[1].plain()) if isinstance(item, tuple) else item.plain() for item in sent]
