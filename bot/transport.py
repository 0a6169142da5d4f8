"""The ports the core posts through. Each chat platform implements them; so does the console."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from messages.reply import Reply
from storage.models import Person, Team


class TransportError(Exception):
    """A post failed after the transport's own retries; the outbox will try again later."""


class Refused(TransportError):
    """The platform refused this post as it is (e.g. Telegram's 400): trying again cannot help,
    so the outbox marks it failed and tells the team's managers."""


class Unreachable(TransportError):
    """The person cannot get DMs on this platform (e.g. never opened a chat with the bot): the
    outbox tells them in their home team's channel instead."""


class Transport(Protocol):
    """A transport that sends a post in several messages may set `in_parts = True`: the outbox
    then also passes `progress=`, an async callback it awaits with the partial ref after each
    part, and hands a partial ref back to update_team_post to finish the post.

    A transport may also have `prepare(make)`, `make` making the Reply (again if called
    again), returning the post in its wire form: the outbox then passes that to the methods
    below in place of the Reply, so only the wire form is held while a send waits."""

    name: str

    def reaches_team(self, team: Team) -> bool:
        """Whether this transport has a channel for the team."""

    def reaches_person(self, person: Person) -> bool:
        """Whether this transport can DM the person."""

    async def post_to_team(self, team: Team, reply: Reply, *, key: str) -> Any:
        """Post to the team's channel; return the platform's id for the message."""

    async def update_team_post(self, team: Team, reply: Reply, *, key: str, ref: Any) -> Any:
        """Edit a channel post in place (ref is what post_to_team returned); return the new ref."""

    async def notify(self, person: Person, reply: Reply, *, key: str) -> Any:
        """DM a person; return the platform's id for the message."""


@dataclass
class Plugin:
    """What a chat platform module adds to `carebot run`: its transport, web routes, lifecycle."""

    transport: Transport
    routes: list = field(default_factory=list)  # starlette Routes on the shared web server
    start: Callable[[], Awaitable[None]] | None = None  # e.g. begin long polling
    stop: Callable[[], Awaitable[None]] | None = None
