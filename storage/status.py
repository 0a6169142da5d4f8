"""The weekly status figures as SQL aggregates, grouped by team, with a fixed number of queries
whatever the number of teams or windows, so a year of data stays fast.

A window is a half-open [start, end) pair of aware UTC datetimes.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, case, func, literal, or_
from sqlmodel import Session, col, select

from storage.models import (Contact, Escalation, Incident, LearningAck, LearningPoint,
                            MedsDuty, MedsException, Membership, Person, Team)

Window = tuple[datetime, datetime]


def _count_if(*conditions):
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


def _in(column, window: Window):
    return and_(column >= window[0], column < window[1])


def _span(windows: Sequence[Window]) -> Window:
    return min(w[0] for w in windows), max(w[1] for w in windows)


def _disjoint(windows: Sequence[Window]) -> list[list[Window]]:
    """Distinct windows in groups that do not overlap: each group is one GROUP BY scan, where
    a CASE puts each row in its window (a "since 1 Oct" report overlaps the chart's weeks)."""
    groups: list[list[Window]] = []
    for w in sorted(set(windows)):
        for group in groups:
            if all(w[1] <= x[0] or w[0] >= x[1] for x in group):
                group.append(w)
                break
        else:
            groups.append([w])
    return groups


def _contact_measures(now: datetime) -> dict:
    c = Contact
    return {"planned": func.count(),
            "done": _count_if(c.status == "done"),
            "missed": _count_if(c.status == "missed"),
            "unrecorded": _count_if(c.status == "open", col(c.due_end) < now),
            "on_time": _count_if(c.status == "done", col(c.outcome_at) <= col(c.due_end)),
            # still open and still within its window: not yet a miss, so not in the rates
            "pending": _count_if(c.status == "open", col(c.due_end) >= now)}


def contacts(session: Session, *, team_ids: list[int], windows: Sequence[Window],
             now: datetime) -> dict[int, list[dict[str, int]]]:
    """Per team, per window: planned, done, missed, unrecorded (no outcome and the window has
    closed), on_time (done within the contract window) and pending (open, window not over)."""
    c = Contact
    measures = _contact_measures(now)
    found: dict[tuple[int, Window], dict[str, int]] = {}
    for group in _disjoint(windows):
        bucket = case(*((_in(col(c.due_start), w), i) for i, w in enumerate(group)))
        lo, hi = _span(group)
        rows = session.exec(select(c.team_id, bucket, *measures.values())
                            .where(col(c.team_id).in_(team_ids), col(c.due_start) >= lo,
                                   col(c.due_start) < hi).group_by(c.team_id, bucket))
        for team_id, i, *values in rows:
            if i is not None:
                found[team_id, group[i]] = dict(zip(measures, map(int, values)))
    empty = dict.fromkeys(measures, 0)
    return {t: [dict(found.get((t, w), empty)) for w in windows] for t in team_ids}


def contacts_per_team(session: Session, *, windows: dict[int, Window],
                      now: datetime) -> dict[int, dict[str, int]]:
    """The same measures for one window per team (e.g. each team's first 4 weeks), one query."""
    if not windows:
        return {}
    c = Contact
    measures = _contact_measures(now)
    rows = session.exec(select(c.team_id, *measures.values())
                        .where(or_(*(and_(c.team_id == t, _in(col(c.due_start), w))
                                     for t, w in windows.items())))
                        .group_by(c.team_id))
    names = list(measures)
    out = {t: dict.fromkeys(names, 0) for t in windows}
    out.update({t: dict(zip(names, map(int, values))) for t, *values in rows})
    return out


def reasons(session: Session, *, team_ids: list[int], window: Window) -> dict[int, dict[str, int]]:
    rows = session.exec(select(Contact.team_id, Contact.reason_code, func.count())
                        .where(col(Contact.team_id).in_(team_ids), Contact.status == "missed",
                               _in(col(Contact.due_start), window))
                        .group_by(Contact.team_id, Contact.reason_code))
    out: dict[int, dict[str, int]] = {t: {} for t in team_ids}
    for team_id, code, n in rows:
        out[team_id][code or "none"] = int(n)
    return out


def first_contact(session: Session, *, team_ids: list[int]) -> dict[int, datetime]:
    # A correlated min per team reads one index entry each; GROUP BY would scan every row.
    first = (select(func.min(Contact.due_start)).where(Contact.team_id == Team.id)
             .scalar_subquery())
    rows = session.exec(select(Team.id, first).where(col(Team.id).in_(team_ids)))
    return {t: at for t, at in rows if at is not None}


def meds_late(session: Session, *, team_ids: list[int],
              windows: Sequence[Window]) -> dict[int, list[int]]:
    """Late or missed medicines entries per team per window, by the duty's due time."""
    unique = list(dict.fromkeys(windows))
    columns = [_count_if(_in(col(MedsDuty.due_at), w)) for w in unique]
    lo, hi = _span(unique)
    rows = session.exec(
        select(MedsException.team_id, *columns)
        .join(MedsDuty, col(MedsDuty.id) == col(MedsException.duty_id))
        .where(col(MedsException.team_id).in_(team_ids), col(MedsDuty.due_at) >= lo,
               col(MedsDuty.due_at) < hi).group_by(MedsException.team_id))
    out = {t: [0] * len(windows) for t in team_ids}
    for team_id, *values in rows:
        by_window = dict(zip(unique, map(int, values)))
        out[team_id] = [by_window[w] for w in windows]
    return out


def meds_unrecorded(session: Session, *, team_ids: list[int], windows: Sequence[Window],
                    before: datetime) -> dict[int, list[int]]:
    """Medicines duties with no record at all, per team per window, counting only duties due
    before `before` (the start of today: a duty's day must be over to be "not recorded")."""
    unique = list(dict.fromkeys(windows))
    columns = [_count_if(_in(col(MedsDuty.due_at), w)) for w in unique]
    lo, hi = _span(unique)
    rows = session.exec(
        select(MedsDuty.team_id, *columns)
        .where(col(MedsDuty.team_id).in_(team_ids), MedsDuty.status == "open",
               col(MedsDuty.due_at) >= lo, col(MedsDuty.due_at) < min(hi, before))
        .group_by(MedsDuty.team_id))
    out = {t: [0] * len(windows) for t in team_ids}
    for team_id, *values in rows:
        by_window = dict(zip(unique, map(int, values)))
        out[team_id] = [by_window[w] for w in windows]
    return out


def incidents(session: Session, *, team_ids: list[int], window: Window,
              now: datetime) -> dict[int, dict[str, int]]:
    """Incidents opened in the window: how many, closed within their 7 days, still in clock."""
    i = Incident
    rows = session.exec(select(
        i.team_id, func.count(),
        _count_if(col(i.closed_at).is_not(None), col(i.closed_at) <= col(i.due_at)),
        _count_if(i.state == "open", col(i.due_at) > now))
        .where(col(i.team_id).in_(team_ids), _in(col(i.opened_at), window)).group_by(i.team_id))
    out = {t: {"opened": 0, "in_time": 0, "in_clock": 0} for t in team_ids}
    out.update({t: {"opened": int(a), "in_time": int(b), "in_clock": int(c)}
                for t, a, b, c in rows})
    return out


def learning(session: Session, *, team_ids: list[int], window: Window) -> dict[int, dict[str, int]]:
    """Learning points shared in the window: acknowledgements against the team's members."""
    members = (select(Membership.team_id, func.count().label("n"))
               .join(Person, col(Person.id) == col(Membership.person_id))
               .where(Person.active == True).group_by(Membership.team_id)  # noqa: E712
               .subquery())
    acks = (select(LearningAck.point_id, func.count().label("n")).group_by(LearningAck.point_id)
            .subquery())
    p = LearningPoint
    rows = session.exec(
        select(p.team_id, func.count(), func.coalesce(func.sum(acks.c.n), 0),
               func.coalesce(func.sum(members.c.n), 0))
        .outerjoin(acks, acks.c.point_id == col(p.id))
        .outerjoin(members, members.c.team_id == col(p.team_id))
        .where(col(p.team_id).in_(team_ids), _in(col(p.at), window)).group_by(p.team_id))
    out = {t: {"points": 0, "acks": 0, "expected": 0} for t in team_ids}
    out.update({t: {"points": int(a), "acks": int(b), "expected": int(c)} for t, a, b, c in rows})
    return out


def _seconds(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def escalations(session: Session, *, team_ids: list[int], window: Window,
                by_team: bool = True) -> dict[int | None, dict]:
    """Per team (or, by_team=False, pooled under None): opened in the window, acknowledged,
    the median time to acknowledge; and now: unacknowledged (open) and not yet resolved."""
    e = Escalation
    key = col(e.team_id) if by_team else literal(0)
    blank = {"opened": 0, "acked": 0, "median_seconds": None, "open_now": 0, "unresolved": 0}
    out: dict = {t: dict(blank) for t in (team_ids if by_team else [None])}
    in_window = _in(col(e.opened_at), window)
    rows = session.exec(
        select(key, _count_if(in_window), _count_if(in_window, col(e.acked_at).is_not(None)),
               _count_if(e.state == "open"), _count_if(e.state != "resolved"))
        .where(col(e.team_id).in_(team_ids)).group_by(key))
    for k, opened, acked, open_now, unresolved in rows:
        out[k if by_team else None].update(opened=int(opened), acked=int(acked),
                                           open_now=int(open_now), unresolved=int(unresolved))
    # The median: rank each acknowledged time within its group; the middle one or two.
    seconds = _seconds(session, col(e.acked_at), col(e.opened_at))
    ranked = (select(key.label("k"), seconds.label("s"),
                     func.row_number().over(partition_by=key, order_by=seconds).label("rn"),
                     func.count().over(partition_by=key).label("n"))
              .where(col(e.team_id).in_(team_ids), in_window, col(e.acked_at).is_not(None))
              .subquery())
    middle = session.exec(select(ranked.c.k, func.avg(ranked.c.s))
                          .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
                          .group_by(ranked.c.k))
    for k, median in middle:
        out[k if by_team else None]["median_seconds"] = float(median)
    return out
