"""What the scheduler runs for each team, and when (the team's local clock time).

A capability registers a team job with `@team_job(name, times=…)`; `times(team)` gives
"HH:MM" (daily) or "mon HH:MM" (weekly) in the team's zone. The real scheduler and the
console's simulated clock both read this table and call `run`, so a console session
exercises exactly what production does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.db import session_scope
from storage.models import Team
from storage.privacy import masking_day, set_day


@dataclass(frozen=True)
class TeamJob:
    times: Callable[[Team], list[str]]
    run: Callable[[Session, Team, datetime], bool]  # True when it queued a post


TEAM_JOBS: dict[str, TeamJob] = {}


def team_job(name: str, *, times: Callable[[Team], list[str]]):
    def register(fn: Callable[[Session, Team, datetime], bool]):
        TEAM_JOBS[name] = TeamJob(times=times, run=fn)
        return fn

    return register


def _jobs() -> dict[str, TeamJob]:
    from handlers.registry import load

    load()  # importing the capability modules registers their jobs
    return TEAM_JOBS


def run(engine: Engine, job: str, team_key: str, now: datetime) -> bool:
    """Run one team job in its own unit of work. True when it queued a post."""
    fn = _jobs()[job].run
    with masking_day(), session_scope(engine) as session:
        team = repo.team_by_key(session, team_key)
        if team is None:
            raise KeyError(f"unknown team {team_key!r}")
        set_day(now.astimezone(ZoneInfo(team.zone)).date())
        return fn(session, team, now)


def schedule(engine: Engine) -> list[tuple[str, Team, str]]:
    """(job, team, "HH:MM" or "mon HH:MM") for every team: what the scheduler must arrange."""
    jobs = _jobs()
    with session_scope(engine) as session:
        return [(name, team, when) for team in repo.all_teams(session)
                for name, job in jobs.items() for when in job.times(team)]
