"""Queries for staff improvement plans (storage/pip_tables.py). Handlers decide who may see a
plan; these only fetch."""
from __future__ import annotations

from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from storage.models import Person, Pip, PipEntry, PipObjective, PipTick


def open_for(session: Session, *, person_id: int) -> Pip | None:
    return session.exec(select(Pip).where(Pip.person_id == person_id, Pip.state == "open")).first()


def plans(session: Session, *, team_ids: list[int] | None = None,
          person_id: int | None = None) -> list[tuple[Pip, Person]]:
    """(plan, its person), open first, newest first: of some teams, or of one person."""
    query = select(Pip, Person).join(Person, col(Person.id) == col(Pip.person_id))
    if team_ids is not None:
        query = query.where(col(Pip.team_id).in_(team_ids))
    if person_id is not None:
        query = query.where(Pip.person_id == person_id)
    rows = session.exec(query.order_by(col(Pip.id).desc())).all()
    return sorted(rows, key=lambda r: r[0].state != "open")


def objectives(session: Session, *, pip_id: int) -> list[PipObjective]:
    return list(session.exec(select(PipObjective).where(PipObjective.pip_id == pip_id)
                             .order_by(col(PipObjective.number))))


def entries(session: Session, *, pip_id: int, kind: str | None = None) -> list[PipEntry]:
    query = select(PipEntry).where(PipEntry.pip_id == pip_id)
    if kind is not None:
        query = query.where(PipEntry.kind == kind)
    return list(session.exec(query.order_by(col(PipEntry.at), col(PipEntry.id))))


def add_tick(session: Session, *, pip_id: int, day: date, item: int, at) -> bool:
    """False when that item was already ticked that day (a second tap changes nothing)."""
    try:
        with session.begin_nested():
            session.add(PipTick(pip_id=pip_id, day=day, item=item, at=at))
    except IntegrityError:
        return False
    return True


def ticked(session: Session, *, pip_id: int, day: date) -> set[int]:
    return set(session.exec(select(PipTick.item).where(PipTick.pip_id == pip_id,
                                                       PipTick.day == day)))


def ticks_between(session: Session, *, pip_id: int, first: date, last: date) -> int:
    return session.exec(select(func.count()).select_from(PipTick).where(
        PipTick.pip_id == pip_id, col(PipTick.day) >= first, col(PipTick.day) <= last)).one()


def open_in_team(session: Session, *, team_id: int) -> list[Pip]:
    return list(session.exec(select(Pip).where(Pip.team_id == team_id, Pip.state == "open")
                             .order_by(col(Pip.id))))


def for_pack(session: Session, *, team_ids: list[int]) -> list[tuple[Pip, Person]]:
    return plans(session, team_ids=team_ids)
