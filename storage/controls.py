"""The tables of the controls beyond the daily contacts: protected medicines, incidents,
handover learning and the action plan (CAP / CQC). Imported by storage/models.py, the one
place the rest of the code imports tables from."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.privacy import FreeJSON, FreeText


class MedsDuty(SQLModel, table=True):
    """A protected medicines duty: a client ref and a due time. Never a drug name."""

    __table_args__ = (Index("ix_medsduty_team_due", "team_id", "due_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    duty_id: str = Field(unique=True, max_length=80)  # duty_id in the import file
    team_id: int = Field(foreign_key="team.id")
    round: str = Field(max_length=40)
    client_ref: str = Field(max_length=40)
    due_at: datetime
    window_minutes: int = 30
    time_critical: bool = False
    status: str = "open"  # open | given | late | missed
    recorded_at: Optional[datetime] = None
    recorded_by_id: Optional[int] = Field(default=None, foreign_key="person.id")


class MedsException(SQLModel, table=True):
    """A late or missed administration with the three things the audit template asks for."""

    id: Optional[int] = Field(default=None, primary_key=True)
    duty_id: int = Field(foreign_key="medsduty.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    kind: str  # late | missed
    reason: str = Field(sa_type=FreeText)
    action: str = Field(sa_type=FreeText)
    informed: str = Field(sa_type=FreeText)
    at: datetime = Field(index=True)
    by_id: int = Field(foreign_key="person.id")


class MedsCheck(SQLModel, table=True):
    """The protected lead's daily check: were administration times met this round?"""

    __table_args__ = (UniqueConstraint("team_id", "round", "day"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    round: str = Field(max_length=40)
    day: date
    met: bool
    note: Optional[str] = Field(default=None, sa_type=FreeText)
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class Incident(SQLModel, table=True):
    """An incident's learning clock: same-day review, and review + action + learning in 7 days."""

    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=40)  # e.g. INC-31
    team_id: int = Field(foreign_key="team.id")
    category: str = Field(max_length=40)
    risk: str = "medium"
    state: str = "open"  # open | closed
    opened_at: datetime
    opened_by_id: int = Field(foreign_key="person.id")
    review_due_at: datetime  # the end of the local day it was opened
    due_at: datetime = Field(index=True)  # the 7-day clock (restarts on reopen)
    review: Optional[str] = Field(default=None, sa_type=FreeText)
    reviewed_at: Optional[datetime] = None
    action: Optional[str] = Field(default=None, sa_type=FreeText)
    action_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    reopened: int = 0


class LearningPoint(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    text: str = Field(sa_type=FreeText)
    incident_id: Optional[int] = Field(default=None, foreign_key="incident.id", index=True)
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class LearningAck(SQLModel, table=True):
    """One receipt per person per learning point: the "names of staff present" record."""

    point_id: int = Field(foreign_key="learningpoint.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    at: datetime
    via: str


# ---- the action tracker (CAP / CQC improvement plan)


class Action(SQLModel, table=True):
    """One action of the plan: the finding it answers, one accountable owner, a deadline and a
    review cadence. RAG is derived from these (storage/actions.py), never typed."""

    id: Optional[int] = Field(default=None, primary_key=True)  # shown as A-<id>
    team_id: int = Field(foreign_key="team.id", index=True)
    title: str = Field(sa_type=FreeText)
    finding: Optional[str] = Field(default=None, sa_type=FreeText)
    owner_id: int = Field(foreign_key="person.id")
    risk: str = "other"  # a key of ACTION_RISKS
    due: date  # the deadline, a day in the team's zone
    review_days: int = 14
    next_review: date
    state: str = "open"  # open | closed
    # The closure summary, filled field by field (CLOSURE_FIELDS) before closing.
    closure: dict[str, Any] = Field(default_factory=dict, sa_column=Column(FreeJSON))
    version: int = 1
    created_at: datetime
    created_by_id: int = Field(foreign_key="person.id")
    closed_at: Optional[datetime] = None
    # The fields the CAP seeds name (issue 18 §2), set with `action set` (handlers/cap.py).
    failure_mode: Optional[str] = Field(default=None, sa_type=FreeText)
    control: Optional[str] = Field(default=None, sa_type=FreeText)
    control_owner_id: Optional[int] = Field(default=None, foreign_key="person.id")
    root_cause: Optional[str] = Field(default=None, sa_type=FreeText)
    immediate_control: Optional[str] = Field(default=None, sa_type=FreeText)
    metric: Optional[str] = None  # a key of handlers/metrics.METRICS
    target: Optional[float] = None  # the metric's target (a % for a rate)
    regulation: Optional[str] = Field(default=None, sa_type=FreeText)  # e.g. "Reg 12"
    priority: Optional[str] = None  # high | medium | low (storage/cap.py PRIORITIES)
    reopened: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The last "sustained?" re-check after closure: 0 none yet, 4 or 12 (weeks).
    sustain_checked: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class ActionMilestone(SQLModel, table=True):
    """A step of an action with its own deadline, RAG and reminders (shown as M-<id>)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    title: str = Field(sa_type=FreeText)
    due: date
    state: str = "open"  # open | done
    done_at: Optional[datetime] = None
    done_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class ActionVersion(SQLModel, table=True):
    """Every change keeps the state it produced: the plan's previous versions."""

    __table_args__ = (UniqueConstraint("action_id", "version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id")
    version: int
    at: datetime
    by_id: int = Field(foreign_key="person.id")
    change: str = Field(sa_type=FreeText)  # e.g. "created", "reviewed: <note>", "closed"
    snapshot: dict[str, Any] = Field(default_factory=dict, sa_column=Column(FreeJSON))


class ActionEvidence(SQLModel, table=True):
    """A key document: what shows the action is working (kinds: EVIDENCE_KINDS)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    kind: str
    text: str = Field(sa_type=FreeText)
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class PlanRequest(SQLModel, table=True):
    """A regulator's request for an action plan (CQC: submit within 28 days)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    kind: str = "cqc"
    received: date
    submit_by: date
    submitted_at: Optional[datetime] = None
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class RouteCheck(SQLModel, table=True):
    """A team's routes for a day confirmed by a supervisor (`routes ok`): once per team and day."""

    __table_args__ = (UniqueConstraint("team_id", "day"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    day: date
    at: datetime
    by_id: int = Field(foreign_key="person.id")
    note: Optional[str] = Field(default=None, sa_type=FreeText)


# ---- the front door (issue 17 §3): eligibility and authorisation of referrals


class Referral(SQLModel, table=True):
    """A referral at the front door: accepted on a recorded eligibility basis, or pending
    authorisation (no services yet: its client cannot become a contact), or declined. A sample of
    each day's accepted ones is validated by a second person the next day."""

    __table_args__ = (Index("ix_referral_team_status", "team_id", "status"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=40)  # the client ref
    team_id: int = Field(foreign_key="team.id")
    source: str = Field(sa_type=FreeText)  # who referred: gp, ward, self, …
    basis: Optional[str] = Field(default=None, max_length=40)  # one of eligibility_bases
    status: str = Field(default="pending", max_length=20)  # pending | authorised | declined
    received_at: datetime
    added_by_id: Optional[int] = Field(default=None, foreign_key="person.id")  # None: imported
    authorised_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    authorised_at: Optional[datetime] = None
    declined_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    declined_at: Optional[datetime] = None
    declined_reason: Optional[str] = Field(default=None, sa_type=FreeText)
    # When the authorisers were told it has waited too long (once per referral).
    reminded_at: Optional[datetime] = None
    # The next-day validation of a sample of the accepted ones.
    sampled: bool = False
    sample_day: Optional[date] = Field(default=None, index=True)
    validated_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    validated_at: Optional[datetime] = None
    result: Optional[str] = Field(default=None, max_length=10)  # ok | wrong
    note: Optional[str] = Field(default=None, sa_type=FreeText)
