"""The weekly status figures as SQL aggregates, grouped by team, with a fixed number of queries
whatever the number of teams or windows, so a year of data stays fast.

A window is a half-open [start, end) pair of aware UTC datetimes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import (Date, Float, String, and_, bindparam, case, cast, func, literal,
                        literal_column, null, or_, union_all)
from sqlmodel import Session, col, select

from storage.actions import AMBER_DAYS, RAG_ORDER, rag
from storage.models import (Action, AuditEvent, Contact, DocSample, Escalation, Incident,
                            LearningAck, LearningPoint, MedsDuty, MedsException, Membership,
                            Person, Referral, Team)
from storage.referrals import STATUSES as REFERRAL_STATUSES

Window = tuple[datetime, datetime]
COVER = "contact:cover"  # the audit action `cover REF @handle` writes


def count_if(*conditions):
    return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)


def within(column, window: Window):
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
            "done": count_if(c.status == "done"),
            "missed": count_if(c.status == "missed"),
            "unrecorded": count_if(c.status == "open", col(c.due_end) < now),
            "on_time": count_if(c.status == "done", col(c.outcome_at) <= col(c.due_end)),
            # still open and still within its window: not yet a miss, so not in the rates
            "pending": count_if(c.status == "open", col(c.due_end) >= now)}


MEASURES = ("planned", "done", "missed", "unrecorded", "on_time", "pending")
# One statement per number of windows in a group, its values bound at run time, so a report
# does not rebuild the expression and its cache key each time (that cost more than the SQL).
_BY_KIND: dict[int, object] = {}


def _by_kind_statement(n: int):
    if n in _BY_KIND:
        return _BY_KIND[n]
    c = Contact
    moment = col(c.due_start).type
    measures = _contact_measures(bindparam("now", type_=moment))
    bounds = [(bindparam(f"lo{i}", type_=moment), bindparam(f"hi{i}", type_=moment))
              for i in range(n)]
    bucket = case(*((within(col(c.due_start), w), i) for i, w in enumerate(bounds)))
    stmt = (select(c.team_id, bucket, c.kind, *measures.values())
            .where(col(c.team_id).in_(bindparam("ids", expanding=True)),
                   col(c.due_start) >= bindparam("lo", type_=moment),
                   col(c.due_start) < bindparam("hi", type_=moment))
            .group_by(c.team_id, bucket, c.kind))
    _BY_KIND[n] = stmt
    return stmt


def contacts_by_kind(session: Session, *, team_ids: list[int], windows: Sequence[Window],
                     now: datetime) -> dict[int, list[dict[str, dict[str, int]]]]:
    """The measures of `contacts`, per team, per window, per contact kind (only the kinds with
    a contact in the window): one pass gives the report's totals and its on time by kind."""
    conn = session.connection()
    found: dict[tuple[int, Window], dict[str, dict[str, int]]] = {}
    for group in _disjoint(windows):
        params = {"ids": team_ids, "now": now, "lo": _span(group)[0], "hi": _span(group)[1]}
        for i, (lo, hi) in enumerate(group):
            params[f"lo{i}"], params[f"hi{i}"] = lo, hi
        for team_id, i, kind, *values in conn.execute(
                _by_kind_statement(len(group)), params):
            if i is not None:
                found.setdefault((team_id, group[i]), {})[kind] = dict(zip(MEASURES,
                                                                           map(int, values)))
    return {t: [{k: dict(m) for k, m in found.get((t, w), {}).items()} for w in windows]
            for t in team_ids}


def contacts(session: Session, *, team_ids: list[int], windows: Sequence[Window],
             now: datetime) -> dict[int, list[dict[str, int]]]:
    """Per team, per window: planned, done, missed, unrecorded (no outcome and the window has
    closed), on_time (done within the contract window) and pending (open, window not over)."""
    c = Contact
    measures = _contact_measures(now)
    found: dict[tuple[int, Window], dict[str, int]] = {}
    for group in _disjoint(windows):
        bucket = case(*((within(col(c.due_start), w), i) for i, w in enumerate(group)))
        lo, hi = _span(group)
        rows = session.connection().execute(select(c.team_id, bucket, *measures.values())
                            .where(col(c.team_id).in_(team_ids), col(c.due_start) >= lo,
                                   col(c.due_start) < hi).group_by(c.team_id, bucket))
        for team_id, i, *values in rows:
            if i is not None:
                found[team_id, group[i]] = dict(zip(measures, map(int, values)))
    empty = dict.fromkeys(measures, 0)
    return {t: [dict(found.get((t, w), empty)) for w in windows] for t in team_ids}


