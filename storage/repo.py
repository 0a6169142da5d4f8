"""Queries. Session first, keyword-only arguments after; handlers never build SQL themselves."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from functools import cache as built_once
from typing import Any, Iterable, NamedTuple

from sqlalchemy import and_, bindparam, case, delete, false, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage import audit, cache
from storage.db import bulk_insert, lock_for_claim
from storage.models import (Client, ConfigState, Contact, InboundEvent, Membership, Outbox,
                            Person, ReasonCode, Reconciliation, Team)

# ---------------------------------------------------------------- config into the database


def sync_config(session: Session, config: Any) -> None:
    """Make teams, people and reason codes match the config file (the config is the truth).

    People and codes that left the file are deactivated, not deleted: the log still names them.
    """
    teams = {t.key: t for t in session.exec(select(Team))}
    for tc in config.teams:
        team = teams.get(tc.key) or Team(key=tc.key, name=tc.name)
        team.name, team.zone = tc.name, tc.timezone or config.timezone
        team.slack_channel, team.telegram_chat = tc.slack_channel, tc.telegram_chat
        team.morning_post, team.reconcile = tc.morning_post, tc.reconcile
        team.escalation = config.policy(tc)
        team.weekly_status, team.baseline_missed_pct = tc.weekly_status, tc.baseline_missed_pct
        team.min_contacts_for_rate = getattr(config, "min_contacts_for_rate", 20) \
            if tc.min_contacts_for_rate is None else tc.min_contacts_for_rate
        # A baseline set with `meds baseline N` outlives a restart.
        kept = {k: v for k, v in (team.medicines or {}).items() if k == "baseline_set"}
        team.medicines = {**tc.medicines(), **kept}
        team.active = True
        session.add(team)
        teams[tc.key] = team
    listed_teams = {tc.key for tc in config.teams}
    for key, team in teams.items():
        if key not in listed_teams:  # removed from the file: unbound, no jobs; records stay
            team.active = False
            team.slack_channel = team.telegram_chat = None
    session.flush()

    people = {p.handle: p for p in session.exec(select(Person))}
    listed = set()
    for pc in config.people:
        person = people.get(pc.handle) or Person(handle=pc.handle, name=pc.name)
        person.name, person.role, person.oncall, person.active = pc.name, pc.role, pc.oncall, True
        person.slack_user, person.telegram_user = pc.slack_user, pc.telegram_user
        session.add(person)
        people[pc.handle] = person
        listed.add(pc.handle)
    for handle, person in people.items():
        if handle not in listed:
            person.active = False
            person.slack_user = person.telegram_user = None
    session.flush()

    session.exec(Membership.__table__.delete())  # type: ignore[attr-defined]
    for pc in config.people:
        for position, key in enumerate(pc.teams):
            session.add(Membership(person_id=people[pc.handle].id, team_id=teams[key].id,
                                   position=position))

    codes = {c.code: c for c in session.exec(select(ReasonCode))}
    for c in codes.values():
        c.active = False
    for position, rc in enumerate(config.reason_codes):
        code = codes.get(rc.code) or ReasonCode(code=rc.code, label=rc.label)
        code.label, code.side, code.escalates = rc.label, rc.side, rc.escalates
        code.escalates_high_risk, code.needs_note = rc.escalates_high_risk, rc.needs_note
        code.accounts_for_client = bool(rc.accounts_for_client)
        code.position, code.active = position, True
        session.add(code)
    # A new token: every process reloads its cached copy of the above (storage/cache.py).
    state = session.get(ConfigState, 1) or ConfigState(id=1, token="")
    state.token = uuid.uuid4().hex
    session.add(state)
    session.flush()
    session.info.pop(cache.TOKEN, None)


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
    """The ids of handlers.base.team_access's teams, from the per-process cache."""
    snap = cache.snapshot(session)
    return snap.active_team_ids if person.role == "nominated" else snap.member_of.get(person.id, ())


def person_by_handle(session: Session, handle: str) -> Person | None:
    return session.exec(select(Person).where(Person.handle == handle)).first()


def team_by_key(session: Session, key: str) -> Team | None:
    """A team in the config; one taken out of it is no longer found (its records stay)."""
    return session.exec(select(Team).where(Team.key == key,
                                           Team.active == True)).first()  # noqa: E712


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


