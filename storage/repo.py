"""Queries. Session first, keyword-only arguments after; handlers never build SQL themselves."""
from __future__ import annotations

from datetime import date, datetime
from functools import cache as built_once
from typing import Iterable, NamedTuple

from sqlalchemy import (String, and_, bindparam, case, delete, false, func, literal_column,
                        or_)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from storage import audit, cache
from storage.db import lock_for_claim
# The outbox's queries live in storage/outbox.py and storage/delivery.py; these names stay
# importable from here.
from storage.delivery import (LEASE, fail_delivery, failed_posts, finish_delivery,  # noqa: F401
                              lease_due, merge_receipts, outbox_backlog,
                              record_receipts)
from storage.outbox import (enqueue, enqueue_many, mark_stale, outbox_exists,  # noqa: F401
                            outbox_row, refresh_post)
from storage.config_sync import sync_config  # noqa: F401 - where callers have always found it
from storage.models import (Client, ConfigState, Contact, Escalation, InboundEvent, Membership,
                            Outbox, Person, ReasonCode, Reconciliation, Team)

# ---------------------------------------------------------------- people and teams


def person_by_identity(session: Session, transport: str, user_id: str) -> Person | None:
    query = select(Person).where(Person.active == True)  # noqa: E712
    if transport == "slack":
        query = query.where(Person.slack_user == user_id)
    elif transport == "telegram":
        if not user_id.lstrip("-").isdigit():
            return None
        query = query.where(Person.telegram_user == int(user_id))
    else:
        query = query.where(Person.handle == user_id)
    return session.exec(query).first()


class Caller(NamedTuple):
    person: Person | None
    team: Team | None  # the chat's team (None: no chat given, or a chat no team is bound to)


def caller(session: Session, transport: str, user_id: str, chat_transport: str,
           chat_id: str | None) -> Caller:
    """Who is asking and the team of the chat they ask in (a team removed from the config has
    none), in one query, the command path's only lookup; it also reads the config token the cached
    rows are checked against."""
    user: str | int = user_id
    if transport == "telegram":
        if not user_id.lstrip("-").isdigit():
            return Caller(None, None)
        user = int(user_id)
    chat: str | int | None = chat_id
    if chat_id is None:
        by_chat = None
    elif chat_transport == "slack":
        by_chat = "slack"
    elif chat_transport == "telegram" and chat_id.lstrip("-").isdigit():
        by_chat, chat = "telegram", int(chat_id)
    else:
        by_chat = "key"
    query = _caller_query(transport if transport in ("slack", "telegram") else "handle", by_chat)
    params = {"user": user, "chat": chat} if by_chat else {"user": user}
    row = session.exec(query, params=params).first()
    if row is None:
        return Caller(None, None)
    session.info[cache.TOKEN] = row[2]
    return Caller(row[0], row[1])


def chat_team(session: Session, chat_transport: str, chat_id: str) -> Team | None:
    """The active team a chat is linked to (only needed apart from `caller` when the person is
    unknown: a refusal then says whether the chat needs linking too)."""
    return session.exec(select(Team).where(Team.active == True,  # noqa: E712
                                           _chat_is(chat_transport, chat_id))).first()


def _chat_is(chat_transport: str, chat_id: str | None):
    if chat_id is None:
        return false()
    if chat_transport == "slack":
        return Team.slack_channel == chat_id
    if chat_transport == "telegram" and chat_id.lstrip("-").isdigit():
        return Team.telegram_chat == int(chat_id)
    return Team.key == chat_id


@built_once
def _caller_query(by_user: str, by_chat: str | None):
    """caller's statement for one kind of user id and of chat id, built once per process and run
    with parameters: built anew, an ORM statement cost more than running it (its cache key is
    worked out again on every execution)."""
    who = {"slack": Person.slack_user, "telegram": Person.telegram_user,
           "handle": Person.handle}[by_user] == bindparam("user")
    where = false() if by_chat is None else {
        "slack": Team.slack_channel, "telegram": Team.telegram_chat,
        "key": Team.key}[by_chat] == bindparam("chat")
    return (select(Person, Team, ConfigState.token).select_from(Person)
            .outerjoin(Team, and_(Team.active == True, where))  # noqa: E712
            .outerjoin(ConfigState, ConfigState.id == 1)
            .where(Person.active == True, who).limit(1))  # noqa: E712


def team_ids_of(session: Session, person: Person) -> tuple[int, ...]:
    """teams_of's ids, home team first, from the per-process cache."""
    return cache.snapshot(session).member_of.get(person.id, ())


def visible_team_ids(session: Session, person: Person) -> tuple[int, ...]:
    """THE access rule: a person acts on a team only if they belong to it (its `teams` in the
    config), whatever their role; the nominated individual belongs to every active team.
    From the per-process cache; handlers.base.team_access gives the same teams as rows."""
    snap = cache.snapshot(session)
    return snap.active_team_ids if person.role == "nominated" else snap.member_of.get(person.id, ())


