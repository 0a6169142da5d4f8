"""Queries for escalations and the on-call rota. Session first, keyword-only after."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import (Text, and_, bindparam, case, cast, exists, func, inspect, or_,
                        text)
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from storage.db import array_literal, lock_for_claim
from storage.models import (Client, Contact, Escalation, EscalationEvent, Membership,
                            OnCallShift, Person, Team)
from storage.privacy import mask_stored

ACTIVE = ("open", "acknowledged")


def on_call(session: Session, *, team_id: int, now: datetime) -> list[Person]:
    """Who is on call for the team now: the rota where it covers now, else the on-call pool."""
    rota = list(session.exec(_ROTA, params={"team_id": team_id, "now": now}))
    if rota:
        return rota
    return list(session.exec(_ONCALL_POOL, params={"team_id": team_id}))


def with_role(session: Session, *, team_id: int, role: str) -> list[Person]:
    """The team's people with a role; a nominated individual may sit outside every team."""
    people = list(session.exec(_WITH_ROLE, params={"team_id": team_id, "role": role}))
    if not people and role == "nominated":
        people = list(session.exec(_ANY_WITH_ROLE, params={"role": role}))
    return people


# Built once: a sweep asks for each team's holders of each level, and building a statement
# cost more than running it.
_ROTA = (select(Person).join(OnCallShift, col(OnCallShift.person_id) == col(Person.id))
         .where(OnCallShift.team_id == bindparam("team_id"),
                col(OnCallShift.starts_at) <= bindparam("now"),
                col(OnCallShift.ends_at) > bindparam("now"), Person.active == True)  # noqa: E712
         .order_by(col(Person.handle)))
_IN_TEAM = (select(Person).join(Membership, col(Membership.person_id) == col(Person.id))
            .where(Membership.team_id == bindparam("team_id"),
                   Person.active == True))  # noqa: E712
_ONCALL_POOL = _IN_TEAM.where(Person.oncall == True).order_by(col(Person.handle))  # noqa: E712
_WITH_ROLE = _IN_TEAM.where(Person.role == bindparam("role")).order_by(col(Person.handle))
_ANY_WITH_ROLE = select(Person).where(Person.role == bindparam("role"),
                                      Person.active == True).order_by(col(Person.handle))  # noqa: E712


def members(session: Session, *, team_id: int) -> list[Person]:
    """The team's active people, by name (who can cover a gap)."""
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team_id, Person.active == True)  # noqa: E712
        .order_by(col(Person.name))))


def latest_for_subject(session: Session, subject: str) -> Escalation | None:
    return session.exec(_LATEST_FOR_SUBJECT, params={"subject": subject}).first()


# Built once (on the command path: a statement built anew costs more than running it).
_LATEST_FOR_SUBJECT = (select(Escalation).where(Escalation.subject == bindparam("subject"))
                       .order_by(col(Escalation.id).desc()))


def open_for_subject(session: Session, subject: str) -> Escalation | None:
    """The subject's live escalation (open or acknowledged), if any: what an outcome settles.
    Every done and missed asks, so the statement is built once too."""
    return session.exec(_OPEN_FOR_SUBJECT, params={"subject": subject}).first()


_OPEN_FOR_SUBJECT = select(Escalation).where(Escalation.open_subject == bindparam("subject"))


def claim_due(session: Session, *, now: datetime, limit: int) -> list:
    """Open escalations whose timer has run out; a second sweeper skips the locked ones
    (on SQLite it waits for the first sweeper's commit, then sees the new timers).

    Rows of the columns a firing reads (id, team_id, level, pages_at_level, trigger, ref,
    summary, and the frozen policy as its JSON text in policy_json), not ORM objects: loading
    hundreds of Escalation objects and decoding each one's policy was most of a sweep's time."""
    lock_for_claim(session)
    return list(session.execute(_CLAIM_DUE, {"now": now, "limit": limit}))


