"""Prometheus metrics for one App: its own registry, so tests and several apps in one process
never share (or collide on) a counter. Counted at the bot level only: where a transport hands
a command to the dispatcher, where a post leaves through a transport, where the scheduler
sweeps. The outbox backlog is read from the database at scrape time, so it is true for every
instance at once (aggregate it with max, not sum).
"""
from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from messages.reply import Reply

log = logging.getLogger(__name__)

PAGE_KEY = re.compile(r"^esc:\d+:L\d+:P\d+:")  # an escalation page DM (handlers/paging.py)


def verb_label(tokens: list[str]) -> str:
    """The registered verb ("meds done", "due"), or "unknown": a label never carries free text."""
    from handlers.registry import lookup

    spec, _ = lookup([t.lower() for t in tokens[:2]] if tokens else ["help"])
    return spec.verb if spec else "unknown"


def outcome(reply: Reply) -> str:
    if reply.duplicate:
        return "duplicate"
    if reply.ok:
        return "ok"
    return "error" if reply.crashed else "refused"


class Metrics:
    def __init__(self, backlog: Callable[[], dict[str, Any]] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.commands = Counter("carebot_commands", "Commands handled, by verb and outcome "
                                "(ok, refused, error, duplicate)", ["verb", "outcome"],
                                registry=self.registry)
        self.posts = Counter("carebot_posts", "Posts, edits and DMs a transport was asked to "
                             "send, by platform and outcome (sent, edited, refused, error)",
                             ["platform", "outcome"], registry=self.registry)
        self.pages = Counter("carebot_pages", "Escalation pages (DMs) sent, by platform",
                             ["platform"], registry=self.registry)
        self.sweep = Histogram("carebot_sweep_seconds", "Escalation sweep duration",
                               buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                               registry=self.registry)
        self._watched: dict[int, Counted] = {}
        if backlog is not None:
            self.registry.register(_Backlog(backlog))

    def command(self, tokens: list[str], reply: Reply) -> None:
        self.commands.labels(verb_label(tokens), outcome(reply)).inc()

    def watch(self, transports: list) -> list:
        """The transports, each wrapped once so its sends are counted."""
        wrapped = []
        for t in transports:
            if isinstance(t, Counted):
                wrapped.append(t)
                continue
            if id(t) not in self._watched or self._watched[id(t)].inner is not t:
                self._watched[id(t)] = Counted(t, self)
            wrapped.append(self._watched[id(t)])
        return wrapped


class Counted:
    """A transport that counts what it sends; everything else passes through unchanged."""

    def __init__(self, inner, metrics: Metrics):
        self.inner, self._m = inner, metrics

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def _count(self, call, key: str, ok: str, page: bool = False):
        from bot.transport import Refused

        platform = self.inner.name
        try:
            ref = await call
        except Refused:
            self._m.posts.labels(platform, "refused").inc()
            raise
        except Exception:
            self._m.posts.labels(platform, "error").inc()
            raise
        self._m.posts.labels(platform, ok).inc()
        if page and PAGE_KEY.match(key or ""):
            self._m.pages.labels(platform).inc()
        return ref

    async def post_to_team(self, team, reply, *, key, **kw):  # kw: e.g. Telegram's progress
        return await self._count(self.inner.post_to_team(team, reply, key=key, **kw), key, "sent")

    async def update_team_post(self, team, reply, *, key, ref, **kw):
        return await self._count(self.inner.update_team_post(team, reply, key=key, ref=ref, **kw),
                                 key, "edited")

    async def notify(self, person, reply, *, key, **kw):
        return await self._count(self.inner.notify(person, reply, key=key, **kw), key, "sent",
                                 True)


class _Backlog:
    """Gauges read from the database when scraped; a database that does not answer is
    reported as carebot_database_up 0 instead of failing the scrape."""

    def __init__(self, read: Callable[[], dict[str, Any]]):
        self.read = read

    def describe(self):
        return []  # values come from the database only at scrape time

    def collect(self):
        up = GaugeMetricFamily("carebot_database_up", "1 if the database answered this scrape")
        try:
            b = self.read()
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics: database unreachable: %s", str(exc)[:200])
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, text, value in [
            ("carebot_outbox_pending", "Outbox rows waiting to be sent", b["pending"]),
            ("carebot_outbox_oldest_pending_seconds", "Age of the oldest pending outbox row "
             "since it was queued (0 when none)", b["oldest_pending_seconds"] or 0),
            ("carebot_outbox_failed", "Posts a platform refused for good", b["failed"]),
            ("carebot_pages_queued", "Escalation pages waiting in the outbox", b["pages"]),
        ]:
            yield GaugeMetricFamily(name, text, value=value)


def age_seconds(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    if then.tzinfo is None:  # SQLite hands back naive UTC
        then = then.replace(tzinfo=UTC)
    return max(0.0, round((now - then).total_seconds(), 1))
