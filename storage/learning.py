"""Queries for learning points, their acknowledgements, and incidents' learning clocks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.models import Incident, LearningAck, LearningPoint, Membership, Person

# ---------------------------------------------------------------- learning points


def members(session: Session, *, team_id: int) -> list[Person]:
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team_id, Person.active == True)  # noqa: E712
        .order_by(col(Person.name))))


def latest_point(session: Session, *, team_id: int) -> LearningPoint | None:
    return session.exec(select(LearningPoint).where(LearningPoint.team_id == team_id)
                        .order_by(col(LearningPoint.id).desc())).first()


def acks(session: Session, *, point_id: int) -> list[tuple[LearningAck, Person]]:
    return list(session.exec(
        select(LearningAck, Person).join(Person, col(Person.id) == col(LearningAck.person_id))
        .where(LearningAck.point_id == point_id).order_by(col(LearningAck.at), col(Person.name))))


def add_ack(session: Session, *, point_id: int, person_id: int, at: datetime, via: str) -> bool:
    """Record a receipt once; False when this person had already acknowledged."""
    if session.get(LearningAck, (point_id, person_id)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(LearningAck(point_id=point_id, person_id=person_id, at=at, via=via))
    except IntegrityError:  # a double tap racing itself
        return False
    return True


def points_since(session: Session, *, team_id: int, start: datetime,
                 end: datetime) -> list[LearningPoint]:
    return list(session.exec(select(LearningPoint).where(
        LearningPoint.team_id == team_id, col(LearningPoint.at) >= start,
        col(LearningPoint.at) < end).order_by(col(LearningPoint.id))))


def has_learning(session: Session, *, incident_id: int) -> bool:
    return session.exec(select(func.count()).select_from(LearningPoint)
                        .where(LearningPoint.incident_id == incident_id)).one() > 0


# ---------------------------------------------------------------- incidents


def incident_by_ref(session: Session, *, ref: str) -> Incident | None:
    return session.exec(select(Incident).where(Incident.ref == ref.upper())).first()


def incidents(session: Session, *, team_ids: list[int], open_only: bool = True) -> list[Incident]:
    query = select(Incident).where(col(Incident.team_id).in_(team_ids))
    if open_only:
        query = query.where(Incident.state == "open")
    return list(session.exec(query.order_by(col(Incident.due_at))))


def overdue_incidents(session: Session, *, team_ids: list[int], now: datetime) -> list[Incident]:
    return list(session.exec(select(Incident).where(
        col(Incident.team_id).in_(team_ids), Incident.state == "open",
        col(Incident.due_at) <= now)))


def next_incident_due(session: Session, *, team_id: int, now: datetime) -> datetime | None:
    return session.exec(select(func.min(Incident.due_at)).where(
        Incident.team_id == team_id, Incident.state == "open", col(Incident.due_at) > now)).one()


def review_overdue(session: Session, *, team_ids: list[int], now: datetime) -> list[Incident]:
    """Open incidents whose same-day management review is missing at the end of that day."""
    return list(session.exec(select(Incident).where(
        col(Incident.team_id).in_(team_ids), Incident.state == "open", Incident.review == None,  # noqa: E711
        col(Incident.review_due_at) <= now)))


def next_review_due(session: Session, *, team_id: int, now: datetime) -> datetime | None:
    return session.exec(select(func.min(Incident.review_due_at)).where(
        Incident.team_id == team_id, Incident.state == "open", Incident.review == None,  # noqa: E711
        col(Incident.review_due_at) > now)).one()
