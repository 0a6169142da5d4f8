"""The monthly governance report's figures as SQL aggregates: one statement per figure family
(incidents, learning, medicines, escalations, overdue actions), whatever the number of teams
or months. A month is a half-open [start, end) window of aware UTC datetimes; each row is put
in its month by a CASE (its "bucket", 0 = the oldest month) in a subquery, and the outer query
groups by that bucket.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Sequence

from sqlalchemy import and_, case, literal, or_
from sqlmodel import Session, col, func, select

from storage.models import (Action, Escalation, Incident, LearningAck, LearningPoint, MedsDuty,
                            MedsException, Membership, Person)
from storage.status import count_if, seconds_between

Window = tuple[datetime, datetime]


def _bucket(column, windows: Sequence[Window]):
    """Which month a row falls in (0 = the first window), -1 outside them all."""
    return case(*[(and_(column >= lo, column < hi), literal(i))
                  for i, (lo, hi) in enumerate(windows)], else_=literal(-1))


def _span(column, windows: Sequence[Window]):
    return and_(column >= windows[0][0], column < windows[-1][1])


def incidents(session: Session, *, team_ids: list[int],
              windows: Sequence[Window]) -> dict[tuple[int, int, str], int]:
    """{(team_id, month, category): incidents opened}."""
    i = Incident
    rows = (select(col(i.team_id).label("team"), _bucket(col(i.opened_at), windows).label("b"),
                   col(i.category).label("category"))
            .where(col(i.team_id).in_(team_ids), _span(col(i.opened_at), windows)).subquery())
    out = session.exec(select(rows.c.team, rows.c.b, rows.c.category, func.count())
                       .group_by(rows.c.team, rows.c.b, rows.c.category))
    return {(int(team), int(b), category): int(n) for team, b, category, n in out}


def learning(session: Session, *, team_ids: list[int],
             windows: Sequence[Window]) -> dict[int, dict[str, int]]:
    """{month: {points, acks, expected}}: points shared in the month, their read receipts (any
    time), and the team's active people per point (who should read it)."""
    p = LearningPoint
    acks = (select(func.count()).where(col(LearningAck.point_id) == col(p.id))
            .correlate(p).scalar_subquery())
    members = (select(func.count()).select_from(Membership)
               .join(Person, col(Person.id) == col(Membership.person_id))
               .where(col(Membership.team_id) == col(p.team_id), Person.active == True)  # noqa: E712
               .correlate(p).scalar_subquery())
    rows = (select(_bucket(col(p.at), windows).label("b"), acks.label("a"), members.label("m"))
            .where(col(p.team_id).in_(team_ids), _span(col(p.at), windows)).subquery())
    out = {m: {"points": 0, "acks": 0, "expected": 0} for m in range(len(windows))}
    for b, points, read, expected in session.exec(
            select(rows.c.b, func.count(), func.coalesce(func.sum(rows.c.a), 0),
                   func.coalesce(func.sum(rows.c.m), 0)).group_by(rows.c.b)):
        out[int(b)] = {"points": int(points), "acks": int(read), "expected": int(expected)}
    return out


def medicines(session: Session, *, team_ids: list[int],
              windows: Sequence[Window]) -> dict[int, dict[str, int]]:
    """{month: {late, missed}}: exceptions recorded, by the month their duty was due."""
    x, d = MedsException, MedsDuty
    rows = (select(_bucket(col(d.due_at), windows).label("b"), col(x.kind).label("kind"))
            .join(d, col(d.id) == col(x.duty_id))
            .where(col(x.team_id).in_(team_ids), _span(col(d.due_at), windows)).subquery())
    out = {m: {"late": 0, "missed": 0} for m in range(len(windows))}
    for b, kind, n in session.exec(select(rows.c.b, rows.c.kind, func.count())
                                   .group_by(rows.c.b, rows.c.kind)):
        out[int(b)][kind] = int(n)
    return out


def escalations(session: Session, *, team_ids: list[int],
                windows: Sequence[Window]) -> dict[int, dict]:
    """{month: {opened, acked, median_seconds}}: escalations opened in the month, how many were
    acknowledged, and the median time to acknowledge (the middle one, or the mean of the middle
    two), ranked per month in the database on every dialect."""
    e = Escalation
    seconds = seconds_between(session, col(e.acked_at), col(e.opened_at))
    rows = (select(_bucket(col(e.opened_at), windows).label("b"),
                   case((col(e.acked_at).is_not(None), seconds), else_=None).label("s"))
            .where(col(e.team_id).in_(team_ids), _span(col(e.opened_at), windows)).subquery())
    out = {m: {"opened": 0, "acked": 0, "median_seconds": None} for m in range(len(windows))}
    for b, opened, acked in session.exec(
            select(rows.c.b, func.count(), count_if(rows.c.s.is_not(None))).group_by(rows.c.b)):
        out[int(b)].update(opened=int(opened), acked=int(acked))
    ranked = (select(rows.c.b, rows.c.s,
                     func.row_number().over(partition_by=rows.c.b, order_by=rows.c.s).label("rn"),
                     func.count().over(partition_by=rows.c.b).label("n"))
              .where(rows.c.s.is_not(None)).subquery())
    for b, median in session.exec(
            select(ranked.c.b, func.avg(ranked.c.s))
            .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
            .group_by(ranked.c.b)):
        out[int(b)]["median_seconds"] = float(median)
    return out


def overdue_actions(session: Session, *, team_ids: list[int], at: datetime,
                    day: date) -> list[tuple[int, int, date]]:
    """(team_id, action id, deadline) of the actions open at `at` whose deadline had passed by
    `day` (the local day of `at`), oldest deadline first."""
    a = Action
    still_open = or_(and_(col(a.closed_at).is_(None), a.state == "open"), col(a.closed_at) > at)
    return [(int(t), int(i), due) for t, i, due in session.exec(
        select(a.team_id, a.id, a.due)
        .where(col(a.team_id).in_(team_ids), col(a.created_at) <= at, still_open, col(a.due) < day)
        .order_by(col(a.due), col(a.id)))]
