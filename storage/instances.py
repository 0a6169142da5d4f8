"""The live `carebot run` processes on this database: each beats every few seconds, and the
count of recent beats is how many share Telegram's overall rate limit."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, text
from sqlmodel import Session, select

from storage.db import lock_for_claim
from storage.models import Instance


def beat(session: Session, *, instance: str, now: datetime, ttl: timedelta,
         counted: timedelta) -> tuple[bool, int]:
    """Mark `instance` alive now. Returns (whether the others have surely been counting it: its
    last beat is within `counted`, well inside ttl; the instances alive now, with itself: a beat
    within ttl). Beats run one at a time (the table is locked): two starting together see each
    other."""
    lock_for_claim(session)
    if session.connection().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE instance IN EXCLUSIVE MODE"))
    row = session.get(Instance, instance)
    known = row is not None and row.seen_at > now - counted
    row = row or Instance(id=instance, seen_at=now)
    row.seen_at = now
    session.add(row)
    session.execute(delete(Instance).where(Instance.seen_at < now - 10 * ttl))  # long gone
    session.flush()
    live = session.exec(select(func.count()).select_from(Instance)
                        .where(Instance.seen_at > now - ttl)).one()
    return known, live


def leave(session: Session, *, instance: str) -> None:
    session.execute(delete(Instance).where(Instance.id == instance))
