"""The documentation sample's table (CAP: "a documentation minimum standard", "five records per
staff member weekly", "defects logged by type"). Only the table: imported by storage/models.py
(the one place tables are imported from); the queries are in storage/sampling.py."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.privacy import FreeText


class DocSample(SQLModel, table=True):
    """One record drawn for a supervisor to audit: a done contact of last week, whose record it
    is, why it was drawn, and the audit's result (ok, or a defect code with a note)."""

    __table_args__ = (UniqueConstraint("team_id", "week", "contact_id"),
                      Index("ix_docsample_team_week", "team_id", "week"))

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    week: str = Field(max_length=10)  # the ISO week of the contacts sampled, e.g. 2026-W48
    contact_id: int = Field(foreign_key="contact.id")
    person_id: int = Field(foreign_key="person.id", index=True)  # whose record
    reason: str = Field(default="standard", max_length=12)  # standard | increased
    drawn_at: datetime
    result: Optional[str] = Field(default=None, max_length=8)  # None (to audit) | ok | defect
    defect_code: Optional[str] = Field(default=None, max_length=40)
    note: Optional[str] = Field(default=None, sa_type=FreeText)
    audited_by_id: Optional[int] = Field(default=None, foreign_key="person.id")
    audited_at: Optional[datetime] = None