_PER_TEAM: dict[int, object] = {}  # by number of teams, as _BY_KIND


def _per_team_statement(n: int):
    if n not in _PER_TEAM:
        c = Contact
        moment = col(c.due_start).type
        measures = _contact_measures(bindparam("now", type_=moment))
        _PER_TEAM[n] = (select(c.team_id, *measures.values())
                        .where(or_(*(and_(c.team_id == bindparam(f"t{i}"),
                                          within(col(c.due_start), (bindparam(f"lo{i}", type_=moment),
                                                                 bindparam(f"hi{i}", type_=moment))))
                                     for i in range(n))))
                        .group_by(c.team_id))
    return _PER_TEAM[n]


def contacts_per_team(session: Session, *, windows: dict[int, Window],
                      now: datetime) -> dict[int, dict[str, int]]:
    """The same measures for one window per team (e.g. each team's first 4 weeks), one query."""
    if not windows:
        return {}
    params: dict = {"now": now}
    for i, (t, (lo, hi)) in enumerate(windows.items()):
        params[f"t{i}"], params[f"lo{i}"], params[f"hi{i}"] = t, lo, hi
    rows = session.connection().execute(_per_team_statement(len(windows)), params)
    out = {t: dict.fromkeys(MEASURES, 0) for t in windows}
    out.update({t: dict(zip(MEASURES, map(int, values))) for t, *values in rows})
    return out


# A correlated min per team reads one index entry each; GROUP BY would scan every row.
_FIRST = (select(Team.id, select(func.min(Contact.due_start)).where(Contact.team_id == Team.id)
                 .scalar_subquery())
          .where(col(Team.id).in_(bindparam("ids", expanding=True))))


def first_contact(session: Session, *, team_ids: list[int]) -> dict[int, datetime]:
    rows = session.connection().execute(_FIRST, {"ids": team_ids})
    return {t: at for t, at in rows if at is not None}


def meds_late(session: Session, *, team_ids: list[int],
              windows: Sequence[Window]) -> dict[int, list[int]]:
    """Late or missed medicines entries per team per window, by the duty's due time."""
    unique = list(dict.fromkeys(windows))
    columns = [count_if(within(col(MedsDuty.due_at), w)) for w in unique]
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
    columns = [count_if(within(col(MedsDuty.due_at), w)) for w in unique]
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


def seconds_between(session: Session, later, earlier):
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
    in_window = within(col(e.opened_at), window)
    rows = session.exec(
        select(key, count_if(in_window), count_if(in_window, col(e.acked_at).is_not(None)),
               count_if(e.state == "open"), count_if(e.state != "resolved"))
        .where(col(e.team_id).in_(team_ids)).group_by(key))
    for k, opened, acked, open_now, unresolved in rows:
        out[k if by_team else None].update(opened=int(opened), acked=int(acked),
                                           open_now=int(open_now), unresolved=int(unresolved))
    for k, median in _medians(session, team_ids=team_ids, window=window, by_team=by_team).items():
        out[k if by_team else None]["median_seconds"] = median
    return out


def _medians(session: Session, *, team_ids: list[int], window: Window,
             by_team: bool) -> dict[int, float]:
    """The median seconds to acknowledge per team (by_team=False: pooled, under key 0)."""
    e = Escalation
    key = col(e.team_id) if by_team else literal(0)
    in_window = within(col(e.opened_at), window)
    # Rank each acknowledged time within its group; the middle one or two.
    seconds = seconds_between(session, col(e.acked_at), col(e.opened_at))
    ranked = (select(key.label("k"), seconds.label("s"),
                     func.row_number().over(partition_by=key, order_by=seconds).label("rn"),
                     func.count().over(partition_by=key).label("n"))
              .where(col(e.team_id).in_(team_ids), in_window, col(e.acked_at).is_not(None))
              .subquery())
    middle = session.exec(select(ranked.c.k, func.avg(ranked.c.s))
                          .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
                          .group_by(ranked.c.k))
    return {k: float(median) for k, median in middle}


# ---------------------------------------------------------------- the side counts, one statement
# Every figure beside the contacts' windows, for the report window, as rows of
# (team_id, kind, key, n1, n2, n3, n4) from one UNION ALL: one round trip however many teams,
# built once per dialect and run through Core (no ORM objects) so its compiled form is reused.
_SIDE: dict[str, object] = {}


