"""The outbox: where a post goes (an Address), what makes it happen once (its key), and queueing.

The keys are the exactly-once contract: one key names one logical post, and rows in flight in
deployed databases carry these exact strings, so a Kind's format never changes
(tests/test_outbox_keys.py pins each one). Every key and target is built here and nowhere else
(tests/test_outbox_keys.py checks, by AST).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import bindparam, case
from sqlmodel import Session, select

from storage.db import bulk_insert, lock_for_claim
from storage.models import Outbox
from storage.privacy import mask_posted, mask_tree

Reply = BaseModel  # a post's content is messages.reply.Reply; storage does not import messages

# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Address:
    """A team's channel or a person's DMs, stored as the text "team:KEY" / "person:HANDLE"."""

    kind: Literal["team", "person"]
    name: str

    @classmethod
    def team(cls, key: str) -> Address:
        return cls("team", key)

    @classmethod
    def person(cls, handle: str) -> Address:
        return cls("person", handle)

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, _, name = text.partition(":")
        if kind not in ("team", "person") or not name:
            raise ValueError(f"not an outbox address: {text!r}")
        return cls(kind, name)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


PERSON_LIKE = "person:%"  # any person's address, as a LIKE pattern



# ---------------------------------------------------------------- keys, one kind of post each


class Kind:
    """One kind of post and its key format: "{field}"s filled by key(), "{what}" only with one
    of the `what` words. No part may hold a ":", so two posts of different kinds, or of one
    kind with different parts, never share a key (the literal parts tell the kinds apart)."""

    def __init__(self, fmt: str, what: tuple[str, ...] = ()):
        self.fmt, self.what = fmt, what
        pieces = re.split(r"\{(\w+)\}", fmt)  # literal, field, literal, field, …, literal
        self.fields = tuple(pieces[1::2])
        self._pattern = re.compile("".join(
            re.escape(piece) if i % 2 == 0 else
            "(" + "|".join(map(re.escape, what)) + ")" if piece == "what" else "([^:]+)"
            for i, piece in enumerate(pieces)))

    def key(self, **parts: object) -> str:
        if set(parts) != set(self.fields):
            raise TypeError(f"{self.fmt} wants {self.fields}, got {tuple(parts)}")
        if "what" in parts and parts["what"] not in self.what:
            raise ValueError(f"{self.fmt}: what must be one of {self.what}, got {parts['what']!r}")
        text = {name: str(value) for name, value in parts.items()}  # a date: its ISO day
        if any(":" in value or not value for value in text.values()):
            raise ValueError(f"{self.fmt}: a part is empty or holds ':' in {text}")
        return self.fmt.format(**text)

    def parse(self, key: str) -> dict[str, str] | None:
        """The parts of a key of this kind; None for a key of another kind."""
        found = self._pattern.fullmatch(key)
        return dict(zip(self.fields, found.groups())) if found else None

    def like(self) -> str:
        """This kind's keys as a SQL LIKE pattern."""
        return re.sub(r"\{\w+\}", "%", self.fmt)

    def __repr__(self) -> str:
        return f"Kind({self.fmt!r})"


# Channel posts.
MORNING = Kind("morning:{team}:{day}")  # the day's contacts-due list (kept up to date)
RECONCILE = Kind("reconcile:{team}:{day}")  # the day's log (a later run edits it)
MEDS_ROUND = Kind("meds:{team}:{round}:{day}")  # a round's protected duties
MEDS_CHECK = Kind("meds-check:{team}:{round}:{day}")  # were the round's times met?
ACTION_CLOSED = Kind("action-closed:{action}")
LEARN = Kind("learn:{point}")
INCIDENT = Kind("incident:{ref}:{what}:{reopened}", what=("open", "closed", "reopen"))
NOBODY = Kind("esc:{esc}:nobody:L{level}:P{page}")  # nobody holds a chain level
UNOWNED = Kind("esc:{esc}:unowned")  # the policy is used up, nobody owns it
RAISED_OWNED = Kind("esc:{esc}:raised-owned")  # whoever raised it, on call, owns it

# Direct messages.
MEDS_CHASE = Kind("meds-chase:{team}:{round}:{day}")  # to the round's lead: check missing
ACTION_OWNER = Kind("action-owner:{action}:v{version}")  # a new or changed action, per version
ACTION_REMIND = Kind("action-remind:{action}:{what}:{day}", what=("due", "review"))
LEARN_REMIND = Kind("learn-remind:{point}:{handle}")
INCIDENT_REVIEW = Kind("incident-review:{ref}:{reopened}:{handle}")  # same-day review missing
STATUS = Kind("status:{handle}:{week}")  # the weekly report, per manager and week's first day
PAGE = Kind("esc:{esc}:L{level}:P{page}:{handle}")  # per escalation, level, page and person
UNOWNED_DM = Kind("esc:{esc}:unowned:{handle}")  # to each of the team's managers
TOLD = Kind("esc:{esc}:{what}:{handle}", what=("owned", "resolved"))  # to those paged before
ROUTES_REMIND = Kind("routes-remind:{team}:{day}:{handle}")  # routes not confirmed in time
COVER = Kind("cover:{contact}:{handle}:{at}")  # to whoever now covers a contact (at: epoch s)
FAILED = Kind("failed:{row}:{handle}")  # to a manager: a platform refused outbox row `row`
MONTHLY = Kind("monthly:{handle}:{month}")  # the monthly governance report, per person and month
MILESTONE_REMIND = Kind("milestone-remind:{milestone}:{day}")  # to the action's owner
ACTION_REOPENED = Kind("action-reopened:{action}:{reopened}:{handle}")  # owner and managers
CQC_REMIND = Kind("cqc-remind:{request}:{days}:{handle}")  # 14, 7, 3 and 1 days before
SAMPLE = Kind("sample:{team}:{week}:{handle}")  # to each supervisor: the week's records to audit
# Records still to audit: supervisors at the team's sample_remind, managers at sample_overdue.
SAMPLE_REMIND = Kind("sample-remind:{team}:{week}:{what}:{handle}", what=("due", "overdue"))
REFERRAL_SAMPLE = Kind("referral-sample:{team}:{day}")  # channel: the day's validation sample
REFERRAL_PENDING = Kind("referral-pending:{referral}:{handle}")  # to an authoriser, once each
REFERRAL_CHASE = Kind("referral-chase:{team}:{day}:{handle}")  # sample not validated in time
# Staff improvement plans: DMs only, never a channel (n: the entry, objective or step).
PIP_DM = Kind("pip:{pip}:{what}:{n}:{handle}",
              what=("opened", "objective", "checklist", "observed", "debrief", "signoff",
                    "reviewed", "extended", "closed", "acked", "comment"))
