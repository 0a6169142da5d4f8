"""The tables of staff performance improvement plans (PIPs): a plan for one staff member, its
measurable objectives, what happened on it (observations, debriefs, sign-offs, reviews, the
person's own comments) and the daily checklist's ticks. Private: never on a channel, in the
team's plan or status; in the evidence pack only when a manager asks. Re-exported by
storage/models.py, the one place the rest of the code imports tables from."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.privacy import FreeJSON, FreeText

PIP_OUTCOMES = ("achieved", "extend", "formal")
PIP_RATINGS = ("met", "partly", "not")  # an observed shift
PIP_RAGS = ("red", "amber", "green")  # an objective at a review


class Pip(SQLModel, table=True):
    """One plan (shown as P-<id>): whose it is, who opened it and reviews it, the cadence."""

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # the staff member
    reviewer_id: int = Field(foreign_key="person.id")  # who opened it; reminded to review
    note: Optional[str] = Field(default=None, sa_type=FreeText)  # the risk it manages
    opened_at: datetime
    review_days: int = 7
    next_review: date
    # The daily checklist's items, set per plan (`pip checklist`): a list of short lines.
    checklist: list[Any] = Field(default_factory=list, sa_column=Column(FreeJSON))
    state: str = "open"  # open | closed
    outcome: Optional[str] = None  # achieved | formal (extend keeps it open)
    extended_to: Optional[date] = None  # extended once, with a reason
    extend_reason: Optional[str] = Field(default=None, sa_type=FreeText)
    closure: dict[str, Any] = Field(default_factory=dict, sa_column=Column(FreeJSON))
    acked_at: Optional[datetime] = None  # the person acknowledged the plan
    closed_at: Optional[datetime] = None


class PipObjective(SQLModel, table=True):
    """What must change, by when, how it is checked; its RAG from the latest review."""

    __table_args__ = (UniqueConstraint("pip_id", "number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    pip_id: int = Field(foreign_key="pip.id")
    number: int  # O1, O2, … within the plan
    text: str = Field(sa_type=FreeText)
    by: date
    check: str = Field(sa_type=FreeText)
    rag: Optional[str] = None
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class PipEntry(SQLModel, table=True):
    """Something that happened on the plan: an observed shift (rating met|partly|not), an
    end-of-shift debrief, a senior sign-off at handover, a review (data: the RAG per
    objective), the person's own comment, an extension or a referral to the formal process."""

    id: Optional[int] = Field(default=None, primary_key=True)
    pip_id: int = Field(foreign_key="pip.id", index=True)
    kind: str  # observe | debrief | signoff | review | comment | extend | formal | ack
    rating: Optional[str] = None
    text: str = Field(default="", sa_type=FreeText)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(FreeJSON))
    at: datetime
    by_id: int = Field(foreign_key="person.id")


class PipTick(SQLModel, table=True):
    """One checklist item done on one day (the person's tap), once."""

    __table_args__ = (UniqueConstraint("pip_id", "day", "item"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    pip_id: int = Field(foreign_key="pip.id")
    day: date
    item: int  # 1-based, as the DM numbers them
    at: datetime