# A team taken out of the config pages nobody: no one can act on it until it is put back.
_CLAIM_DUE = (
    select(Escalation.id, Escalation.team_id, Escalation.level, Escalation.pages_at_level,
           Escalation.trigger, Escalation.ref, Escalation.summary,
           cast(Escalation.policy, Text).label("policy_json"))
    .where(Escalation.state == "open",
           col(Escalation.next_fire_at) <= bindparam("now"),
           col(Escalation.team_id).in_(select(Team.id).where(Team.active == True)))  # noqa: E712
    .order_by(col(Escalation.next_fire_at)).limit(bindparam("limit"))
    .with_for_update(skip_locked=True))


# Four arrays, so the statement is the same text whatever the count (compiled and planned once).
# The ids again as "= ANY": joined on v.id alone, the planner hashed all 10,000 open rows
# (a seq scan, 4 of the UPDATE's 12 ms); with it, it fetches the 500 by primary key.
_SAVE_TIMERS = text(
    "UPDATE escalation SET level = v.level, pages_at_level = v.pages, next_fire_at = v.fire "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:levels AS integer[]), CAST(:pages AS integer[]), "
    "CAST(:fires AS timestamptz[])) AS v(id, level, pages, fire) "
    "WHERE escalation.id = v.id AND escalation.id = ANY(CAST(:ids AS integer[]))")


_SAVE_TIMERS_ROWS = ("UPDATE escalation SET level = ?, pages_at_level = ?, next_fire_at = ? "
                     "WHERE id = ?")


def _bind(conn, column):
    """The column type's own conversion to what the driver stores (SQLite keeps times as text)."""
    return column.type.bind_processor(conn.dialect) or (lambda value: value)


def save_timers(session: Session, timers: list[tuple]) -> None:
    """Set (escalation, level, pages_at_level, next_fire_at) for many fired escalations in one
    statement (UPDATE … FROM unnest(arrays) on PostgreSQL, one executemany elsewhere) instead
    of the ORM's row by row. The escalation is an Escalation or a row from claim_due; the
    object (or the one the session already holds for that row) takes the values as already
    stored, so the flush does not write them again. One not yet in the database gets them
    the ORM's way."""
    rows = _timer_rows(session, timers)
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_SAVE_TIMERS, _timer_params(rows))
    else:
        # The driver's own executemany: through the Core statement, each row's parameters were
        # matched to the cached statement's one by one (most of a 500-row sweep's time).
        fire_value = _bind(conn, Escalation.__table__.c.next_fire_at)
        conn.exec_driver_sql(_SAVE_TIMERS_ROWS, [(lv, p, fire_value(f), i) for i, lv, p, f in rows])


def _timer_rows(session: Session, timers: list[tuple]) -> list[tuple]:
    """The (id, level, pages, fire) rows to write; sets the objects' values (save_timers)."""
    held = ({obj.id: obj for obj in session.identity_map.values() if isinstance(obj, Escalation)}
            if any(not isinstance(t[0], Escalation) for t in timers) else {})
    rows = []
    for esc, level, pages, fire in timers:
        obj = esc if isinstance(esc, Escalation) else held.get(esc.id)
        if obj is not None and not inspect(obj).persistent:
            obj.level, obj.pages_at_level, obj.next_fire_at = level, pages, fire
            session.add(obj)
            continue
        rows.append((esc.id, level, pages, fire))
        if obj is not None:
            for key, value in (("level", level), ("pages_at_level", pages),
                               ("next_fire_at", fire)):
                set_committed_value(obj, key, value)
    return rows


def _timer_params(rows: list[tuple]) -> dict:
    ids, levels, pages, fires = map(array_literal, map(list, zip(*rows)))
    return {"ids": ids, "levels": levels, "pages": pages, "fires": fires}