def contacts_for_day(session: Session, *, team_id: int, start: datetime,
                     end: datetime) -> list[tuple[Contact, Client]]:
    """Contacts due in [start, end), plus earlier ones still open (overdue): the day's list."""
    return list(session.exec(_contacts_for_day_query(),
                             params={"team_id": team_id, "start": start, "end": end}).all())


@built_once
def _contacts_for_day_query():
    return (
        select(Contact, Client).join(Client, col(Client.id) == col(Contact.client_id))
        .where(Contact.team_id == bindparam("team_id"), col(Contact.due_start) < bindparam("end"),
               or_(col(Contact.due_end) >= bindparam("start"), Contact.status == "open"))
        .order_by(col(Contact.due_start), col(Client.ref)))


def find_contact(session: Session, *, ref: str, team_ids: list[int], start: datetime,
                 end: datetime) -> tuple[Contact, Client] | None:
    """The contact a person means by a contact id, or by a client ref today in their teams.

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
        select(Contact, Client).join(Client, col(Client.id) == col(Contact.client_id))
        .where(col(Contact.team_id).in_(bindparam("team_ids", expanding=True)),
               or_(Contact.source_id == ref, by_ref))
        .order_by(case((Contact.source_id == ref, 0), else_=1),
                  case((Contact.status == "open", 0), else_=1), col(Contact.due_start))
        .limit(1))


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


# ---------------------------------------------------------------- audit and outbox


def add_audit(session: Session, *, at: datetime, actor: str, transport: str, action: str,
              subject: str | None = None, detail: dict | None = None,
              team: str | None = None) -> None:
    """Append to the hash-chained audit log (storage/audit.py: the only writer)."""
    audit.append(session, at=at, actor=actor, transport=transport, action=action, team=team,
                 subject=subject, detail=detail)


def enqueue(session: Session, *, key: str, target: str, payload: dict, now: datetime) -> bool:
    """Queue a post once per key; False when the key was already queued (or sent)."""
    if outbox_exists(session, key):
        return False
    try:
        with session.begin_nested():
            session.add(Outbox(key=key, target=target, payload=payload, created_at=now,
                               next_attempt_at=now))
    except IntegrityError:  # another process queued the same key a moment ago
        return False
    session.info["queued"] = True
    return True


def outbox_row(*, key: str, target: str, payload: dict, now: datetime) -> dict:
    """An outbox row as plain values, for enqueue_many."""
    return {"key": key, "target": target, "payload": payload, "status": "pending", "revision": 0,
            "attempts": 0, "created_at": now, "next_attempt_at": now, "receipts": {}}


def enqueue_many(session: Session, rows: list[dict]) -> None:
    """Queue many posts in one statement. Only for keys that cannot exist yet: a duplicate fails
    the whole transaction (use enqueue where a key may repeat)."""
    if rows:
        bulk_insert(session, Outbox.__table__, rows)
        session.info["queued"] = True


LEASE = timedelta(minutes=2)
LEASE_BATCH = 20  # rows one lease takes


def lease_due(session: Session, *, now: datetime, limit: int = LEASE_BATCH) -> list[Outbox]:
    """Take pending rows whose time has come; another sweeper skips them (locked, then leased)."""
    lock_for_claim(session)
    query = (select(Outbox).where(Outbox.status == "pending", col(Outbox.next_attempt_at) <= now)
             .order_by(col(Outbox.id)).limit(limit).with_for_update(skip_locked=True))
    rows = list(session.exec(query))
    # Rows tried before (a lease ran out, or a send failed): a platform may have sent without
    # a receipt, so delivery looks for the post before sending it again. Only a new row's
    # next_attempt_at is still its created_at.
    retried = session.info.setdefault("retried", set())
    for row in rows:
        if row.attempts or row.next_attempt_at > row.created_at:
            retried.add(row.id)
        row.next_attempt_at = now + LEASE
        session.add(row)
    session.flush()
    return rows


def merge_receipts(stored: dict | None, new: dict) -> dict:
    """Per platform, the receipt showing the newer revision wins: two sweepers (one whose lease
    ran out) never wipe each other's receipts."""
    merged = dict(stored or {})
    for name, receipt in new.items():
        if name not in merged or receipt["rev"] >= merged[name]["rev"]:
            merged[name] = receipt
    return merged


