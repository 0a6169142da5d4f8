"""The escalation sweep, all the scheduler runs for escalations: open what each deadline
source finds overdue, then fire the escalation timers that are due.

The deadline sources are listed here, in one place (as GoAlert's engine lists its modules),
so what a sweep covers never depends on which modules happen to have been imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from handlers import cap, escalation, incidents, meds_rounds, referrals
from handlers.paging import fire_many
from storage import escalations as store
from storage import repo
from storage.db import session_scope
from storage.privacy import masking_day
from storage.models import Team

SWEEP_BATCH = 1000  # fired in one transaction; a fuller sweep takes another batch


@dataclass(frozen=True)
class DeadlineSource:
    name: str
    # Open an escalation (or send a reminder) for whatever is overdue, for all teams at once.
    open_overdue: Callable[[Session, list[Team], datetime], None]
    # When the team's next deadline falls (the simulated clock stops there), or None.
    next_deadline: Callable[[Session, Team, datetime], datetime | None]


SOURCES = (
    DeadlineSource("time-critical contacts", escalation.open_time_critical,
                   escalation.next_time_critical),
    DeadlineSource("medicines duties", meds_rounds.page_overdue, meds_rounds.next_deadline),
    DeadlineSource("incidents", incidents.escalate_overdue, incidents.next_deadline),
    DeadlineSource("CAP actions and milestones", cap.escalate_overdue, cap.next_deadline),
    DeadlineSource("referrals pending", referrals.remind_pending, referrals.next_pending_deadline),
)


def sweep(engine: Engine, now: datetime) -> int:
    """Open what is newly overdue, fire what is due. Safe with several sweepers at once.
    The opening shares the first batch's transaction (one commit less a sweep)."""
    fired, first = 0, True
    while True:
        # Stored text masked as of today (ids like MAR-20261130-01 are not birth dates).
        with masking_day(now.date()), session_scope(engine) as session:
            if first:
                session.info["esc_defer"] = True  # paged below, with everything else due
                teams = repo.all_teams(session)
                for source in SOURCES:
                    source.open_overdue(session, teams, now)
                first = False
            due = store.claim_due(session, now=now, limit=SWEEP_BATCH)
            fire_many(session, due, now)
            fired += len(due)
        if len(due) < SWEEP_BATCH:
            return fired


def next_due(engine: Engine, now: datetime) -> datetime | None:
    """The next moment a sweep has work: an escalation timer or any source's deadline."""
    with session_scope(engine) as session:
        times = [store.next_due(session)]
        for team in repo.all_teams(session):
            times += [source.next_deadline(session, team, now) for source in SOURCES]
    return min((t for t in times if t is not None), default=None)
