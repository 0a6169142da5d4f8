"""Every queued post goes out exactly once per platform, however many sweepers run at once,
on SQLite (the default) as on PostgreSQL. The scheduler and `carebot run`: test_serving.py."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

from bot.outbox import deliver_due
from messages.reply import Block, Reply
from storage import repo
from storage.db import session_scope
from storage.models import Outbox
from tests.conftest import count

ROWS, CALLERS = 500, 50


class Platform:
    """A fake platform that counts every send by outbox key (and yields, so sweeps interleave)."""

    def __init__(self, name: str):
        self.name = name
        self.sent: Counter[str] = Counter()

    def reaches_team(self, team) -> bool:
        return True

    def reaches_person(self, person) -> bool:
        return True

    async def post_to_team(self, team, reply, *, key):
        self.sent[key] += 1
        await asyncio.sleep(0)
        return f"{self.name}-{key}"

    async def update_team_post(self, team, reply, *, key, ref):
        self.sent["edit:" + key] += 1
        return ref

    async def notify(self, person, reply, *, key):
        self.sent[key] += 1
        await asyncio.sleep(0)
        return f"{self.name}-{key}"


def queue_rows(app, n: int = ROWS) -> list[str]:
    payload = Reply(blocks=[Block(text="carebot: a test post")]).model_dump(mode="json")
    keys = [f"test:{i}" for i in range(n)]
    with session_scope(app.engine) as session:
        repo.enqueue_many(session, [
            repo.outbox_row(key=key, target=("team:north", "team:south", "person:amira")[i % 3],
                            payload=payload, now=app.clock.now())
            for i, key in enumerate(keys)])
    return keys


def assert_once_each(platforms, keys, app) -> None:
    for platform in platforms:
        twice = {k: n for k, n in platform.sent.items() if n != 1}
        assert twice == {}, f"{platform.name} sent {len(twice)} rows more than once"
        assert sorted(platform.sent) == sorted(keys), f"{platform.name} missed rows"
    assert count(app.engine, Outbox, Outbox.status == "sent") == len(keys)


def test_fifty_sweepers_in_threads_send_each_row_once_per_platform(app):
    """Like many instances (or many threads) sweeping the same database at the same moment."""
    platforms = [Platform("slack"), Platform("telegram")]
    keys = queue_rows(app)
    start = threading.Barrier(CALLERS)
    errors: list[BaseException] = []

    def sweeper() -> None:
        try:
            start.wait()
            asyncio.run(deliver_due(app.engine, app.clock, platforms))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(CALLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert_once_each(platforms, keys, app)


def test_fifty_deliver_calls_at_once_send_each_row_once_per_platform(app, monkeypatch):
    """As production calls it: the morning minute starts hundreds of jobs, each awaiting deliver().
    They share sweeps rather than each sweeping the database."""
    import bot.app

    platforms = [Platform("slack"), Platform("telegram")]
    app.transports = platforms
    keys = queue_rows(app)
    sweeps = []

    async def counted(*args):
        sweeps.append(1)
        return await deliver_due(*args)

    monkeypatch.setattr(bot.app, "deliver_due", counted)

    async def morning_minute():
        return await asyncio.gather(*(app.deliver() for _ in range(CALLERS)))

    done = asyncio.run(morning_minute())
    assert sum(done) == len(keys) and len(sweeps) == 2  # the first call's, then one for the rest
    assert_once_each(platforms, keys, app)


def test_eight_escalation_sweepers_on_one_database_fire_each_timer_once(app):
    """Like several processes on one database (SQLite too): a due page fires once, not once
    per sweeper."""
    from datetime import UTC, datetime

    from handlers import sweep
    from storage.db import make_engine
    from storage.models import EscalationEvent
    from tests.conftest import run

    for ref in ("C-9X2P", "C-2M9Q", "C-4T7P", "C-7F3K"):
        run(app, "ben", f"missed {ref} safety")  # each pages on-call amira at once: 4 pages
    now = datetime(2026, 11, 24, 8, 16, tzinfo=UTC)  # past the 15-minute acknowledgement timeout
    url = app.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(8)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def sweeper(engine) -> None:
        try:
            start.wait()
            for _ in range(3):
                sweep.sweep(engine, now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    # Each escalation fired once in the race: its first page plus exactly one repeat.
    assert count(app.engine, EscalationEvent, EscalationEvent.kind == "paged") == 8
