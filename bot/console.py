"""The console transport: type commands, see replies, channel posts as `[#team]`, DMs as `[DM @name]`.

A simulated clock starts at --at (or now) and moves only with `:at` / `:tick`; whatever falls
due in between runs through the same job functions and outbox as the real scheduler.
"""
from __future__ import annotations

import asyncio
import re
import sys
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import dateparser

from bot import scheduler
from bot.app import App
from handlers import sweep
from handlers.base import Actor, Chat, SimClock, UserError
from messages.reply import Reply
from messages.text import render
from storage.models import Person, Team

_STEP = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
META_HELP = (":tick 2h (move the clock; also 15m, 1d, 1h30m) · :at 2026-11-24 17:31 · "
             ":now · :as HANDLE · :quit")


class ConsoleTransport:
    """Prints what the acting person would see (their teams' channels and their own DMs), or
    everything when `people` is None (`console --all`)."""

    name = "console"

    def __init__(self, out: TextIO, people: dict[str, tuple[str, list[str]]] | None = None):
        self.out, self.people = out, people  # handle -> (role, team keys)
        self.handle: str | None = None  # the acting person, set by the Console

    def _sees(self, team_key: str | None = None, handle: str | None = None) -> bool:
        if self.people is None or self.handle is None:
            return True
        if handle is not None:
            return handle == self.handle
        role, teams = self.people.get(self.handle, ("staff", []))
        return role == "nominated" or team_key in teams

    def reaches_team(self, team: Team) -> bool:
        return True

    def reaches_person(self, person: Person) -> bool:
        return True

    async def post_to_team(self, team: Team, reply: Reply, *, key: str) -> str:
        if self._sees(team_key=team.key):
            self._print(f"[#{team.key}]", reply)
        return key

    async def update_team_post(self, team: Team, reply: Reply, *, key: str, ref: str) -> str:
        return ref  # the console shows the caller's own reply; reprinting the list is noise

    async def notify(self, person: Person, reply: Reply, *, key: str) -> str:
        if self._sees(handle=person.handle):
            self._print(f"[DM @{person.handle}]", reply)
        return key

    def _print(self, prefix: str, reply: Reply) -> None:
        print(f"{prefix} {render(reply)}\n", file=self.out, flush=True)


def parse_step(text: str) -> timedelta:
    """`2h`, `15m`, `1h30m`, `1d` → a timedelta; anything else is one clear line."""
    text = text.strip().lower().replace(" ", "")
    parts = _STEP.findall(text)
    if not parts or _STEP.sub("", text):
        raise UserError(f"Can't read {text!r} as a step. Example: :tick 2h (or 15m, 1d, 1h30m)")
    step = timedelta()
    for number, unit in parts:
        step += timedelta(**{_UNITS[unit]: int(number)})
    return step


def parse_when(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """`2026-11-24 17:31`, `17:31`, `tomorrow 07:00` in the team's zone."""
    try:
        value = datetime.fromisoformat(text.strip())
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    except ValueError:
        pass
    value = dateparser.parse(text, settings={
        "TIMEZONE": str(zone), "RETURN_AS_TIMEZONE_AWARE": True,
        "RELATIVE_BASE": now.astimezone(zone).replace(tzinfo=None)})
    if value is None:
        raise UserError(f"Can't read {text!r} as a time. Example: :at 2026-11-24 17:31")
    return value


class Console:
    def __init__(self, app: App, handle: str, out: TextIO = sys.stdout):
        self.app, self.out = app, out
        self.handle = handle
        self.clock: SimClock = app.clock  # type: ignore[assignment]
        self.zone = ZoneInfo(app.config.teams[0].timezone or app.config.timezone)
        self.triggers = scheduler.team_triggers(app.engine)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def start(self) -> None:
        """Post anything whose time passed just before the clock's start (as after a restart)."""
        for fire, job, team in scheduler.missed_recently(self.triggers, self.clock.now()):
            await self.app.run_job(job, team, now=fire)
        await self.app.sweep()

    async def line(self, text: str) -> bool:
        """Handle one input line; False means quit."""
        text = text.strip()
        if not text or text.startswith("#"):
            return True
        if text.startswith(":"):
            try:
                return await self._meta(text)
            except UserError as exc:
                self.say(str(exc))
                return True
        reply = await self.app.handle_line(Actor("console", self.handle), Chat("console", None), text)
        self.say(render(reply) + "\n")
        return True

    async def _meta(self, text: str) -> bool:
        word, _, rest = text[1:].partition(" ")
        word = word.lower()
        if word in ("q", "quit", "exit"):
            return False
        if word == "as" and rest.strip():
            handle = rest.strip().lstrip("@").lower()
            from storage.db import session_scope
            from storage.people import listing

            with session_scope(self.app.engine) as session:  # the config's and imported people
                handles = [r.handle for r in listing(session)]
            if handle not in handles:
                raise UserError(f"No person {handle!r} in the config. Example: :as {handles[0]}")
            self.handle = handle
            self.say(f"Now acting as @{self.handle}.")
        elif word == "now":
            self.say(self.now_line())
        elif word in ("tick", "at"):
            now = self.clock.now()
            target = (now + parse_step(rest) if word == "tick"
                      else parse_when(rest, self.zone, now))
            if target < now:
                raise UserError("The simulated clock only moves forward. Example: :tick 2h")
            await self.advance(target)
            self.say(self.now_line())
        else:
            self.say(META_HELP)
        return True

    async def advance(self, target: datetime) -> None:
        """Move the clock to target, stopping at every team job and escalation timer on the way."""
        jobs = scheduler.fires_between(self.triggers, self.clock.now(), target)
        while True:
            now = self.clock.now()
            timer = await asyncio.to_thread(sweep.next_due, self.app.engine, now)
            timer = max(timer, now) if timer and timer <= target else None
            if jobs and (timer is None or jobs[0][0] <= timer):
                fire, job, team = jobs.pop(0)
                self.clock.set(fire)
                await self.app.run_job(job, team)
            elif timer is not None:
                self.clock.set(timer)
                if not await self.app.sweep():
                    if timer >= target:
                        break
                    self.clock.set(timer + timedelta(seconds=1))
            else:
                break
        self.clock.set(target)
        await self.app.sweep()

    @property
    def handle(self) -> str:
        return self._handle

    @handle.setter
    def handle(self, handle: str) -> None:
        """Acting as someone else: the console shows their channels and DMs from now on."""
        self._handle = handle
        for transport in self.app.transports:
            if isinstance(transport, ConsoleTransport):
                transport.handle = handle

    def now_line(self) -> str:
        return f"· clock: {self.clock.now().astimezone(self.zone):%a %-d %b %Y %H:%M} ({self.zone})"


async def run_console(app: App, handle: str, stdin: TextIO = sys.stdin,
                      out: TextIO = sys.stdout) -> None:
    console = Console(app, handle, out)
    interactive = stdin.isatty()
    if interactive:
        console.say(f"carebot console as @{handle}. Type `help` for commands; {META_HELP}")
        console.say(console.now_line())
    await console.start()
    while True:
        if interactive:
            print(f"{console.handle}> ", end="", file=out, flush=True)
        text = stdin.readline()
        if not text or not await console.line(text):
            break
