"""Serving and scheduling: a start-up catch-up never keeps the web server down, and a morning
minute shared by many teams posts each team's list once per platform (SQLite, the default)."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest

from storage import repo
from storage.db import session_scope
from storage.models import Outbox
from tests.conftest import count
from tests.test_delivery_once import Platform, assert_once_each

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
    teams = "".join(f'\n[[teams]]\nkey = "t{n:02}"\nname = "Team {n:02}"\n'
                    f'morning_post = "{morning}"\nreconcile = "17:30"\nroutes_by = ""\n{chat(n)}'
                    for n in range(50))
    people = "".join(f'\n[[people]]\nhandle = "lead{n:02}"\nname = "Lead {n:02}"\n'
                     f'role = "supervisor"\nteams = ["t{n:02}"]\noncall = true\n'
                     for n in range(50))
    path.write_text('timezone = "Europe/London"\n' + teams + people, encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_fifty_teams_whose_morning_falls_in_one_minute_get_one_post_each_per_platform(engine,
                                                                                      tmp_path):
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
    # The morning lists only: started after the teams' 17:30 reconcile, carebot also catches
    # that up (one more post per channel, each once too).
    slack_posts = slack.named("chat.postMessage")
    keys = Counter(p["metadata"]["event_payload"]["key"] for p in slack_posts)
    assert all(n == 1 for n in keys.values()), keys
    posts = Counter(p["channel"] for p in slack_posts
                    if p["metadata"]["event_payload"]["key"].startswith("morning:"))
    groups = Counter(int(p["chat_id"]) for p in telegram.named("sendMessage")
                     if "contacts due" in p["text"])
    assert posts == {f"C{n:04}": 1 for n in range(50)}, err[-2000:]
    assert groups == {int(f"-100{n:03}"): 1 for n in range(50)}, err[-2000:]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_a_real_restart_into_a_200_team_catch_up_answers_healthz_and_acks_slash_commands(engine,
                                                                                          tmp_path):
    """`carebot run` started after 200 teams' morning time: while it catches up (the lists
    still going out to the fakes), GET /healthz answers 200 and a signed `/care due` is acked
    within 3 s. The 3 s is Slack's own deadline for a real HTTP request to a real process, not
    a speed measure: a slower ack is a command the user sees fail."""
    import time

    import httpx

    from tests.test_crash_loop import SIGNING_SECRET, Fleet
    from tests.test_slack import command, post

    teams = 200
    fleet = Fleet(tmp_path, engine.url.render_as_string(hide_password=False), delay=0.05,
                  teams=teams, per_team=10, pages=True)
    try:
        proc = fleet.start()
        base = f"http://127.0.0.1:{proc.port}"

        def healthz() -> int:
            try:
                return httpx.get(f"{base}/healthz", timeout=10).status_code
            except httpx.HTTPError:
                return 0

        fleet.wait(lambda: fleet.posts() > 0, "the catch-up to start posting", seconds=120)
        assert healthz() == 200
        api = type("Api", (), {"url": fleet.served[0].url})  # where the command's response_url goes
        started = time.monotonic()
        acked = post(type("Bot", (), {"url": base}), command(api, "due", user="U0000",
                                                               channel="C0000"),
                     secret=SIGNING_SECRET)
        took = time.monotonic() - started
        still_catching_up = fleet.sent() < teams
        assert acked.status_code == 200 and took < 3, (acked.status_code, round(took, 2))
        assert still_catching_up  # the ack was served during the catch-up, not after it
        fleet.wait(lambda: fleet.sent() == teams, "the catch-up to finish", seconds=180)
    finally:
        fleet.stop()
    print(f"\n/care due acked in {took:.2f} s during a {teams}-team catch-up")
