"""Today's routes confirmed per team (`routes ok`)."""
from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from storage.models import RouteCheck


def confirmed(session: Session, *, team_id: int, day: date) -> RouteCheck | None:
    return session.exec(select(RouteCheck).where(RouteCheck.team_id == team_id,
                                                 RouteCheck.day == day)).first()


def confirm(session: Session, *, team_id: int, day: date, at: datetime, by_id: int,
            note: str | None) -> None:
    session.add(RouteCheck(team_id=team_id, day=day, at=at, by_id=by_id, note=note))
    session.flush()