def _side_statement(dialect: str):
    if dialect in _SIDE:
        return _SIDE[dialect]
    moment = col(Contact.due_start).type  # UTC-aware on every database, as stored
    ids = bindparam("ids", expanding=True)
    lo, hi, now = (bindparam(n, type_=moment) for n in ("lo", "hi", "now"))
    zero = literal_column("0")

    def row(team, kind, key, *counts, median=None):
        counts = list(counts) + [zero] * (4 - len(counts))
        return [team.label("team_id"), literal(kind, String).label("kind"),
                cast(key, String).label("key"), *(n.label(f"n{i}") for i, n in enumerate(counts)),
                cast(median if median is not None else null(), Float).label("median")]

    c, d, x, i, e = Contact, MedsDuty, MedsException, Incident, Escalation
    reasons_q = (select(*row(col(c.team_id), "reason", func.coalesce(c.reason_code, "none"),
                             func.count()))
                 .where(col(c.team_id).in_(ids), c.status == "missed",
                        col(c.due_start) >= lo, col(c.due_start) < hi)
                 .group_by(c.team_id, c.reason_code))
    late_q = (select(*row(col(x.team_id), "meds_late", literal(""), func.count()))
              .join(d, col(d.id) == col(x.duty_id))
              .where(col(x.team_id).in_(ids), col(d.due_at) >= lo, col(d.due_at) < hi)
              .group_by(x.team_id))
    unrecorded_q = (select(*row(col(d.team_id), "meds_unrecorded", literal(""), func.count()))
                    .where(col(d.team_id).in_(ids), d.status == "open", col(d.due_at) >= lo,
                           col(d.due_at) < bindparam("meds_hi", type_=moment))
                    .group_by(d.team_id))
    incidents_q = (select(*row(col(i.team_id), "incidents", literal(""), func.count(),
                               count_if(col(i.closed_at).is_not(None),
                                         col(i.closed_at) <= col(i.due_at)),
                               count_if(i.state == "open", col(i.due_at) > now)))
                   .where(col(i.team_id).in_(ids), col(i.opened_at) >= lo, col(i.opened_at) < hi)
                   .group_by(i.team_id))
    p = LearningPoint
    acks = (select(func.count()).where(col(LearningAck.point_id) == col(p.id))
            .correlate(p).scalar_subquery())
    members = (select(func.count()).select_from(Membership)
               .join(Person, col(Person.id) == col(Membership.person_id))
               .where(col(Membership.team_id) == col(p.team_id), Person.active == True)  # noqa: E712
               .correlate(p).scalar_subquery())
    learning_q = (select(*row(col(p.team_id), "learning", literal(""), func.count(),
                              func.coalesce(func.sum(acks), 0), func.coalesce(func.sum(members), 0)))
                  .where(col(p.team_id).in_(ids), col(p.at) >= lo, col(p.at) < hi)
                  .group_by(p.team_id))
    in_window = and_(col(e.opened_at) >= lo, col(e.opened_at) < hi)
    acked = and_(in_window, col(e.acked_at).is_not(None))
    # PostgreSQL has the median built in; elsewhere side_counts asks _medians when needed.
    median = (func.percentile_cont(0.5).within_group(
        func.extract("epoch", col(e.acked_at) - col(e.opened_at))).filter(acked)
        if dialect == "postgresql" else None)
    esc_q = (select(*row(col(e.team_id), "escalations", literal(""), count_if(in_window),
                         count_if(acked), count_if(e.state == "open"),
                         count_if(e.state != "resolved"), median=median))
             .where(col(e.team_id).in_(ids)).group_by(e.team_id))
    colour = rag(bindparam("today", type_=Date), bindparam("amber_by", type_=Date))
    rag_q = (select(*row(col(Action.team_id), "rag", colour, func.count()))
             .where(col(Action.team_id).in_(ids)).group_by(Action.team_id, colour))
    ds = DocSample
    docs_q = (select(*row(col(ds.team_id), "docs", literal(""), func.count(),
                          count_if(col(ds.result).is_not(None)),
                          func.count(func.distinct(case((ds.reason == "increased",
                                                         ds.person_id))))))
              .where(col(ds.team_id).in_(ids), col(ds.drawn_at) >= lo, col(ds.drawn_at) < hi)
              .group_by(ds.team_id))
    defects_q = (select(*row(col(ds.team_id), "defect", ds.defect_code, func.count()))
                 .where(col(ds.team_id).in_(ids), ds.result == "defect", col(ds.drawn_at) >= lo,
                        col(ds.drawn_at) < hi)
                 .group_by(ds.team_id, ds.defect_code))
    r = Referral
    referrals_q = (select(*row(col(r.team_id), "referral", r.status, func.count(),
                               count_if(r.sampled == True),  # noqa: E712
                               count_if(col(r.result).is_not(None)), count_if(r.result == "wrong")))
                   .where(col(r.team_id).in_(ids), col(r.received_at) >= lo,
                          col(r.received_at) < hi)
                   .group_by(r.team_id, r.status))
    a = AuditEvent
    covers_q = (select(*row(col(Team.id), "covers", literal(""), func.count())).select_from(a)
                .join(Team, col(Team.key) == col(a.team))
                .where(a.action == COVER, col(Team.id).in_(ids), col(a.at) >= lo, col(a.at) < hi)
                .group_by(Team.id))
    _SIDE[dialect] = stmt = union_all(reasons_q, late_q, unrecorded_q, incidents_q, learning_q,
                                      esc_q, rag_q, docs_q, defects_q, referrals_q, covers_q)
    return stmt