def save_firing(session: Session, *, timers: list[tuple], at: datetime,
                pages: list[tuple[int, int, int, str, int]]) -> None:
    """save_timers, then add_pages: on PostgreSQL in one statement (the UPDATE in a WITH),
    one round trip and one statement's overhead less a sweep."""
    if session.get_bind().dialect.name != "postgresql" or not pages:
        save_timers(session, timers)
        add_pages(session, at=at, pages=pages)
        return
    rows = _timer_rows(session, timers)
    if not rows:
        add_pages(session, at=at, pages=pages)
        return
    session.connection().execute(_SAVE_FIRING, {**_timer_params(rows),
                                                **_page_params(at, pages)})


# The role by its place in :roles (few distinct), so every array is of ints (array_literal).
_ADD_PAGES = text(
    "INSERT INTO escalationevent (escalation_id, at, kind, level, person_id, detail) "
    "SELECT e, CAST(:at AS timestamptz), 'paged', l, p, "
    "json_build_object('role', (CAST(:roles AS text[]))[r], 'repeat', n) "
    "FROM unnest(CAST(:e AS integer[]), CAST(:l AS integer[]), CAST(:p AS integer[]), "
    "CAST(:r AS integer[]), CAST(:n AS integer[])) AS v(e, l, p, r, n)")


_ADD_PAGES_ROWS = ("INSERT INTO escalationevent (escalation_id, at, kind, level, person_id, "
                   "detail) VALUES (?, ?, 'paged', ?, ?, ?)")


def add_pages(session: Session, *, at: datetime,
              pages: list[tuple[int, int, int, str, int]]) -> None:
    """Record (escalation_id, level, person_id, role, repeat) pages as "paged" events in one
    statement: five arrays on PostgreSQL (faster than COPY's row by row), executemany elsewhere."""
    if not pages:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_ADD_PAGES, _page_params(at, pages))
        return
    conn, table = session.connection(), EscalationEvent.__table__
    at_value, detail = _bind(conn, table.c.at)(at), _bind(conn, table.c.detail)
    # Stored once per distinct (role, repeat): the column masks every string on its way in,
    # and 500 maskings of the same few role names were a third of the SQLite sweep.
    details = {pair: detail({"role": pair[0], "repeat": pair[1]})
               for pair in {(r, n) for _, _, _, r, n in pages}}
    conn.exec_driver_sql(_ADD_PAGES_ROWS, [(e, at_value, lv, p, details[r, n])
                                           for e, lv, p, r, n in pages])


def _page_params(at: datetime, pages: list[tuple[int, int, int, str, int]]) -> dict:
    roles = list(dict.fromkeys(page[3] for page in pages))
    # The detail JSON is built in SQL, past FreeJSON's masking: its one string is masked here.
    masked = [mask_stored(role) for role in roles]
    place = {role: i for i, role in enumerate(roles, start=1)}
    e, lv, p, r, n = map(array_literal, zip(*[(e, lv, p, place[r], n)
                                              for e, lv, p, r, n in pages]))
    return {"at": at, "roles": masked, "e": e, "l": lv, "p": p, "r": r, "n": n}


_SAVE_FIRING = text(f"WITH timers AS ({_SAVE_TIMERS.text}) {_ADD_PAGES.text}")


def active(session: Session, *, team_ids: list[int]) -> list[Escalation]:
    """Open and acknowledged ones; unowned after the full chain first, then still paging."""
    rank = case((col(Escalation.state) == "acknowledged", 2),
                (col(Escalation.exhausted_at).is_not(None), 0), else_=1)
    return list(session.exec(
        select(Escalation).where(col(Escalation.state).in_(ACTIVE),
                                 col(Escalation.team_id).in_(team_ids))
        .order_by(rank, col(Escalation.opened_at), col(Escalation.id))))


def unowned_for(session: Session, *, person_id: int, team_ids: list[int]) -> list[Escalation]:
    """Open (unacknowledged) escalations in these teams or that have paged this person."""
    paged = exists().where(EscalationEvent.escalation_id == Escalation.id,
                           EscalationEvent.kind == "paged", EscalationEvent.person_id == person_id)
    return list(session.exec(
        select(Escalation).where(Escalation.state == "open",
                                 or_(col(Escalation.team_id).in_(team_ids), paged))
        .order_by(col(Escalation.id)).with_for_update()))