def record_receipt(session: Session, *, row_id: int, transport: str, receipt: dict) -> None:
    """One platform has sent: store its receipt now (under the row lock, merged with the
    others), so a crash before the other platforms finish never re-sends this one."""
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.id == row_id).with_for_update()).one()
    row.receipts = merge_receipts(row.receipts, {transport: receipt})
    session.add(row)


def finish_delivery(session: Session, *, row_id: int, now: datetime, receipts: dict,
                    revision: int, error: str | None, payload: dict | None = None) -> None:
    """Keep the receipts; on error back off 30 s, 1, 2, 4 … minutes (capped at 30), else done.

    If the post was refreshed while it was being sent, it stays pending for the newer revision.
    `payload`: a stale post's content as rendered for this send (kept unless marked stale again).
    """
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.id == row_id).with_for_update()).one()
    row.receipts = merge_receipts(row.receipts, receipts)
    if payload is not None and row.revision == revision:
        row.payload, row.stale = payload, False
    if error:
        row.attempts += 1
        row.last_error = error[:500]
        row.next_attempt_at = now + timedelta(seconds=min(30 * 2 ** (row.attempts - 1), 1800))
    else:
        row.next_attempt_at = now  # the lease is over
        if row.revision == revision:
            row.status, row.sent_at, row.last_error = "sent", now, None
    session.add(row)


def fail_delivery(session: Session, *, row_id: int, now: datetime, receipts: dict,
                  revision: int, error: str) -> bool:
    """A post a platform refused for good: status "failed", never retried (a refresh with new
    content gives it one more try). False if it was refreshed meanwhile and stays pending."""
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.id == row_id).with_for_update()).one()
    row.receipts = merge_receipts(row.receipts, receipts)
    row.attempts, row.last_error = row.attempts + 1, error[:500]
    row.next_attempt_at = now
    if row.revision == revision:
        row.status = "failed"
    session.add(row)
    return row.status == "failed"


def failed_posts(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Outbox)
                        .where(Outbox.status == "failed")).one()


def outbox_backlog(session: Session) -> dict:
    """Pending rows (how many, when the oldest was queued, how many are escalation pages)
    and failed rows, in one query: /healthz and /metrics read it on every probe."""
    pending = Outbox.status == "pending"
    page = and_(pending, col(Outbox.target).like("person:%"), col(Outbox.key).like("esc:%:L%:P%"))
    count, oldest, pages, failed = session.exec(select(
        func.count().filter(pending), func.min(Outbox.created_at).filter(pending),
        func.count().filter(page), func.count().filter(Outbox.status == "failed"))
        .where(col(Outbox.status).in_(["pending", "failed"]))).one()
    return {"pending": count, "oldest": oldest, "pages": pages, "failed": failed}


def refresh_post(session: Session, *, key: str, payload: dict, now: datetime) -> bool:
    """Give a queued or sent post new content, to be edited in place. False if no such post."""
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.key == key).with_for_update()).first()
    if row is None:
        return False
    row.payload, row.revision, row.status = payload, row.revision + 1, "pending"
    row.stale = False
    # A row leased by a sweeper right now keeps its lease: the sweeper re-queues it when done.
    row.next_attempt_at = max(row.next_attempt_at, now)
    session.add(row)
    session.info["queued"] = True
    return True


def mark_stale(session: Session, *, key: str, now: datetime) -> bool:
    """Like refresh_post, but the delivery sweep renders the new content (one UPDATE here).
    False if no such post."""
    done = session.execute(_mark_stale_statement(), {"b_key": key, "b_now": now})
    if done.rowcount:
        session.info["queued"] = True
    return bool(done.rowcount)


@built_once
def _mark_stale_statement():
    table, now = Outbox.__table__, bindparam("b_now", type_=Outbox.__table__.c.next_attempt_at.type)
    later = case((table.c.next_attempt_at > now, table.c.next_attempt_at), else_=now)
    return table.update().where(table.c.key == bindparam("b_key")).values(
        revision=table.c.revision + 1, status="pending", stale=True, next_attempt_at=later)


def outbox_exists(session: Session, key: str) -> bool:
    return session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None


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
