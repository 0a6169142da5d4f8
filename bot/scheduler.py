"""When each team job fires: cron triggers in the team's zone, shared by APScheduler and the console.

The database (outbox keys like `morning:north:2026-11-24`) decides whether a post already
happened, so a job may run twice, or be caught up after a restart, without posting twice.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from handlers import jobs

log = logging.getLogger(__name__)

CATCH_UP = timedelta(hours=2)  # after a restart, run a job whose time passed this recently
SWEEP_SECONDS = 15
HEARTBEAT_SECONDS = 30


def trigger(when: str, zone: str) -> CronTrigger:
    """"07:30" daily or "mon 09:00" weekly, in the team's zone (DST-aware)."""
    day, _, hhmm = when.rpartition(" ")
    hour, minute = hhmm.split(":")
    return CronTrigger(day_of_week=day or "*", hour=int(hour), minute=int(minute), timezone=zone)


def team_triggers(engine) -> list[tuple[str, str, CronTrigger]]:
    """(job, team key, trigger) for every team job in config."""
    return [(job, team.key, trigger(when, team.zone)) for job, team, when in jobs.schedule(engine)]


def fires_between(triggers, start: datetime, end: datetime) -> list[tuple[datetime, str, str]]:
    """Every (time, job, team) that fires in (start, end], in order."""
    due = []
    for job, team, cron in triggers:
        fire = cron.get_next_fire_time(None, start + timedelta(microseconds=1))
        while fire is not None and fire <= end:
            due.append((fire, job, team))
            fire = cron.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return sorted(due)


def missed_recently(triggers, now: datetime) -> list[tuple[datetime, str, str]]:
    """Jobs whose time passed within CATCH_UP before now: run them once at start-up."""
    return fires_between(triggers, now - CATCH_UP, now)


def start(app) -> AsyncIOScheduler:
    """Arrange every team job and the outbox sweep on the running asyncio loop."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    for n, (job, team, cron) in enumerate(team_triggers(app.engine)):
        scheduler.add_job(app.run_job, cron, args=[job, team], id=f"{job}:{team}:{n}",
                          misfire_grace_time=int(CATCH_UP.total_seconds()), coalesce=True)
    # Escalation timers and pending posts live in the database; this only wakes up to sweep.
    scheduler.add_job(app.sweep, IntervalTrigger(seconds=SWEEP_SECONDS), id="sweep",
                      max_instances=1, coalesce=True)
    # A cheap tick on the loop itself, well inside /healthz's 2 minutes even mid-sweep.
    scheduler.add_job(app.heartbeat, IntervalTrigger(seconds=HEARTBEAT_SECONDS), id="heartbeat",
                      next_run_time=datetime.now(UTC), coalesce=True)
    scheduler.add_job(app.housekeeping, CronTrigger(hour=3, minute=15, timezone=app.config.timezone),
                      id="housekeeping", coalesce=True)
    scheduler.start()
    return scheduler
