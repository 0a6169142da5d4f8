"""Team jobs fire at the team's local time, DST days included, and post once per day."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot import scheduler
from bot.console import Console
from storage.models import Outbox

LONDON_DAYS = [
    # (day, 07:30 London in UTC)
    ("2026-03-29", datetime(2026, 3, 29, 6, 30, tzinfo=UTC)),   # clocks went forward at 01:00
    ("2026-10-25", datetime(2026, 10, 25, 7, 30, tzinfo=UTC)),  # clocks went back at 02:00
    ("2026-11-24", datetime(2026, 11, 24, 7, 30, tzinfo=UTC)),  # an ordinary day
    ("2026-07-01", datetime(2026, 7, 1, 6, 30, tzinfo=UTC)),    # summer time
]


@pytest.mark.parametrize("day,expected", LONDON_DAYS)
def test_morning_fires_at_0730_london_on_dst_days(app, day, expected):
    triggers = scheduler.team_triggers(app.engine)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(hours=2)
    fires = scheduler.fires_between(triggers, start, start + timedelta(hours=24))
    morning = [t for t, job, team in fires if (job, team) == ("morning", "north")]
    assert morning == [expected]


def test_fires_between_orders_every_team_job(app):
    fires = scheduler.fires_between(scheduler.team_triggers(app.engine),
                                    datetime(2026, 11, 24, 8, tzinfo=UTC),
                                    datetime(2026, 11, 25, 8, tzinfo=UTC))
    assert [(t.strftime("%d %H:%M"), job, team) for t, job, team in fires] == [
        ("24 17:30", "pip_checklist", "north"), ("24 17:30", "pip_checklist", "south"),
        ("24 17:30", "reconcile", "north"), ("24 17:30", "reconcile", "south"),
        ("25 07:30", "action_remind", "north"), ("25 07:30", "action_remind", "south"),
        ("25 07:30", "cap_remind", "north"), ("25 07:30", "cap_remind", "south"),
        ("25 07:30", "cap_sustain", "north"), ("25 07:30", "cap_sustain", "south"),
        ("25 07:30", "learn_remind", "north"), ("25 07:30", "learn_remind", "south"),
        ("25 07:30", "morning", "north"), ("25 07:30", "morning", "south"),
        ("25 07:30", "pip_review_remind", "north"), ("25 07:30", "pip_review_remind", "south"),
        ("25 07:30", "referrals", "north"), ("25 07:30", "referrals", "south")]


@pytest.mark.parametrize("day,expected", LONDON_DAYS[:2])
def test_console_clock_posts_the_morning_list_once_on_dst_days(app, day, expected):
    """The simulated clock runs the same jobs: one post per team per day, keyed by local date."""
    app.clock.set(expected - timedelta(hours=3))
    console = Console(app, "amira")

    async def go():
        await console.advance(expected + timedelta(minutes=1))
        await app.run_job("morning", "north")  # the job running twice changes nothing
        await console.advance(expected + timedelta(hours=2))

    asyncio.run(go())
    with Session(app.engine) as session:
        keys = session.exec(select(Outbox.key).where(Outbox.key.like("morning:%"))).all()
    assert sorted(keys) == [f"morning:north:{day}", f"morning:south:{day}"]
    assert [team for team, _ in app.transports[0].posts] == ["north", "south"]


def test_restart_catches_up_a_post_whose_time_just_passed(app):
    from bot.server import catch_up

    app.clock.set(datetime(2026, 11, 24, 8, 40, tzinfo=UTC))  # down from 07:00 to 08:40
    asyncio.run(catch_up(app))
    asyncio.run(catch_up(app))  # a second restart: nothing new
    assert [team for team, _ in app.transports[0].posts] == ["north", "south"]
    app.clock.set(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # too late for a morning list
    app.transports[0].posts.clear()
    with Session(app.engine) as session:
        for row in session.exec(select(Outbox)):
            session.delete(row)
        session.commit()
    asyncio.run(catch_up(app))
    assert app.transports[0].posts == []


def test_real_scheduler_arranges_every_team_job(app):
    async def go():
        sched = scheduler.start(app)
        try:
            return sorted(job.id.rsplit(":", 1)[0] for job in sched.get_jobs())
        finally:
            sched.shutdown(wait=False)

    assert asyncio.run(go()) == ["action_remind:north", "action_remind:south",
                                 "cap_remind:north", "cap_remind:south",
                                 "cap_sustain:north", "cap_sustain:south", "heartbeat",
                                 "housekeeping",
                                 "learn_remind:north", "learn_remind:south",
                                 "morning:north", "morning:south",
                                 "pip_checklist:north", "pip_checklist:south",
                                 "pip_review_remind:north", "pip_review_remind:south",
                                 "reconcile:north", "reconcile:south",
                                 "referrals:north", "referrals:south",
                                 "sample_draw:north", "sample_draw:south",
                                 "sample_overdue:north", "sample_overdue:south",
                                 "sample_remind:north", "sample_remind:south", "sweep",
                                 "weekly_status:north", "weekly_status:south"]


def test_weekly_specs_fire_on_their_day_in_the_teams_zone():
    cron = scheduler.trigger("mon 09:00", "Europe/London")
    fires = scheduler.fires_between([("status", "north", cron)],
                                    datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
    # 26 Oct is the first Monday after the clocks went back: 09:00 GMT; 2 Nov likewise.
    assert [t for t, _, _ in fires] == [datetime(2026, 10, 26, 9, tzinfo=UTC),
                                        datetime(2026, 11, 2, 9, tzinfo=UTC)]
