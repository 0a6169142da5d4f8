"""The outbox: where a post goes (an Address), what makes it happen once (its key), and queueing.

The keys are the exactly-once contract: one key names one logical post, and rows in flight in
deployed databases carry these exact strings, so a builder's format never changes
(tests/test_outbox_keys.py pins each one). Every key and target is built here and nowhere else
(tests/test_outbox_keys.py checks, by AST).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.db import bulk_insert, lock_for_claim
from storage.models import Outbox

if TYPE_CHECKING:
    from messages.reply import Reply

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


# ---------------------------------------------------------------- keys, one per kind of post
# Dates as ISO days; the formats are frozen (see the module docstring). Every part is a config
# key, a handle, a number, a ref or one of the words below: none holds a ":".

IncidentNews = Literal["open", "closed", "reopen"]
ReminderWhy = Literal["due", "review"]
EscNews = Literal["owned", "resolved"]  # never "unowned", "nobody": their own keys below


def morning_key(team_key: str, day: date) -> str:
    """The day's contacts-due list in a team's channel."""
    return f"morning:{team_key}:{day.isoformat()}"


def morning_of(key: str) -> tuple[str, str] | None:
    """(team key, ISO day) of a morning list's key; None for any other post."""
    kind, _, rest = key.partition(":")
    team_key, _, day = rest.partition(":")
    return (team_key, day) if kind == "morning" else None


def reconcile_key(team_key: str, day: date) -> str:
    return f"reconcile:{team_key}:{day.isoformat()}"


def meds_round_key(team_key: str, round_name: str, day: date) -> str:
    return f"meds:{team_key}:{round_name}:{day.isoformat()}"


def meds_check_key(team_key: str, round_name: str, day: date) -> str:
    return f"meds-check:{team_key}:{round_name}:{day.isoformat()}"


def meds_chase_key(team_key: str, round_name: str, day: date) -> str:
    return f"meds-chase:{team_key}:{round_name}:{day.isoformat()}"


def action_owner_key(action_id: int, version: int) -> str:
    return f"action-owner:{action_id}:v{version}"


def action_remind_key(action_id: int, what: ReminderWhy, day: date) -> str:
    return f"action-remind:{action_id}:{what}:{day.isoformat()}"


def action_closed_key(action_id: int) -> str:
    return f"action-closed:{action_id}"


def learn_key(point_id: int) -> str:
    return f"learn:{point_id}"


def learn_remind_key(point_id: int, handle: str) -> str:
    return f"learn-remind:{point_id}:{handle}"


def incident_key(ref: str, what: IncidentNews, reopened: int) -> str:
    return f"incident:{ref}:{what}:{reopened}"


def incident_review_key(ref: str, reopened: int, handle: str) -> str:
    return f"incident-review:{ref}:{reopened}:{handle}"


def status_key(handle: str, first: date) -> str:
    """The weekly report to one manager, for the week starting `first`."""
    return f"status:{handle}:{first.isoformat()}"


def page_key(esc_id: int, level: int, pages: int, handle: str) -> str:
    """One page: unique per escalation, level, page and person."""
    return f"esc:{esc_id}:L{level}:P{pages}:{handle}"


PAGE_LIKE = "esc:%:L%:P%"  # page_key as a LIKE pattern (the backlog counts pages apart)


def nobody_key(esc_id: int, level: int, pages: int) -> str:
    return f"esc:{esc_id}:nobody:L{level}:P{pages}"


def unowned_key(esc_id: int, handle: str | None = None) -> str:
    """The channel's (no handle) or one manager's notice that the policy is used up."""
    return f"esc:{esc_id}:unowned" + (f":{handle}" if handle else "")


def raised_owned_key(esc_id: int) -> str:
    return f"esc:{esc_id}:raised-owned"


def esc_told_key(esc_id: int, what: EscNews, handle: str) -> str:
    """Someone paged hears the escalation was owned or resolved."""
    return f"esc:{esc_id}:{what}:{handle}"


def failed_key(row_id: int, handle: str) -> str:
    """A manager's DM that the outbox row `row_id` was refused by a platform."""
    return f"failed:{row_id}:{handle}"


def is_failed_notice(key: str) -> bool:
    return key.startswith("failed:")


# ---------------------------------------------------------------- queueing

_QUEUED = "outbox.queued"  # session.info flag, read only through queued()


def queued(session: Session) -> bool:
    """Whether this unit of work queued or refreshed a post (dispatch runs delivery then)."""
    return bool(session.info.get(_QUEUED))


def _queued(session: Session) -> None:
    session.info[_QUEUED] = True


def payload_of(payload: Reply | dict) -> dict:
    """A Reply serialised once, here; a dict is taken as that JSON already."""
    return payload if isinstance(payload, dict) else payload.model_dump(mode="json")


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
    if outbox_exists(session, key):
        return False
    try:
        with session.begin_nested():
            session.add(Outbox(key=key, target=_text(target), payload=payload_of(payload),
                               created_at=now, next_attempt_at=now))
    except IntegrityError:  # another process queued the same key a moment ago
        return False
    _queued(session)
    return True


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
    table = Outbox.__table__
    later = case((table.c.next_attempt_at > now, table.c.next_attempt_at), else_=now)
    done = session.execute(table.update().where(table.c.key == key).values(
        revision=table.c.revision + 1, status="pending", stale=True, next_attempt_at=later))
    if done.rowcount:
        _queued(session)
    return bool(done.rowcount)


def outbox_exists(session: Session, key: str) -> bool:
    return session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None
