"""Every queued post goes out exactly once per platform, however many sweepers run at once,
on SQLite (the default) as on PostgreSQL; and a start-up catch-up never keeps the web server down."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

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
    """Like several processes on one database (SQLite too): a due page fires once, not per sweeper."""
    from datetime import UTC, datetime

    from handlers import escalation
    from storage.db import make_engine
    from storage.models import EscalationEvent
    from tests.conftest import run

    for ref in ("C-9X2P", "C-2M9Q", "C-4T7P", "C-7F3K"):
        run(app, "amira", f"missed {ref} safety")  # each pages at once: 4 pages
    now = datetime(2026, 11, 24, 8, 16, tzinfo=UTC)  # past the 15-minute acknowledgement timeout
    url = app.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url) for _ in range(8)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def sweeper(engine) -> None:
        try:
            start.wait()
            for _ in range(3):
                escalation.sweep(engine, now)
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


def test_healthz_answers_while_a_slow_catch_up_runs(app):
    """A restart after the morning time: the web server answers before catch-up has finished,
    and catch-up still queues every missed post."""
    from datetime import UTC, datetime

    import httpx

    from bot import server
    from tests.fakes.servers import free_port, wait_for

    port = free_port()
    app.settings = app.settings.model_copy(update={"port": port})
    app.clock.set(datetime(2026, 11, 24, 8, 40, tzinfo=UTC))  # down from 07:00 to 08:40
    entered, release = threading.Event(), threading.Event()
    real_run_job = app.run_job

    async def slow_run_job(job, team, now=None, **kw):  # a catch-up of very many teams
        entered.set()
        await asyncio.to_thread(release.wait, 60)
        return await real_run_job(job, team, now, **kw)

    app.run_job = slow_run_job
    loop = asyncio.new_event_loop()
    running = loop.create_task(server.serve(app, host="127.0.0.1"))
    thread = threading.Thread(target=lambda: loop.run_until_complete(asyncio.wait([running])))
    thread.start()
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(entered.is_set, "catch-up to start")
        wait_for(healthy, "/healthz while catch-up runs", tries=1000)
        assert not release.is_set() and count(app.engine, Outbox) == 0  # catch-up still going
        release.set()
        wait_for(lambda: count(app.engine, Outbox, Outbox.key.like("morning:%")) == 2,
                 "catch-up to queue both teams' morning lists", tries=1000)
    finally:
        release.set()
        loop.call_soon_threadsafe(running.cancel)
        thread.join(30)
        loop.close()


def fifty_teams_config(path, morning: str = "07:30", chats: bool = False):
    """50 teams with the same morning time (and, with chats, a Slack channel and Telegram group)."""
    chat = (lambda n: f'slack_channel = "C{n:04}"\ntelegram_chat = -100{n:03}\n') if chats \
        else (lambda n: "")
    teams = "".join(f'\n[[teams]]\nkey = "t{n:02}"\nname = "Team {n:02}"\nmorning_post = "{morning}"\n'
                    f'reconcile = "17:30"\n{chat(n)}' for n in range(50))
    people = "".join(f'\n[[people]]\nhandle = "lead{n:02}"\nname = "Lead {n:02}"\n'
                     f'role = "supervisor"\nteams = ["t{n:02}"]\noncall = true\n' for n in range(50))
    path.write_text('timezone = "Europe/London"\n' + teams + people, encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_fifty_teams_whose_morning_falls_in_one_minute_get_one_post_each_per_platform(engine, tmp_path):
    """The real scheduler wiring, twice over (two `carebot run` on one SQLite file): every team's
    07:30 jobs fire at the same moment, each job awaiting deliver()."""
    from datetime import UTC, datetime

    from bot import scheduler
    from bot.app import App
    from bot.config import load_config
    from bot.settings import Settings
    from handlers.base import SimClock
    from storage.db import make_engine

    path = fifty_teams_config(tmp_path / "fifty.toml")
    config = load_config(path)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    platforms = [Platform("slack"), Platform("telegram")]
    seven_thirty = SimClock(datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    apps = [App(settings=Settings(CAREBOT_CONFIG=str(path)), config=config, clock=seven_thirty,
                engine=make_engine(engine.url.render_as_string(hide_password=False)),
                transports=platforms) for _ in range(2)]

    async def morning_minute():
        scheds = [scheduler.start(a) for a in apps]
        try:
            now = datetime.now(UTC)
            for sched in scheds:  # the minute arrives for every team job at once
                for job in sched.get_jobs():
                    if job.id.split(":")[0] in ("morning", "action_remind", "learn_remind"):
                        job.modify(next_run_time=now)
                sched.wakeup()
            for _ in range(6000):  # bounded wait for the fan-out, no timing assertion
                if count(engine, Outbox, Outbox.status == "sent") == 50:
                    break
                await asyncio.sleep(0.01)
            for a in apps:  # let any sweep still in flight finish
                await a.deliver()
        finally:
            for sched in scheds:
                sched.shutdown(wait=False)

    asyncio.run(morning_minute())
    for a in apps:
        a.engine.dispose()
    keys = [f"morning:t{n:02}:2026-11-24" for n in range(50)]
    assert_once_each(platforms, keys, apps[0])


def test_a_real_carebot_run_posts_each_of_fifty_teams_same_minute_morning_once(tmp_path):
    """`carebot run` on SQLite against the fake Slack and Telegram: 50 teams whose morning is
    the same (real) minute get one list each on each platform. Waits for that minute."""
    import os
    import signal
    import subprocess
    import sys
    from datetime import datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from sqlmodel import Session, func, select

    from storage.db import make_engine
    from tests.fakes.servers import Served, free_port
    from tests.fakes.slack_api import FakeSlack
    from tests.fakes.telegram_api import FakeTelegram

    slack, telegram = FakeSlack(), FakeTelegram()
    served = [Served(slack.app), Served(telegram.app)]
    london = datetime.now(ZoneInfo("Europe/London"))  # the next minute, leaving time to start
    minute = (london + timedelta(seconds=75)).replace(second=0, microsecond=0)
    path = fifty_teams_config(tmp_path / "fifty.toml", morning=f"{minute:%H:%M}", chats=True)
    db = f"sqlite:///{tmp_path / 'carebot.db'}"
    env = {**os.environ, "CAREBOT_CONFIG": str(path), "DATABASE_URL": db, "PORT": str(free_port()),
           "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
           "SLACK_API_URL": f"{served[0].url}/api/", "TELEGRAM_BOT_TOKEN": "42:test",
           "TELEGRAM_API_URL": f"{served[1].url}/bot"}
    log = (tmp_path / "run.log").open("w")  # a file: a full pipe would stall the process
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                            cwd=Path(__file__).resolve().parents[1], stdout=log, stderr=log)
    engine = None
    try:
        import time

        for _ in range(1800):  # bounded wait for that minute and the fan-out, no timing assertion
            if proc.poll() is not None:
                break
            if engine is None and (tmp_path / "carebot.db").exists():
                engine = make_engine(db, upgrade_sqlite=False)
            if engine is not None:
                try:
                    with Session(engine) as session:
                        sent = session.exec(select(func.count()).select_from(Outbox).where(
                            Outbox.status == "sent", Outbox.key.like("morning:%"))).one()
                except Exception:  # noqa: BLE001 - schema not there yet
                    sent = 0
                if sent == 50:
                    break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
        err = (tmp_path / "run.log").read_text()
        for s in served:
            s.stop()
        if engine is not None:
            engine.dispose()
    posts = Counter(p["channel"] for p in slack.named("chat.postMessage"))
    groups = Counter(int(p["chat_id"]) for p in telegram.named("sendMessage"))
    assert posts == {f"C{n:04}": 1 for n in range(50)}, err[-2000:]
    assert groups == {int(f"-100{n:03}"): 1 for n in range(50)}, err[-2000:]