def held_by(session: Session, *, person_id: int, team_ids: list[int]) -> list[Escalation]:
    """What a person holds now: escalations paging them (open) and those they own."""
    paged = exists().where(EscalationEvent.escalation_id == Escalation.id,
                           EscalationEvent.kind == "paged", EscalationEvent.person_id == person_id)
    return list(session.exec(
        select(Escalation).where(col(Escalation.team_id).in_(team_ids), or_(
            and_(Escalation.state == "open", paged),
            and_(Escalation.state == "acknowledged", Escalation.acked_by_id == person_id)))
        .order_by(col(Escalation.state).desc(), col(Escalation.id))))


def pages(session: Session, *, escalation_id: int) -> list[tuple[EscalationEvent, Person]]:
    return list(session.exec(
        select(EscalationEvent, Person).join(Person, col(Person.id) == col(EscalationEvent.person_id))
        .where(EscalationEvent.escalation_id == escalation_id, EscalationEvent.kind == "paged")
        .order_by(col(EscalationEvent.id))))


def paged_before(session: Session, *, escalation_ids: list[int]) -> dict[int, list[tuple[str, datetime]]]:
    """For each escalation: (who, when) of every page so far, oldest first (one query a sweep)."""
    out: dict[int, list[tuple[str, datetime]]] = {}
    if not escalation_ids:
        return out
    if session.get_bind().dialect.name == "postgresql":
        # One array literal (storage/db.py), through a statement built once.
        rows = session.execute(_PAGED_BEFORE, {"ids": array_literal(escalation_ids)})
    else:
        rows = session.exec(_PAGED.where(col(EscalationEvent.escalation_id).in_(escalation_ids)))
    for esc_id, name, at in rows:
        out.setdefault(esc_id, []).append((name, at))
    return out


_PAGED = (select(EscalationEvent.escalation_id, Person.name, EscalationEvent.at)
          .join(Person, col(Person.id) == col(EscalationEvent.person_id))
          .where(EscalationEvent.kind == "paged").order_by(col(EscalationEvent.id)))
_PAGED_BEFORE = _PAGED.where(text("escalationevent.escalation_id = ANY(CAST(:ids AS integer[]))"))


def overdue_time_critical(session: Session, *, team_ids: list[int], now: datetime,
                          grace: timedelta) -> list[tuple[Contact, Client]]:
    """Time-critical high-risk contacts still open `grace` after their window, not yet escalated,
    in all these teams at once (one query a sweep, not one per team).

    Only windows that ended in the last two days: older ones were reconciled long ago.
    """
    subject = func.concat("contact:", Contact.source_id) if session.get_bind().dialect.name == \
        "postgresql" else ("contact:" + col(Contact.source_id))
    return list(session.exec(
        select(Contact, Client).join(Client, col(Client.id) == col(Contact.client_id))
        .where(col(Contact.team_id).in_(team_ids), Contact.status == "open",
               Contact.time_critical == True, Client.risk == "high",  # noqa: E712
               col(Contact.due_end) <= now - grace,
               col(Contact.due_end) > now - grace - timedelta(days=2),
               ~exists().where(Escalation.subject == subject))))


def next_due(session: Session) -> datetime | None:
    """When the earliest open escalation next fires (the console's clock stops there)."""
    return session.exec(select(func.min(Escalation.next_fire_at))
                        .where(Escalation.state == "open")).one()


def next_time_critical(session: Session, *, team: Team, now: datetime,
                       grace: timedelta) -> datetime | None:
    """When the next open time-critical high-risk contact becomes overdue (window end + grace)."""
    end = session.exec(
        select(func.min(Contact.due_end)).join(Client, col(Client.id) == col(Contact.client_id))
        .where(Contact.team_id == team.id, Contact.status == "open",
               Contact.time_critical == True, Client.risk == "high",  # noqa: E712
               col(Contact.due_end) > now - grace)).one()
    return end + grace if end else None
