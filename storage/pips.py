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


# ---------------------------------------------------------------- the evidence pack (on request)


def without_pips(trail):
    """The pack's audit table without the plans' rows (a pack made without --include-pips
    says nothing of anyone's plan, not even that one exists)."""
    from storage.export import Table

    at = trail.columns.index("action")
    keep = [i for i, values in enumerate(trail.values) if not str(values[at]).startswith("pip:")]
    return Table(trail.name, trail.title, trail.columns, [trail.rows[i] for i in keep],
                 [trail.values[i] for i in keep])


def pack_tables(session: Session, *, team_ids: list[int], start, end) -> list:
    """Plans open at any time in the period, with their objectives and entries in it."""
    from storage.export import table
    from storage.models import Team

    teams = {t.id: t.key for t in session.exec(select(Team).where(col(Team.id).in_(team_ids)))}
    rows = [(pip, person) for pip, person in plans(session, team_ids=team_ids)
            if pip.opened_at < end and (pip.closed_at is None or pip.closed_at >= start)]
    names = {p.id: p.handle for p in session.exec(select(Person))}
    objs, entries_ = [], []
    for pip, person in rows:
        objs += [(f"P-{pip.id}", f"O{o.number}", o.text, o.by, o.check, o.rag)
                 for o in objectives(session, pip_id=pip.id)]
        entries_ += [(f"P-{pip.id}", e.at, e.kind, e.rating, e.text, e.data, names.get(e.by_id))
                     for e in entries(session, pip_id=pip.id) if start <= e.at < end]
    return [
        table("pips", "Improvement plans",
              ["plan", "team", "person", "reviewer", "opened_at", "state", "outcome",
               "extended_to", "extend_reason", "changed", "measured", "controlled",
               "monitoring", "acknowledged_at", "closed_at"],
              [(f"P-{pip.id}", teams.get(pip.team_id), person.handle, names.get(pip.reviewer_id),
                pip.opened_at, pip.state, pip.outcome, pip.extended_to, pip.extend_reason,
                *((pip.closure or {}).get(k) for k in ("changed", "measured", "controlled",
                                                        "monitoring")),
                pip.acked_at, pip.closed_at) for pip, person in rows]),
        table("pip_objectives", "Improvement plan objectives",
              ["plan", "objective", "what", "by", "checked_by", "rag"], objs),
        table("pip_entries", "Improvement plan record (observations, debriefs, sign-offs, "
              "reviews, comments, outcomes)",
              ["plan", "at", "kind", "rating", "text", "data", "by"], entries_),
    ]
