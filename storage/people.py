"""People who live in the database: `carebot import people FILE.csv`, the `carebot people`
listing, and the one-time Telegram invite codes (`invite @handle`, `/start CODE`).

The config file keeps the organisation's settings and may still list people (source "config",
kept in step by storage/config_sync.py); people imported here have source "import" and a config
reload leaves them, their memberships and their chat ids alone.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import cache
from storage.csvfile import ImportRejected, ImportResult, checked  # noqa: F401
from storage.db import session_scope
from storage.models import ROLES, ChatBinding, Invite, Membership, Person, Team
from storage.privacy import opaque_token

PEOPLE_COLUMNS = ["handle", "name", "role", "teams", "email"]
OPTIONAL_COLUMNS = ["slack_user", "telegram_user"]
INVITE_HOURS = 72
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_TEAMS_SPLIT = re.compile(r"[;,\s]+")


@dataclass
class _Known:
    teams: dict[str, int]  # active team key -> id
    people: dict[str, Person]  # every person by handle
    slack: dict[str, str]  # slack id -> handle
    telegram: dict[int, str]  # telegram id -> handle
    emails: dict[str, str]  # email -> handle
    seen: dict[str, dict]  # this file: handle / slack / telegram / email -> line's handle


def _parse(row: dict, known: _Known) -> dict:
    problems = []
    handle = (row.get("handle") or "").strip().lstrip("@").lower()
    if not _HANDLE.match(handle):
        problems.append(f"handle {handle!r} must be lower-case letters, digits, - or _ "
                        "(e.g. amira)")
    elif handle in known.seen["handle"]:
        problems.append(f"handle {handle!r} appears twice in the file")
    elif handle in known.people and known.people[handle].source == "config" \
            and known.people[handle].active:  # one taken out of the file may be imported
        problems.append(f"handle {handle!r} is a person of the config file; change them there "
                        "or remove them from it first")
    name = " ".join((row.get("name") or "").split())
    if not name:
        problems.append("name is empty")
    elif len(name) > 120:
        problems.append("name is longer than 120 characters")
    role = (row.get("role") or "").strip().lower()
    if role not in ROLES:
        problems.append(f"role {role!r} is not one of {', '.join(ROLES)}")
    teams = [t.lower() for t in _TEAMS_SPLIT.split((row.get("teams") or "").strip()) if t]
    if not teams:
        problems.append("teams is empty (team keys separated by spaces or ;, e.g. north;south)")
    unknown = [t for t in teams if t not in known.teams]
    if unknown:
        problems.append(f"unknown team {', '.join(map(repr, unknown))} "
                        f"(teams: {', '.join(sorted(known.teams))})")
    email = (row.get("email") or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        # The value is personal data: the line number says where, the value is not echoed.
        problems.append("email is empty or not an address like name@example.org")
    else:
        other = known.seen["email"].get(email) or known.emails.get(email)
        if other and other != handle:
            problems.append(f"email is already {other!r}'s")
    slack = (row.get("slack_user") or "").strip().upper()
    if slack:
        other = known.seen["slack"].get(slack) or known.slack.get(slack)
        if not _SLACK_ID.match(slack):
            problems.append(f"slack_user {slack!r} is not a Slack user id like U0AMIRA01")
        elif other and other != handle:
            problems.append(f"slack_user {slack!r} is already {other!r}'s")
    telegram_text = (row.get("telegram_user") or "").strip()
    telegram = None
    if telegram_text:
        if not telegram_text.isdigit():
            problems.append(f"telegram_user {telegram_text!r} must be a numeric Telegram id")
        else:
            telegram = int(telegram_text)
            other = known.seen["telegram"].get(telegram) or known.telegram.get(telegram)
            if other and other != handle:
                problems.append(f"telegram_user {telegram} is already {other!r}'s")
    if problems:
        raise ValueError("; ".join(problems))
    known.seen["handle"][handle] = handle
    known.seen["email"][email] = handle
    if slack:
        known.seen["slack"][slack] = handle
    if telegram:
        known.seen["telegram"][telegram] = handle
    return {"handle": handle, "name": name, "role": role, "teams": list(dict.fromkeys(teams)),
            "email": email, "slack_user": slack or None, "telegram_user": telegram}


def _known(session: Session) -> _Known:
    people = {p.handle: p for p in session.exec(select(Person))}
    live = [p for p in people.values() if p.active]
    return _Known(
        teams={t.key: t.id for t in session.exec(select(Team).where(Team.active == True))},  # noqa: E712
        people=people,
        slack={p.slack_user: p.handle for p in live if p.slack_user},
        telegram={p.telegram_user: p.handle for p in live if p.telegram_user},
        emails={p.email: p.handle for p in live if p.email},
        seen={"handle": {}, "email": {}, "slack": {}, "telegram": {}})


def import_people(engine: Engine, path: str | Path, *, now: datetime) -> ImportResult:
    """One transaction: every row checked (every bad line listed, nothing written), then each
    person inserted, updated or left alone by handle. A slack_user or telegram_user left empty
    keeps the one already found (by email lookup or an invite)."""
    path = Path(path)
    result = ImportResult()
    with session_scope(engine) as session:
        known = _known(session)
        parsed = list(checked(path, PEOPLE_COLUMNS, lambda row: _parse(row, known)))
        members: dict[int, list[int]] = {}
        for m in session.exec(select(Membership).order_by(col(Membership.position))):
            members.setdefault(m.person_id, []).append(m.team_id)
        changed_handles = []
        for row in parsed:
            result.rows += 1
            person = known.people.get(row["handle"])
            team_ids = [known.teams[k] for k in row["teams"]]
            wanted = {"name": row["name"], "role": row["role"], "email": row["email"],
                      "active": True, "source": "import"}
            for key in ("slack_user", "telegram_user"):
                if row[key] is not None:
                    wanted[key] = row[key]
            if person is None:
                person = Person(handle=row["handle"], **wanted)
                session.add(person)
                session.flush()
                result.inserted += 1
            elif any(getattr(person, k) != v for k, v in wanted.items()) \
                    or members.get(person.id, []) != team_ids:
                for k, v in wanted.items():
                    setattr(person, k, v)
                session.add(person)
                result.updated += 1
            else:
                result.unchanged += 1
                continue
            changed_handles.append(row["handle"])
            if members.get(person.id, []) != team_ids:
                session.exec(Membership.__table__.delete().where(  # type: ignore[attr-defined]
                    Membership.person_id == person.id))
                for position, team_id in enumerate(team_ids):
                    session.add(Membership(person_id=person.id, team_id=team_id,
                                           position=position))
        if changed_handles:
            from storage import audit

            audit.append(session, at=now, actor="cli", transport="cli", action="people:import",
                         subject=path.name, team=None,
                         detail={"inserted": result.inserted, "updated": result.updated,
                                 "handles": changed_handles[:50]})
            cache.move_on(session)  # memberships are cached per process
    return result


@dataclass
class Row:
    handle: str
    name: str
    role: str
    teams: list[str]
    source: str
    slack: bool
    telegram: bool
    email: bool


def listing(session: Session) -> list[Row]:
    """Who is reachable where: active people by handle (`carebot people`)."""
    keys = {t.id: t.key for t in session.exec(select(Team))}
    teams: dict[int, list[str]] = {}
    for m in session.exec(select(Membership).order_by(col(Membership.position))):
        teams.setdefault(m.person_id, []).append(keys[m.team_id])
    people = session.exec(select(Person).where(Person.active == True)  # noqa: E712
                          .order_by(col(Person.handle)))
    return [Row(p.handle, p.name, p.role, teams.get(p.id, []), p.source, bool(p.slack_user),
                bool(p.telegram_user), bool(p.email)) for p in people]


# ---- Telegram invites

def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def new_invite(session: Session, *, person: Person, by: Person, now: datetime) -> tuple[str, datetime]:
    """A fresh single-use code for `person`, valid INVITE_HOURS; only its hash is stored."""
    code = opaque_token(12)  # 96 random bits, in characters a t.me start parameter takes
    expires = now + timedelta(hours=INVITE_HOURS)
    session.add(Invite(code_hash=_digest(code), person_id=person.id, created_by_id=by.id,
                       created_at=now, expires_at=expires))
    session.flush()
    return code, expires


def invite_for(session: Session, code: str) -> Invite | None:
    code = code.strip().lower()
    if not code or len(code) > 64:
        return None
    return session.exec(select(Invite).where(Invite.code_hash == _digest(code))).first()


def person_by_telegram(session: Session, user: int) -> Person | None:
    return session.exec(select(Person).where(Person.active == True,  # noqa: E712
                                             Person.telegram_user == user)).first()


def remember_binding(session: Session, *, team_id: int, transport: str, chat_id: str,
                     now: datetime, by_id: int) -> None:
    """`bind TEAM`: kept so a config sync binds the chat again (storage/config_sync.py)."""
    row = session.exec(select(ChatBinding).where(ChatBinding.team_id == team_id,
                                                 ChatBinding.transport == transport)).first() \
        or ChatBinding(team_id=team_id, transport=transport, chat_id=chat_id, bound_at=now,
                       by_id=by_id)
    row.chat_id, row.bound_at, row.by_id = chat_id, now, by_id
    session.add(row)
