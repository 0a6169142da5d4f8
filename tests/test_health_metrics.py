"""Operable: /healthz tells the truth (database, scheduler tick, outbox backlog) and /metrics
counts commands, posts, pages and sweeps, in Prometheus text, per app."""
from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from bot import scheduler
from bot.app import App
from bot.config import load_config
from bot.server import web_app
from bot.settings import Settings
from handlers.base import Actor, Chat, SimClock
from handlers.registry import COMMANDS, load
from storage import repo
from storage.db import make_engine, session_scope
from storage.models import Outbox
from tests.conftest import MORNING
from tests.fakes.servers import Served, wait_for
from tests.conftest import command, post

DEAD_PG = "postgresql+psycopg://postgres@127.0.0.1:1/nothing"  # nothing listens on port 1


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of GET /metrics as {(name, sorted labels): value}; it must parse."""
    resp = httpx.get(f"{url}/metrics", timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def served(app):
    bot = Served(web_app(app))
    yield app, bot
    bot.stop()


def queue(app: App, key: str, target: str = "team:north", *, failed: bool = False) -> None:
    with session_scope(app.engine) as session:
        repo.enqueue(session, key=key, target=target, payload={"blocks": []}, now=app.clock.now())
        if failed:
            row = session.exec(select(Outbox).where(Outbox.key == key)).one()
            row.status = "failed"
            session.add(row)


def test_healthz_reports_database_scheduler_and_backlog_on_a_healthy_app(served):
    app, bot = served
    bot.call(app.heartbeat())
    queue(app, "morning:north:2026-11-24")
    queue(app, "esc:1:L0:P0:amira", "person:amira")
    queue(app, "old:1", failed=True)
    app.clock.set(app.clock.now() + timedelta(seconds=90))
    resp = httpx.get(f"{bot.url}/healthz", timeout=30)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["ok"], body["transports"], body["failed_posts"]) == (True, ["recorder"], 1)
    assert body["database"] == "ok"
    assert body["outbox"] == {"pending": 2, "oldest_pending_seconds": 90.0, "pages_pending": 1}
    assert body["scheduler"]["tick_age_seconds"] == 90.0 and body["scheduler"]["ok"]
    assert body["scheduler"]["last_tick"] == MORNING.isoformat()

    samples = scrape(bot.url)  # the same backlog, read from the database at scrape time
    assert value(samples, "carebot_database_up") == 1
    assert value(samples, "carebot_outbox_pending") == 2
    assert value(samples, "carebot_outbox_oldest_pending_seconds") == 90
    assert value(samples, "carebot_outbox_failed") == 1
    assert value(samples, "carebot_pages_queued") == 1


def test_healthz_is_503_when_the_scheduler_has_not_ticked_for_2_minutes(served):
    app, bot = served
    bot.call(app.heartbeat())
    app.clock.set(app.clock.now() + timedelta(seconds=119))
    assert httpx.get(f"{bot.url}/healthz", timeout=30).status_code == 200
    app.clock.set(app.clock.now() + timedelta(seconds=2))
    resp = httpx.get(f"{bot.url}/healthz", timeout=30)
    assert resp.status_code == 503
    body = resp.json()
    assert body["ok"] is False and body["database"] == "ok"
    assert body["scheduler"] == {"last_tick": MORNING.isoformat(), "tick_age_seconds": 121.0,
                                 "ok": False}
    bot.call(app.heartbeat())  # ticking again: healthy again
    assert httpx.get(f"{bot.url}/healthz", timeout=30).status_code == 200


def test_the_scheduler_ticks_at_least_every_minute(app):
    async def started():
        sched = scheduler.start(app)
        try:
            job = sched.get_job("heartbeat")
            for _ in range(500):  # the first tick runs at once (bounded poll, no timing)
                if app.last_tick is not None:
                    break
                await asyncio.sleep(0.01)
            return job.trigger.interval, app.last_tick
        finally:
            sched.shutdown(wait=False)

    interval, tick = asyncio.run(started())
    assert interval <= timedelta(minutes=1) and tick == MORNING


def test_healthz_is_503_and_metrics_still_answer_when_the_database_is_unreachable(config_path):
    config = load_config(config_path)
    engine = make_engine(DEAD_PG)
    app = App(settings=Settings(CAREBOT_CONFIG=str(config_path)), config=config, engine=engine,
              clock=SimClock(MORNING))
    bot = Served(web_app(app))
    try:
        bot.call(app.heartbeat())
        resp = httpx.get(f"{bot.url}/healthz", timeout=30)
        assert resp.status_code == 503
        body = resp.json()
        assert body["ok"] is False and body["database"] != "ok" and body["outbox"] is None
        assert body["transports"] == [] and body["failed_posts"] is None
        assert body["scheduler"]["ok"]  # it is the database that is down, and it says so
        samples = scrape(bot.url)
        assert value(samples, "carebot_database_up") == 0
        assert ("carebot_outbox_pending", ()) not in samples  # no made-up backlog
    finally:
        bot.stop()
        engine.dispose()


def test_console_commands_are_counted_by_verb_and_outcome(served, monkeypatch):
    app, bot = served
    me, here = Actor("console", "amira"), Chat("console", None)
    bot.call(app.handle_line(me, here, "done C-2M9Q"))
    bot.call(app.handle_line(me, here, "missed C-7F3K teleported"))  # no such reason
    bot.call(app.handle_line(me, here, "frobnicate secret-words"))
    bot.call(app.handle_line(me, here, "meds done"))  # two-word verb, missing its duty
    bot.call(app.handle_line(me, here, "whoami", event_id="console:1"))
    bot.call(app.handle_line(me, here, "whoami", event_id="console:1"))  # a redelivery

    def boom(ctx, args):
        raise RuntimeError("a bug")

    load()
    monkeypatch.setitem(COMMANDS, "whoami", dataclasses.replace(COMMANDS["whoami"], fn=boom))
    bot.call(app.handle_line(me, here, "whoami"))
    samples = scrape(bot.url)
    counted = {dict(labels)["verb"] + "/" + dict(labels)["outcome"]: v
               for (name, labels), v in samples.items() if name == "carebot_commands_total"}
    assert counted == {"done/ok": 1, "missed/refused": 1, "unknown/refused": 1,
                       "meds done/refused": 1, "whoami/ok": 1, "whoami/duplicate": 1,
                       "whoami/error": 1}


def test_delivered_posts_pages_and_sweeps_move_their_counters(served):
    app, bot = served
    recorder = app.transports[0]
    recorder.fail = 1  # the platform is down for the first try
    bot.call(app.run_job("morning", "north"))
    samples = scrape(bot.url)
    assert value(samples, "carebot_posts_total", platform="recorder", outcome="error") == 1
    assert value(samples, "carebot_posts_total", platform="recorder", outcome="sent") == 0
    assert value(samples, "carebot_sweep_seconds_count") == 0

    app.clock.set(app.clock.now() + timedelta(minutes=5))
    bot.call(app.sweep())  # the retry goes out with the sweep
    samples = scrape(bot.url)
    assert recorder.posts and value(samples, "carebot_posts_total", platform="recorder",
                                    outcome="sent") == len(recorder.posts) + len(recorder.dms)
    assert value(samples, "carebot_sweep_seconds_count") == 1
    assert value(samples, "carebot_pages_total", platform="recorder") == 0

    bot.call(app.handle_line(Actor("console", "ben"), Chat("console", None), "missed C-9X2P safety"))
    assert [h for h, _ in recorder.dms] == ["amira"]
    assert value(scrape(bot.url), "carebot_pages_total", platform="recorder") == 1


def test_a_slack_command_and_its_page_are_counted(slack_env):  # noqa: F811
    app, fake, api, bot = slack_env
    assert post(bot, command(api, "missed C-9X2P safety", user="U0BEN0001")).status_code == 200
    samples = wait_for(lambda: (s := scrape(bot.url)) and
                       value(s, "carebot_pages_total", platform="slack") and s, "the page")
    assert value(samples, "carebot_commands_total", verb="missed", outcome="ok") == 1
    assert value(samples, "carebot_posts_total", platform="slack", outcome="sent") >= 1


def test_two_apps_in_one_process_count_separately(served, config_path):
    app, bot = served
    other = App(settings=app.settings, config=app.config, engine=app.engine, clock=app.clock)
    bot.call(app.handle_line(Actor("console", "amira"), Chat("console", None), "whoami"))
    assert value(scrape(bot.url), "carebot_commands_total", verb="whoami", outcome="ok") == 1
    assert other.metrics.registry.get_sample_value(
        "carebot_commands_total", {"verb": "whoami", "outcome": "ok"}) is None
