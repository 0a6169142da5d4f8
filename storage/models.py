"""SQLModel tables. Datetimes are timezone-aware and stored in UTC (sqlmodel's UTCDateTime);
team zones are applied only where times are shown or scheduled.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.privacy import FreeJSON, FreeText

CONTACT_KINDS = ("post_referral", "post_discharge", "home_visit", "review", "other")
RISKS = ("high", "medium", "low")
# An action's risk category decides its review cadence (days).
ACTION_RISKS = {"safety": 7, "safeguarding": 7, "medicines": 7, "staffing": 7, "governance": 7,
                "other": 14}
EVIDENCE_KINDS = ("record", "audit", "observation", "supervision", "feedback", "incident_review")
CLOSURE_FIELDS = ("changed", "measured", "controlled", "monitoring")
# Lowest first: each role may do whatever the roles before it may (see at_least).
ROLES = ("staff", "supervisor", "manager", "nominated")


class Team(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=40)
    name: str
    zone: str = "Europe/London"
    slack_channel: Optional[str] = None
    telegram_chat: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    morning_post: str = "07:30"
    reconcile: str = "17:30"
    # The team's escalation policy (config default merged with the team's own settings).
    escalation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Medicines rounds, leads and targets from the config (plus a baseline set by command).
    medicines: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # The weekly status report: when it goes to the team's managers ("" = never), and the
    # missed-visit rate the trend is measured against (None: the first 4 weeks on record).
    weekly_status: str = Field(default="mon 09:00", sa_column_kwargs={"server_default": "mon 09:00"})
    baseline_missed_pct: Optional[float] = None
    # Fewer contacts than this and the status shows counts, not a rate or a trend arrow.
    min_contacts_for_rate: int = Field(default=20, sa_column_kwargs={"server_default": "20"})
    # False once the team leaves the config: unbound from its chats, no jobs; records stay.
    active: bool = Field(default=True, sa_column_kwargs={"server_default": "1"})
    # Today's routes to be confirmed (`routes ok`) by then, or the supervisors hear ("" = never).
    routes_by: str = Field(default="09:00", sa_column_kwargs={"server_default": "09:00"})
    # The monthly governance report to the nominated individual(s), on the month's first working
    # day at this local time (the config's top-level `monthly_report`; "" = never).
    monthly_report: str = Field(default="", sa_column_kwargs={"server_default": ""})
    # Contract standards by contact kind, in seconds after the event (`[standards]` in the
    # config, the team's own over the file's): the import's window for a row with event_at.
    standards: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # Documentation sampling (handlers/sampling.py): per person, repeat factor, draw and reminder
    # times, and the defect codes, from the config.
    sampling: dict[str, Any] = Field(default_factory=dict,
                                     sa_column=Column(JSON, nullable=False, server_default="{}"))
    # The front door from the config: eligibility bases, pending hours, sample percentage.
    referrals: dict[str, Any] = Field(default_factory=dict,
                                      sa_column=Column(JSON, nullable=False, server_default="{}"))


class Person(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    handle: str = Field(unique=True, max_length=60)
    name: str
    role: str = "staff"
    slack_user: Optional[str] = Field(default=None, index=True)
    telegram_user: Optional[int] = Field(default=None, sa_column=Column(BigInteger, index=True))
    oncall: bool = False
    active: bool = True
    # Where the person comes from: "config" (the TOML, kept in step by config_sync) or "import"
    # (`carebot import people`; a config reload leaves them alone).
    source: str = Field(default="config", max_length=10,
                        sa_column_kwargs={"server_default": "config"})
    # For finding their Slack id (users.lookupByEmail); personal data: never posted.
    email: Optional[str] = Field(default=None, max_length=254)
    # May authorise or decline referrals (config `authoriser`; managers always may).
    authoriser: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


def at_least(who: Person | str, role: str) -> bool:
    """Whether a person (or a role) ranks at least `role` in ROLES: the one role check."""
    have = who if isinstance(who, str) else who.role
    return ROLES.index(have) >= ROLES.index(role)


class Membership(SQLModel, table=True):
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    position: int = 0  # order in the config: the first team is the person's home team


class ReasonCode(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=40)
    label: str
    side: str = "client"
    escalates: bool = False
    # Escalates only when the client is high risk (e.g. no_reply).
    escalates_high_risk: bool = False
    needs_note: bool = False
    # Settles a high-risk contact's escalation (hospital); other missed reasons keep it open.
    accounts_for_client: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # Other ways staff type it on a phone (`no reply`, `noreply`): config `aliases`.
    aliases: list[str] = Field(default_factory=list,
                               sa_column=Column(JSON, nullable=False, server_default="[]"))
    position: int = 0
    active: bool = True


class Client(SQLModel, table=True):
    """An opaque reference and a risk level: the care record lives elsewhere."""

    id: Optional[int] = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=40)
    risk: str = "low"


class Contact(SQLModel, table=True):
    __table_args__ = (Index("ix_contact_team_due", "team_id", "due_start"),
                      # the sweep's look for time-critical contacts past their window
                      Index("ix_contact_team_end", "team_id", "due_end"))

    id: Optional[int] = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True, max_length=80)  # contact_id in the import file
    client_id: int = Field(foreign_key="client.id", index=True)
    team_id: int = Field(foreign_key="team.id")
    kind: str
    due_start: datetime
    due_end: datetime
    assignee_id: Optional[int] = Field(default=None, foreign_key="person.id")
    time_critical: bool = False
    status: str = "open"  # open | done | missed
    reason_code: Optional[str] = None
    note: Optional[str] = Field(default=None, sa_type=FreeText)
    outcome_at: Optional[datetime] = None
    logged_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    logged_via: Optional[str] = None


class Reconciliation(SQLModel, table=True):
    """The day's planned-versus-completed log for one team: the audit trail the seeds ask for."""

    __table_args__ = (UniqueConstraint("team_id", "day"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    day: date
    planned: int = 0
    completed: int = 0
    missed: int = 0
    open: int = 0
    open_items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    run_at: datetime
    run_by: str  # a handle, or "scheduler"
    runs: int = 1


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what, when, through which transport. Written only by
    storage.audit.append, which chains each row to the one before by hash."""

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str  # a handle, or "scheduler"
    transport: str  # console | slack | telegram | scheduler | cli
    action: str
    subject: Optional[str] = None
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    team: Optional[str] = Field(default=None, max_length=40)  # the team's key, if any
    seq: int = Field(unique=True)  # 1, 2, 3 … with no gaps: a gap is a deleted row
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The audit chain's last row (one row, id 1): shows rows deleted from the end."""

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


class ConfigState(SQLModel, table=True):
    """One row (id 1): a fresh random token each time a config file is synced in, so every
    process knows when its in-memory copy of config-derived rows (storage/cache.py) is stale."""

    id: int = Field(default=1, primary_key=True)
    token: str = Field(max_length=40)


class Outbox(SQLModel, table=True):
    """A post or DM waiting to be delivered. The key makes each one happen at most once."""

    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)
    target: str  # "team:north" or "person:amira"
    payload: dict[str, Any] = Field(sa_column=Column(JSON))  # a messages.Reply
    status: str = "pending"  # pending | sent | failed (refused by a platform; not retried)
    # A live post (the morning list) is re-rendered when its content changes: each change
    # bumps the revision and the transports edit their message in place.
    revision: int = 0
    attempts: int = 0
    created_at: datetime
    next_attempt_at: datetime
    sent_at: Optional[datetime] = None
    last_error: Optional[str] = None
    # Per transport: {"ref": the platform's id for what was sent, "rev": the revision it shows}.
    receipts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # The payload is out of date (e.g. a contact logged since): the delivery sweep re-renders it
    # before sending, so the command that changed it does not pay for the rendering.
    stale: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class InboundEvent(SQLModel, table=True):
    """Platform events already handled (Slack retries, Telegram update ids): each runs once."""

    key: str = Field(primary_key=True, max_length=200)
    at: datetime = Field(index=True)


class OnCallShift(SQLModel, table=True):
    """A rota entry: this person is on call for this team from starts_at to ends_at."""

    __table_args__ = (UniqueConstraint("person_id", "team_id", "starts_at"),
                      Index("ix_oncallshift_team_time", "team_id", "starts_at", "ends_at"))

    id: Optional[int] = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    team_id: int = Field(foreign_key="team.id")
    starts_at: datetime
    ends_at: datetime


class Escalation(SQLModel, table=True):
    """An unresolved high-risk item paging a chain of people until someone owns it.

    The timer lives here (`next_fire_at`); the scheduler only sweeps for rows that are due.
    The policy is frozen when it opens: editing the config does not change a running chain.
    """

    __table_args__ = (Index("ix_escalation_due", "state", "next_fire_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    subject: str = Field(index=True, max_length=120)  # e.g. "contact:N-20261124-001"
    # Equal to subject while open or acknowledged, NULL once resolved: one live escalation each.
    open_subject: Optional[str] = Field(default=None, unique=True, max_length=120)
    trigger: str  # reason:<code> | reconcile | time_critical
    ref: str  # the client ref: the only client detail a page may carry
    summary: str = Field(sa_type=FreeText)  # refs and codes only, e.g. "missed: Safety concern"
    state: str = "open"  # open | acknowledged | resolved
    level: int = 0
    pages_at_level: int = 0
    next_fire_at: Optional[datetime] = None
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    opened_at: datetime
    opened_by: str
    acked_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    acked_at: Optional[datetime] = None
    resolved_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    resolved_at: Optional[datetime] = None
    note: Optional[str] = Field(default=None, sa_type=FreeText)
    # Set when the whole bounded policy was used up unacknowledged: no more timer, announced.
    exhausted_at: Optional[datetime] = None


class EscalationEvent(SQLModel, table=True):
    """The escalation's timeline: opened, paged (who, which level, which repeat), acknowledged …"""

    id: Optional[int] = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    at: datetime
    kind: str  # opened | paged | nobody_at_level | acknowledged | resolved
    person_id: Optional[int] = Field(default=None, foreign_key="person.id")
    level: int = 0
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(FreeJSON))


# ---- medicines, learning, incidents


class Instance(SQLModel, table=True):
    """A running `carebot run` (its Telegram heartbeat): the live ones split Telegram's overall
    rate limit between them."""

    id: str = Field(primary_key=True, max_length=40)
    seen_at: datetime


# The tables of the controls beyond the daily contacts (medicines, incidents, learning, the
# action plan) live in storage/controls.py; importing them here keeps one place to import from
# and registers every table on SQLModel.metadata whichever module is imported first.
from storage.controls import (Action, ActionEvidence, ActionVersion, Incident,  # noqa: E402,F401
                              LearningAck, LearningPoint, MedsCheck, MedsDuty, MedsException,
                              PlanRequest, RouteCheck)
from storage.invites import ChatBinding, Invite  # noqa: E402,F401
from storage.controls import ActionMilestone  # noqa: E402,F401  (the CAP's milestones)
from storage.documentation import DocSample  # noqa: E402,F401  (the documentation sample)
from storage.controls import Referral  # noqa: E402,F401
from storage.pip_tables import (PIP_RAGS, PIP_RATINGS, Pip, PipEntry,  # noqa: E402,F401
                                PipObjective, PipTick)