PIP_CHECKLIST = Kind("pip-checklist:{pip}:{day}")  # to the person at their shift's end
PIP_REVIEW = Kind("pip-review:{pip}:{day}:{handle}")  # to the reviewer: a review is due
REFERRAL_WRONG = Kind("referral-wrong:{referral}:{handle}")  # basis wrong: accepter, managers


# ---------------------------------------------------------------- queueing

# Kept on the unit of work, the one thing every queueing caller shares (handlers, paging and
# jobs take the session, not the Context); written and read only here, through queued().
_QUEUED = "outbox.queued"


def queued(session: Session) -> bool:
    """Whether this unit of work queued or refreshed a post (dispatch runs delivery then)."""
    return bool(session.info.get(_QUEUED))


def _queued(session: Session) -> None:
    session.info[_QUEUED] = True


def payload_of(payload: Reply | dict) -> dict:
    """A Reply serialised once, here (it masked itself as it was built); a dict is taken as that
    JSON already, and masked here, so delivery never has to mask a queued post again."""
    if isinstance(payload, dict):
        return mask_tree(payload, mask_posted)
    return payload.model_dump(mode="json")


def _text(target: Address | str) -> str:
    """The stored form; text (as older callers and tests pass) is checked, so delivery never
    leases a row it cannot address."""
    return str(target if isinstance(target, Address) else Address.parse(target))


def post_to_team(session: Session, team_key: str, key: str, reply: Reply, *, now: datetime) -> bool:
    return enqueue(session, key=key, target=Address.team(team_key), payload=reply, now=now)


def notify(session: Session, handle: str, key: str, reply: Reply, *, now: datetime) -> bool:
    return enqueue(session, key=key, target=Address.person(handle), payload=reply, now=now)


def enqueue(session: Session, *, key: str, target: Address | str, payload: Reply | dict,
            now: datetime) -> bool:
    """Queue a post once per key; False when the key was already queued (or sent)."""
    # One INSERT … ON CONFLICT DO NOTHING: no existence check, no SAVEPOINT (three statements
    # on the command path), and a key queued a moment ago by another process is no error.
    row = {**outbox_row(key=key, target=target, payload=payload, now=now), "stale": False}
    if session.execute(_insert_once(session.connection().dialect.name), row).first() is None:
        return False  # (RETURNING says it: psycopg's rowcount here is -1 either way)
    _queued(session)
    return True


@cache
def _insert_once(dialect: str):
    """The outbox INSERT that does nothing for a key already there, built once per dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # SQLite (>= 3.35 for RETURNING, as storage/audit.py)
        from sqlalchemy.dialects.sqlite import insert
    table = Outbox.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)


def outbox_row(*, key: str, target: Address | str, payload: Reply | dict, now: datetime) -> dict:
    """An outbox row as plain values, for enqueue_many."""
    return {"key": key, "target": _text(target), "payload": payload_of(payload),
            "status": "pending", "revision": 0, "attempts": 0, "created_at": now,
            "next_attempt_at": now, "receipts": {}}


def enqueue_many(session: Session, rows: list[dict]) -> None:
    """Queue many posts in one statement. Only for keys that cannot exist yet: a duplicate fails
    the whole transaction (use enqueue where a key may repeat)."""
    if rows:
        bulk_insert(session, Outbox.__table__, rows)
        _queued(session)


def refresh_post(session: Session, *, key: str, payload: Reply | dict, now: datetime) -> bool:
    """Give a queued or sent post new content, to be edited in place. False if no such post."""
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.key == key).with_for_update()).first()
    if row is None:
        return False
    row.payload, row.revision, row.status = payload_of(payload), row.revision + 1, "pending"
    row.stale = False
    # A row leased by a sweeper right now keeps its lease: the sweeper re-queues it when done.
    row.next_attempt_at = max(row.next_attempt_at, now)
    session.add(row)
    _queued(session)
    return True


def mark_stale(session: Session, *, key: str, now: datetime) -> bool:
    """Like refresh_post, but the delivery sweep renders the new content (one UPDATE here).
    False if no such post."""
    done = session.execute(_mark_stale_statement(), {"b_key": key, "b_now": now})
    if done.rowcount:
        _queued(session)
    return bool(done.rowcount)


@cache
def _mark_stale_statement():
    """Built once per process (on the command path, building the statement cost more than
    running it)."""
    table = Outbox.__table__
    now = bindparam("b_now", type_=table.c.next_attempt_at.type)
    later = case((table.c.next_attempt_at > now, table.c.next_attempt_at), else_=now)
    return table.update().where(table.c.key == bindparam("b_key")).values(
        revision=table.c.revision + 1, status="pending", stale=True, next_attempt_at=later)


def outbox_exists(session: Session, key: str) -> bool:
    return session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None
