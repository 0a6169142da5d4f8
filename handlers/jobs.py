"""What the scheduler runs for each team, and when (the team's local clock time).

The real scheduler and the console's simulated clock both read this table and call `run`,
so a console session exercises exactly what production does.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Engine

from handlers.contacts import morning_post
from handlers.reconcile import end_of_day
from storage import repo
from storage.db import session_scope
from storage.models import Team

# job name -> (Team attribute holding its "HH:MM", function(session, team, now) -> queued?)
TEAM_JOBS: dict[str, tuple[str, Callable]] = {
    "morning": ("morning_post", morning_post),
    "reconcile": ("reconcile", end_of_day),
}


def run(engine: Engine, job: str, team_key: str, now: datetime) -> bool:
    """Run one team job in its own unit of work. True when it queued a post."""
    _, fn = TEAM_JOBS[job]
    with session_scope(engine) as session:
        team = repo.team_by_key(session, team_key)
        if team is None:
            raise KeyError(f"unknown team {team_key!r}")
        return fn(session, team, now)


def schedule(engine: Engine) -> list[tuple[str, Team, str]]:
    """(job, team, "HH:MM") for every team: what the scheduler must arrange."""
    with session_scope(engine) as session:
        return [(job, team, getattr(team, attr))
                for team in repo.all_teams(session) for job, (attr, _) in TEAM_JOBS.items()]