def person_by_handle(session: Session, handle: str) -> Person | None:
    return session.exec(select(Person).where(Person.handle == handle)).first()


def team_by_key(session: Session, key: str) -> Team | None:
    """A team in the config; one taken out of it is no longer found (its records stay)."""
    return session.exec(select(Team).where(Team.key == key,
                                           Team.active == True)).first()  # noqa: E712


def teams_by_key(session: Session, keys: Iterable[str]) -> dict[str, Team]:
    """team_by_key for many at once: {key: team} of those in the config."""
    keys = set(keys)
    if not keys:
        return {}
    query = select(Team).where(col(Team.key).in_(keys), Team.active == True)  # noqa: E712
    return {team.key: team for team in session.exec(query)}


def people_by_handle(session: Session, handles: Iterable[str]) -> dict[str, Person]:
    handles = set(handles)
    if not handles:
        return {}
    return {p.handle: p for p in session.exec(select(Person).where(col(Person.handle).in_(handles)))}


def teams_by_id(session: Session, ids: Iterable[int]) -> list[Team]:
    """The teams with these ids, in the order given."""
    ids = list(ids)
    found = {t.id: t for t in session.exec(select(Team).where(col(Team.id).in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found]


def teams_of(session: Session, person: Person) -> list[Team]:
    query = (select(Team).join(Membership, col(Membership.team_id) == col(Team.id))
             .where(Membership.person_id == person.id).order_by(col(Membership.position)))
    return list(session.exec(query))


def all_teams(session: Session, *, removed: bool = False) -> list[Team]:
    """The teams in the config (removed=True: also those taken out of it, whose records stay)."""
    query = select(Team).order_by(col(Team.key))
    if not removed:
        query = query.where(Team.active == True)  # noqa: E712
    return list(session.exec(query))


def people_by_id(session: Session, ids: Iterable[int]) -> dict[int, Person]:
    ids = set(ids)
    if not ids:
        return {}
    return {p.id: p for p in session.exec(_people_by_id_query(), params={"ids": list(ids)})}


@built_once
def _people_by_id_query():
    return select(Person).where(col(Person.id).in_(bindparam("ids", expanding=True)))


def reason_codes(session: Session) -> list[ReasonCode]:
    """The active codes in config order (cached per process: read them, never change them)."""
    return list(cache.snapshot(session).reason_codes)


# ---------------------------------------------------------------- contacts


def contacts_for_day(session: Session, *, team_id: int, start: datetime, end: datetime) -> list:
    """Contacts due in [start, end), plus earlier ones still open (overdue): the day's list, as
    rows of the columns the list shows (ref, kind, risk, due_start, due_end, status,
    reason_code, source_id, assignee_id, assignee: the assignee's name). Plain rows, not ORM
    objects: a tap rebuilds the list, and loading ~35 objects per list cost more than the query."""
    return list(session.execute(_contacts_for_day_query(),
                                {"team_id": team_id, "start": start, "end": end}).all())


@built_once
def _contacts_for_day_query():
    # ORM columns, so the session still flushes a just-logged outcome before reading.
    return (
        select(col(Client.ref), col(Contact.kind), col(Client.risk), col(Contact.due_start),
               col(Contact.due_end), col(Contact.status), col(Contact.reason_code),
               col(Contact.source_id), col(Contact.assignee_id),
               col(Person.name).label("assignee"))
        .select_from(Contact).join(Client, col(Client.id) == col(Contact.client_id))
        .outerjoin(Person, col(Person.id) == col(Contact.assignee_id))
        .where(Contact.team_id == bindparam("team_id"), col(Contact.due_start) < bindparam("end"),
               or_(col(Contact.due_end) >= bindparam("start"), Contact.status == "open"))
        .order_by(col(Contact.due_start), col(Client.ref)))


def find_contact(session: Session, *, ref: str, team_ids: list[int], start: datetime,
                 end: datetime) -> tuple[Contact, Client, Escalation | None] | None:
    """The contact a person means by a contact id, or by a client ref today in their teams,
    with its live escalation (subject "contact:<contact id>", None: none), which an outcome
    settles: read here, it is one statement fewer on every done and missed.

    One query: an exact contact id wins, then an open contact over one already logged, then
    the earliest due. Client refs are stored upper-case, so `c-7f3k` finds C-7F3K.
    """
    return session.exec(_find_contact_query(), params={
        "ref": ref, "upper": ref.upper(), "team_ids": list(team_ids), "start": start,
        "end": end}).first()


@built_once
def _find_contact_query():
    ref = bindparam("ref")
    by_ref = and_(Client.ref == bindparam("upper"), col(Contact.due_start) < bindparam("end"),
                  or_(col(Contact.due_end) >= bindparam("start"), Contact.status == "open"))
    return (
        select(Contact, Client, Escalation)
        .join(Client, col(Client.id) == col(Contact.client_id))
        .outerjoin(Escalation, col(Escalation.open_subject)
                   == literal_column("'contact:'", String) + col(Contact.source_id))
        .where(col(Contact.team_id).in_(bindparam("team_ids", expanding=True)),
               or_(Contact.source_id == ref, by_ref))
        .order_by(case((Contact.source_id == ref, 0), else_=1),
                  case((Contact.status == "open", 0), else_=1), col(Contact.due_start))
        .limit(1))


def set_outcome(session: Session, contact: Contact, **values) -> None:
    """Write a contact's outcome (the OUTCOME columns, all of them) with one UPDATE, and tell
    the object they are saved: through the ORM's flush, its unit of work cost more than the
    statement on every done and missed. The note's FreeText type masks it on the way to the
    database as a flush would (the object keeps what was typed, as after a flush)."""
    session.execute(_set_outcome_statement(), {"b_id": contact.id,
                                                **{f"b_{k}": values[k] for k in OUTCOME}})
    for key in OUTCOME:
        set_committed_value(contact, key, values[key])


OUTCOME = ("status", "reason_code", "note", "outcome_at", "logged_by_id", "logged_via")


@built_once
def _set_outcome_statement():
    table = Contact.__table__
    return table.update().where(table.c.id == bindparam("b_id")).values(
        {name: bindparam(f"b_{name}", type_=table.c[name].type) for name in OUTCOME})


def refs_between(session: Session, *, team_ids: list[int], start: datetime,
                 end: datetime) -> list[str]:
    """The client refs of the teams' contacts due in the window (a did-you-mean's choices)."""
    query = (select(Client.ref).join(Contact, col(Contact.client_id) == col(Client.id))
             .where(col(Contact.team_id).in_(team_ids), col(Contact.due_start) < end,
                    col(Contact.due_end) >= start).distinct())
    return list(session.exec(query))


def day_counts(session: Session, *, team_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """Planned / completed / missed / open for the day, counted in SQL. Contacts still open from
    earlier days are counted apart as carried_over, never in planned."""
    carried = func.sum(case((col(Contact.due_end) < start, 1), else_=0))
    rows = session.exec(
        select(Contact.status, func.count(), carried).where(
            Contact.team_id == team_id, col(Contact.due_start) < end,
            or_(col(Contact.due_end) >= start, Contact.status == "open"))
        .group_by(Contact.status)).all()
    counts = {"done": 0, "missed": 0, "open": 0}
    counts.update({status: n for status, n, _ in rows})
    carried_over = sum(int(c or 0) for status, _, c in rows if status == "open")
    return {"planned": sum(counts.values()) - carried_over, "completed": counts["done"],
            "missed": counts["missed"], "open": counts["open"] - carried_over,
            "carried_over": carried_over}


def upsert_reconciliation(session: Session, *, team_id: int, day: date, counts: dict[str, int],
                          open_items: list[dict], now: datetime, run_by: str) -> tuple[Reconciliation, bool]:
    """The one row per team per day; a re-run updates it. Returns (row, created)."""
    row = session.exec(select(Reconciliation).where(
        Reconciliation.team_id == team_id, Reconciliation.day == day)).first()
    created = row is None
    if row is None:
        row = Reconciliation(team_id=team_id, day=day, run_at=now, run_by=run_by, runs=0)
    row.planned, row.completed = counts["planned"], counts["completed"]
    row.missed, row.open = counts["missed"], counts["open"]
    row.open_items, row.run_at, row.run_by, row.runs = open_items, now, run_by, row.runs + 1
    session.add(row)
    session.flush()
    return row, created


# ---------------------------------------------------------------- audit and chat artefacts


def add_audit(session: Session, *, at: datetime, actor: str, transport: str, action: str,
              subject: str | None = None, detail: dict | None = None,
              team: str | None = None) -> None:
    """Append to the hash-chained audit log (storage/audit.py: the only writer)."""
    audit.append(session, at=at, actor=actor, transport=transport, action=action, team=team,
                 subject=subject, detail=detail)


def purge_chat_artefacts(session: Session, *, before: datetime) -> dict[str, int]:
    """Delete delivered outbox rows and handled event ids older than `before`. Pending posts
    stay (never dropped), and so does everything the evidence pack reads."""
    sent = session.execute(delete(Outbox).where(Outbox.status == "sent",
                                                col(Outbox.sent_at) < before)).rowcount
    events = session.execute(delete(InboundEvent).where(col(InboundEvent.at) < before)).rowcount
    return {"posts": sent, "events": events}


_INSERT_EVENT = InboundEvent.__table__.insert()


def first_time(session: Session, *, key: str, now: datetime) -> bool:
    """Remember a platform event id; False if it was already handled (same transaction as its work)."""
    # No read first: a redelivery is rare, and the primary key refuses it.
    # A plain INSERT, not in a SAVEPOINT: on SQLite (pysqlite) a savepoint opened before any
    # other write is the outermost transaction and its release commits, so a refused or failed
    # command would still leave its event id and a retry would be taken for a duplicate.
    try:
        session.execute(_INSERT_EVENT, {"key": key, "at": now})
    except IntegrityError:  # the same event, handled before (or a moment ago by another worker)
        session.rollback()  # nothing else is written yet in this unit of work
        return False
    return True
