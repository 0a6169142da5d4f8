"""Assembly: settings + config + database + clock + transports, and the few verbs they share."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.config import Config, load_config
from bot.outbox import deliver_due
from bot.settings import Settings
from bot.transport import Transport
from handlers import escalation, jobs
from handlers.base import Actor, Chat, Clock, Command, SystemClock
from handlers.dispatch import dispatch, dispatch_line
from messages.reply import Reply
from storage import repo
from storage.db import make_engine, session_scope

log = logging.getLogger(__name__)
SOON = 0.2  # seconds a background sweep waits, to gather a burst of commands


@dataclass
class App:
    settings: Settings
    config: Config
    engine: Engine
    clock: Clock
    transports: list[Transport] = field(default_factory=list)
    _sweep: asyncio.Task | None = field(default=None, repr=False)

    async def handle(self, command: Command, *, wait: bool = True) -> Reply:
        """Run a command off the event loop, then deliver what it queued.

        wait=False (the Slack ack path) returns at once and delivers in the background.
        """
        reply = await asyncio.to_thread(dispatch, self.engine, self.clock, command)
        if reply.queued:
            await (self.deliver() if wait else self.deliver_soon())
        return reply

    async def handle_line(self, actor: Actor, chat: Chat, text: str, *, wait: bool = True,
                          event_id: str | None = None) -> Reply:
        """A typed line (`/care due`, `/due`, `due`): the same as handle, after the grammar."""
        reply = await asyncio.to_thread(dispatch_line, self.engine, self.clock, actor, chat, text,
                                        event_id)
        if reply.queued:
            await (self.deliver() if wait else self.deliver_soon())
        return reply

    async def deliver_soon(self) -> None:
        """Start a delivery sweep in the background unless one is already running. It starts a
        moment later (SOON), so a burst of commands shares one sweep and one edit of a live list
        instead of each ack racing a sweep of its own."""
        if self._sweep is None or self._sweep.done():
            self._sweep = asyncio.create_task(self._deliver_after(SOON))

    async def _deliver_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.deliver()

    async def run_job(self, job: str, team_key: str, now: datetime | None = None) -> bool:
        queued = await asyncio.to_thread(jobs.run, self.engine, job, team_key,
                                         now or self.clock.now())
        await self.deliver()
        return queued

    async def sweep(self) -> int:
        """Fire due escalations (and open newly overdue ones), then deliver the outbox."""
        fired = await asyncio.to_thread(escalation.sweep, self.engine, self.clock.now())
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
        return await deliver_due(self.engine, self.clock, self.transports)


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> App:
    """Load and check the config first: a bad file stops us before the database is touched."""
    settings = settings or Settings()
    config = load_config(settings.config_path)
    engine = make_engine(settings.database_url)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    return App(settings=settings, config=config, engine=engine, clock=clock or SystemClock())
