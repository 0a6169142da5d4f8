"""The Invite table: a one-time Telegram deep link (`invite @handle`), and ChatBinding: a chat
bound to a team with `bind TEAM`. Imported by
storage/models.py, the one place the rest of the code imports tables from."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class Invite(SQLModel, table=True):
    """Only the code's SHA-256 is kept: the link itself was shown once, to the inviter."""

    id: Optional[int] = Field(default=None, primary_key=True)
    code_hash: str = Field(unique=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_by_id: int = Field(foreign_key="person.id")
    created_at: datetime
    expires_at: datetime
    used_at: Optional[datetime] = None
    used_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # a Telegram id


class ChatBinding(SQLModel, table=True):
    """A team's chat bound with `bind TEAM` from inside it. The config file's slack_channel /
    telegram_chat win; a config sync falls back to this row when the file names none."""

    __table_args__ = (UniqueConstraint("team_id", "transport"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id")
    transport: str = Field(max_length=10)  # slack | telegram
    chat_id: str = Field(max_length=40)
    bound_at: datetime
    by_id: int = Field(foreign_key="person.id")
