"""The neutral types a transport hands to the core, and the context a handler runs in."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session

from messages import catalog
from messages.reply import Reply
from storage import outbox, repo
from storage.models import Person, Team


_SLACK_MENTION = re.compile(r"^<@([A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class Actor:
    transport: str  # console | slack | telegram
    user_id: str  # console: the handle; slack: U…; telegram: the numeric id as text
    display: str | None = None


@dataclass(frozen=True)
class Chat:
    transport: str
    id: str | None  # channel / chat id; console: a team key or None
    private: bool = False  # a DM with the bot: the person's home team applies


@dataclass(frozen=True)
class Command:
    actor: Actor
    chat: Chat
    verb: str
    args: list[str] = field(default_factory=list)
    # True when the command came from a button or select rather than typed text.
    from_button: bool = False
    # The platform's id for the event (e.g. "telegram:update:123"): a redelivery runs nothing.
    event_id: str | None = None


class UserError(Exception):
    """Bad input or a refused action: one clear line for the user, nothing written."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimClock:
    """A clock the console and tests move by hand."""

    def __init__(self, start: datetime):
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


@dataclass
class Context:
    session: Session
    now: datetime  # aware, UTC
    person: Person
    team: Team  # the chat's team, or the person's home team in a DM or the console
    transport: str
    chat_id: str | None = None
    from_button: bool = False
    private: bool = False  # a DM with the bot (chat_id is then the DM's, not a team's)

    @cached_property
    def teams(self) -> list[Team]:
        """The person's teams, home team first."""
        return repo.teams_of(self.session, self.person)

    @cached_property
    def visible_teams(self) -> list[Team]:
        """The teams this person may see and change (the access rule, `team_access`)."""
        return team_access(self.session, self.person)

    @property
    def visible_team_ids(self) -> list[int]:
        return list(repo.visible_team_ids(self.session, self.person))

    def belongs(self, team_id: int) -> bool:
        return team_id in self.visible_team_ids

    def named_team(self, key: str, verb: str = "due") -> Team:
        """A team typed by name (`due south`): one of the person's own, or refused (with an
        example of `verb`, the command typed)."""
        team = repo.team_by_key(self.session, key.lower())
        if team is None:
            raise UserError(catalog.unknown_team(key, [t.key for t in self.visible_teams], verb))
        if not self.belongs(team.id):
            raise UserError(catalog.not_your_team(team.name, [t.key for t in self.visible_teams]))
        return team

    def person_named(self, text: str) -> Person | None:
        """A person as typed: `@ben`, `ben`, or the mention Slack puts in a command's text."""
        mention = _SLACK_MENTION.match(text.strip())
        if mention:
            return repo.person_by_identity(self.session, "slack", mention[1])
        return repo.person_by_handle(self.session, text.strip().lstrip("@").lower())

    def check_team(self, team_id: int) -> None:
        """A record (escalation, action, …) found by id: refused unless its team is theirs."""
        if not self.belongs(team_id):
            team = self.session.get(Team, team_id)
            raise UserError(catalog.not_your_team(team.name, [t.key for t in self.visible_teams]))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.team.zone)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def audit(self, action: str, subject: str | None = None, *, team_id: int | None = None,
              **detail: Any) -> None:
        """Record a state change: who, what, when, and through which transport and chat.
        `team_id`: the record's team, where it has one (a manager may act on another of their
        teams from a DM), so that team's evidence pack holds the row; else the chat's team."""
        detail.update(chat=self.chat_id, button=self.from_button)
        team = self.team if team_id is None else self.session.get(Team, team_id)
        repo.add_audit(self.session, at=self.now, actor=self.person.handle,
                       transport=self.transport, action=action, subject=subject, detail=detail,
                       team=team.key)

    def post_to_team(self, key: str, reply: Reply, team: Team | None = None) -> bool:
        """Queue a channel post (key: a storage.outbox builder's); at most once per key."""
        return outbox.post_to_team(self.session, (team or self.team).key, key, reply, now=self.now)

    def notify(self, person: Person, key: str, reply: Reply) -> bool:
        """Queue a DM (key: a storage.outbox builder's); at most once per key."""
        return outbox.notify(self.session, person.handle, key, reply, now=self.now)

    @property
    def queued(self) -> bool:
        """Whether this command queued or refreshed a post: delivery runs right after it."""
        return outbox.queued(self.session)


def team_access(session: Session, person: Person) -> list[Team]:
    """THE access rule (repo.visible_team_ids, the one place it is written), as Team rows.
    Reads and writes alike; the dispatcher applies it to the chat, handlers to records."""
    return repo.teams_by_id(session, repo.visible_team_ids(session, person))


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where a local day starts and ends (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end
