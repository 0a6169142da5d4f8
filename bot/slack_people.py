"""Slack ids from email addresses (users.lookupByEmail, scope users:read.email): run after
`carebot import people` when SLACK_BOT_TOKEN is set, and by `carebot people --lookup`.

Only people with an email and no Slack id are looked up. A 429 waits its Retry-After and is
tried again a bounded number of times; a person still rate-limited is left for the next run.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage import audit
from storage.db import session_scope
from storage.models import Person

RETRIES = 3  # extra tries of one address after a 429
MAX_WAIT = 30.0  # seconds: a longer Retry-After is capped


@dataclass
class Lookup:
    found: list[str] = field(default_factory=list)  # handles
    not_found: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # still rate-limited, or another error

    def line(self) -> str:
        text = (f"Slack lookup by email: {len(self.found)} found, "
                f"{len(self.not_found)} not in Slack")
        if self.not_found:
            text += f" ({', '.join(self.not_found[:20])})"
        if self.failed:
            text += f", {len(self.failed)} not checked ({', '.join(self.failed[:20])}): run " \
                    "`carebot people --lookup` again later"
        return text


async def _one(client: AsyncWebClient, email: str, sleep) -> str | None:
    """The Slack id, None when no user has that address; SlackApiError once retries run out."""
    for attempt in range(RETRIES + 1):
        try:
            response = await client.users_lookupByEmail(email=email)
            return response["user"]["id"]
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error == "users_not_found":
                return None
            if exc.response is None or exc.response.status_code != 429 or attempt == RETRIES:
                raise
            wait = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            await sleep(min(MAX_WAIT, float(wait or 1)))
    raise AssertionError("unreachable")


async def lookup_missing(engine: Engine, client: AsyncWebClient, now: datetime,
                         sleep=asyncio.sleep) -> Lookup:
    with session_scope(engine) as session:
        todo = [(p.handle, p.email) for p in session.exec(
            select(Person).where(Person.active == True, Person.email != None,  # noqa: E711,E712
                                 Person.slack_user == None).order_by(Person.handle))]  # noqa: E711
    result = Lookup()
    ids: dict[str, str] = {}
    for handle, email in todo:
        try:
            user = await _one(client, email, sleep)
        except SlackApiError:
            result.failed.append(handle)
            continue
        if user is None:
            result.not_found.append(handle)
        else:
            ids[handle] = user
    if ids:
        with session_scope(engine) as session:
            taken = {p.slack_user: p.handle for p in session.exec(
                select(Person).where(Person.active == True, Person.slack_user != None))}  # noqa: E711,E712
            for person in session.exec(select(Person).where(Person.handle.in_(list(ids)))):
                user = ids[person.handle]
                if user in taken and taken[user] != person.handle:
                    result.failed.append(person.handle)  # that Slack user is someone else
                    continue
                person.slack_user = user
                session.add(person)
                result.found.append(person.handle)
                audit.append(session, at=now, actor="cli", transport="cli",
                             action="person:slack_found", subject=person.handle,
                             detail={"slack_user": user})
    result.found.sort()
    return result


def client_for(settings) -> AsyncWebClient:
    """A client without slack_sdk's own 429 handler: the waits are ours, and bounded."""
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