def side_counts(session: Session, *, team_ids: list[int], window: Window, now: datetime,
                before: datetime, today) -> dict[int, dict]:
    """Per team, for the report window: reasons {code: n}, meds_late, meds_unrecorded (duties
    due before `before`, the start of today, with no record), incidents, learning, escalations
    (with the median time to acknowledge), actions by RAG, the documentation samples drawn
    (sampled, audited, defects by code, people on increased sampling), referrals received (by
    status, sampled, validated, wrong) and covers made, in one statement (plus one for the
    medians, only when something in the window was acknowledged)."""
    conn = session.connection()
    rows = conn.execute(_side_statement(conn.dialect.name), {
        "ids": team_ids, "lo": window[0], "hi": window[1], "now": now,
        "meds_hi": min(window[1], before), "today": today,
        "amber_by": today + timedelta(days=AMBER_DAYS)})
    out = {t: {"reasons": {}, "meds_late": 0, "meds_unrecorded": 0,
               "incidents": {"opened": 0, "in_time": 0, "in_clock": 0},
               "learning": {"points": 0, "acks": 0, "expected": 0},
               "escalations": {"opened": 0, "acked": 0, "median_seconds": None, "open_now": 0,
                               "unresolved": 0},
               "actions": dict.fromkeys(RAG_ORDER, 0),
               "documentation": {"sampled": 0, "audited": 0, "defects": {}, "increased": 0},
               "referrals": {k: 0 for k in ("received", *REFERRAL_STATUSES, "sampled",
                                            "validated", "wrong")},
               "covers": 0} for t in team_ids}
    for team_id, kind, key, n0, n1, n2, n3, median in rows:
        f = out[team_id]
        if kind == "reason":
            f["reasons"][key] = int(n0)
        elif kind == "docs":
            f["documentation"].update(sampled=int(n0), audited=int(n1), increased=int(n2))
        elif kind == "defect":
            f["documentation"]["defects"][key] = int(n0)
        elif kind == "referral":
            c = f["referrals"]
            c["received"] += int(n0)
            c[key] = c.get(key, 0) + int(n0)
            c["sampled"] += int(n1)
            c["validated"] += int(n2)
            c["wrong"] += int(n3)
        elif kind == "covers":
            f["covers"] = int(n0)
        elif kind == "rag":
            f["actions"][key] = int(n0)
        elif kind in ("meds_late", "meds_unrecorded"):
            f[kind] = int(n0)
        elif kind == "incidents":
            f[kind] = {"opened": int(n0), "in_time": int(n1), "in_clock": int(n2)}
        elif kind == "learning":
            f[kind] = {"points": int(n0), "acks": int(n1), "expected": int(n2)}
        else:
            f[kind].update(opened=int(n0), acked=int(n1), open_now=int(n2), unresolved=int(n3),
                           median_seconds=None if median is None else float(median))
    acked = [t for t in team_ids if out[t]["escalations"]["acked"]]
    if acked and conn.dialect.name != "postgresql":
        for t, median in _medians(session, team_ids=acked, window=window, by_team=True).items():
            out[t]["escalations"]["median_seconds"] = median
    return out
