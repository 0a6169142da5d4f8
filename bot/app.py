"""Assembly: settings + config + database + clock + transports, and the few verbs they share."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bot.config import Config, load_config
from bot.metrics import Metrics, age_seconds
from bot.outbox import deliver_due
from bot.settings import Settings
from bot.transport import Transport
from handlers import jobs, sweep
from handlers.base import Actor, Chat, Clock, Command, SystemClock, UserError
from handlers.dispatch import dispatch, dispatch_line
from handlers.grammar import command_tokens
from messages.reply import Reply
from storage import repo
from storage.db import make_engine, session_scope, use_files_dir

log = logging.getLogger(__name__)
SOON = 0.2  # seconds a background sweep waits, to gather a burst of commands
# Seconds between two background sweeps while commands keep coming: a live list is edited about
# once a second, not once per tap (each edit costs the acks CPU and the SQLite write lock, and
# both platforms rate-limit edits), and a burst of taps ends with one last edit.
GAP = 1.0


@dataclass
class App:
    settings: Settings
    config: Config
    engine: Engine
    clock: Clock
    transports: list[Transport] = field(default_factory=list)
    _sweep: asyncio.Task | None = field(default=None, repr=False)
    _again: bool = field(default=False, repr=False)  # asked for while the background sweep ran
    # deliver() calls asked / answered so far, and the per-loop lock that lets one sweep run.
    _asked: int = field(default=0, repr=False)
    _answered: int = field(default=0, repr=False)
    _gate: tuple | None = field(default=None, repr=False)
    # When the scheduler last ran a job on this loop (None: no scheduler in this process).
    last_tick: datetime | None = None
    metrics: Metrics = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = Metrics(backlog=self.backlog)

    async def handle(self, command: Command, *, wait: bool = True) -> Reply:
        """Run a command off the event loop, then deliver what it queued.

        wait=False (the Slack ack path) returns at once and delivers in the background.
        """
        reply = await asyncio.to_thread(dispatch, self.engine, self.clock, command)
        self.metrics.command([command.verb, *command.args], reply)
        if reply.queued:
            await (self.deliver() if wait else self.deliver_soon())
        return reply

    async def handle_line(self, actor: Actor, chat: Chat, text: str, *, wait: bool = True,
                          event_id: str | None = None) -> Reply:
        """A typed line (`/care due`, `/due`, `due`): the same as handle, after the grammar."""
        reply = await asyncio.to_thread(dispatch_line, self.engine, self.clock, actor, chat, text,
                                        event_id)
        try:
            verb, args = command_tokens(text)
            tokens = [verb, *args]
        except UserError:  # a line the grammar refused: counted under verb "unknown"
            tokens = ["?"]
        self.metrics.command(tokens, reply)
        if reply.queued:
            await (self.deliver() if wait else self.deliver_soon())
        return reply

    async def deliver_soon(self) -> None:
        """Start a delivery sweep in the background unless one is already running. It starts a
        moment later (SOON), so a burst of commands shares one sweep and one edit of a live list
        instead of each ack racing a sweep of its own; asked for while it runs, it sweeps once
        more GAP later, so the last command of a burst is delivered too."""
        self._again = True
        sweep = self._sweep  # one of another loop (tests and the CLI run several) counts as gone
        if sweep is None or sweep.done() or sweep.get_loop() is not asyncio.get_running_loop():
            self._sweep = asyncio.create_task(self._background())

    async def _background(self) -> None:
        delay = SOON
        while self._again:
            await asyncio.sleep(delay)
            self._again = False
            await self.deliver()
            delay = GAP

    async def stop_background(self) -> None:
        """On shutdown: end the background sweep of this loop (its rows stay queued and the next
        run sends them), so the loop does not close with it pending."""
        sweep, self._sweep, self._again = self._sweep, None, False
        if sweep is not None and not sweep.done() and sweep.get_loop() is asyncio.get_running_loop():
            sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweep

    async def run_job(self, job: str, team_key: str, now: datetime | None = None, *,
                      wait: bool = True) -> bool:
        queued = await asyncio.to_thread(jobs.run, self.engine, job, team_key,
                                         now or self.clock.now())
        await (self.deliver() if wait else self.deliver_soon())
        return queued

    async def sweep(self) -> int:
        """Fire due escalations (and open newly overdue ones), then deliver the outbox."""
        started = time.perf_counter()
        fired = await asyncio.to_thread(sweep.sweep, self.engine, self.clock.now())
        self.metrics.sweep.observe(time.perf_counter() - started)
        await self.deliver()
        return fired

    async def housekeeping(self) -> dict[str, int]:
        """Daily: delete chat artefacts older than the config's retention_days."""
        from handlers.retention import purge

        gone = await asyncio.to_thread(purge, self.engine, self.clock.now(),
                                       self.config.retention_days)
        log.info("retention purge %s", gone)
        return gone

    async def deliver(self) -> int:
        """Send what the outbox holds. With no transport (e.g. `carebot post` from a shell)
        everything stays queued for `carebot run`."""
        if not self.transports:
            return 0
        # The morning minute starts hundreds of jobs that each call this: they share sweeps
        # instead of each hammering the database. One sweep at a time per process; a caller
        # returns once a sweep that began after its call has finished (so it saw its rows).
        # The database lease keeps several processes apart.
        self._asked += 1
        mine = self._asked
        async with self._lock():
            if self._answered >= mine:
                return 0
            upto = self._asked
            sent = await deliver_due(self.engine, self.clock, self.metrics.watch(self.transports),
                                     timedelta(seconds=self.settings.outbox_lease_seconds))
            self._answered = upto
            return sent

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()  # tests and the CLI may run several loops in turn
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Lock())
        return self._gate[1]

    async def heartbeat(self) -> None:
        """Run by the scheduler on the event loop: /healthz reads how long ago it last ran."""
        self.last_tick = self.clock.now()

    def backlog(self) -> dict:
        """The outbox backlog now (one query), for /healthz and /metrics."""
        with session_scope(self.engine) as session:
            b = repo.outbox_backlog(session)
        return {**b, "oldest_pending_seconds": age_seconds(self.clock.now(), b["oldest"])}


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> App:
    """Load and check the config first: a bad file stops us before the database is touched."""
    settings = settings or Settings()
    config = load_config(settings.config_path)
    use_files_dir(settings.files_dir)
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    from handlers import people

    people.BOT_USERNAME = settings.telegram_bot_username
    return App(settings=settings, config=config, engine=engine, clock=clock or SystemClock())


YOUNG = 10_000  # allocations between young collections (Python's default: 700)


def settle() -> None:
    """Start-up is over. What it loaded (modules, mappers, config) lives as long as the process:
    frozen out of the collector's sight, a full collection (which can land in an ack or a
    sweep) scans only what came after (~75 ms pauses became ~30). Young collections every
    YOUNG allocations rather than 700: a fan-out's sends in flight (each a few hundred objects)
    were promoted to the old generation and set off a full collection every few hundred posts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])
