"""Slack out: Block Kit posts, edits, DMs and files through the Web API, paced 1 a second per
channel, each outbox post carrying its key in message metadata so a retry after a crash finds
the post instead of sending it again."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Callable, NamedTuple

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                         AsyncRateLimitErrorRetryHandler,
                                                         AsyncServerErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient

from bot.http import PerLoop
from bot.pacing import Windows
from messages import catalog
from messages import slack as render
from messages.reply import Attachment, Reply
from storage.models import Person, Team

log = logging.getLogger(__name__)
POST_EVENT = "carebot_post"  # message metadata type carrying the outbox key
HISTORY_PAGES = 3  # of 200 messages: how far back a retried post is looked for
JSON = {"Content-Type": "application/json;charset=utf-8"}


class Wire(NamedTuple):
    """A post as Slack will get it: the JSON of its text and blocks, and its files. Holding
    this while a send waits, rather than the Reply and its rendered blocks (a list is ~1,500
    objects), keeps a 200-team fan-out's posts out of the collector's oldest generation."""
    body: str  # '{"text": …, "blocks": […]}'
    files: list[Attachment]

    def with_(self, **fields) -> bytes:
        """The request body: these fields (channel, ts, metadata) and the post's."""
        return (json.dumps(fields)[:-1] + ", " + self.body[1:]).encode()


def wire(post: Reply | Wire) -> Wire:
    """The post's wire form (a post the outbox prepared already is one)."""
    if isinstance(post, Wire):
        return post
    return Wire(json.dumps(render.render(post)), post.files)


class PooledWebClient(AsyncWebClient):
    """An AsyncWebClient that keeps its connections: slack_sdk opens a new aiohttp session, so
    a new TCP (and TLS) connection, for every call unless it is given one. One session per
    event loop (bot.http.PerLoop), closed by `close_pool` when the plugin stops."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pool = PerLoop(lambda: aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout)))

    async def _request(self, *, http_verb, api_url, req_args):
        self.session = self.pool.here()  # slack_sdk reads its session from here
        return await super()._request(http_verb=http_verb, api_url=api_url, req_args=req_args)

    async def close_pool(self) -> None:
        self.session = None
        await self.pool.close()


def web_client(token: str, base_url: str) -> PooledWebClient:
    """429s wait for Retry-After; 5xx and dropped connections retry a bounded number of times."""
    return PooledWebClient(token=token, base_url=base_url, retry_handlers=[
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2)])


class SlackTransport:
    name = "slack"

    def __init__(self, client: AsyncWebClient):
        self.client = client
        self.channels = Windows(1, 1.0)  # chat.postMessage: 1 a second per channel

    def reaches_team(self, team: Team) -> bool:
        return bool(team.slack_channel)

    def reaches_person(self, person: Person) -> bool:
        return bool(person.slack_user)

    def prepare(self, make: Callable[[], Reply]) -> Wire:
        """The outbox prepares each post as its turn comes (see Wire)."""
        return wire(make())

    async def post_to_team(self, team: Team, post: Reply | Wire, *, key: str) -> dict:
        return await self.post(team.slack_channel, post, key=key)

    async def update_team_post(self, team: Team, post: Reply | Wire, *, key: str,
                               ref: dict) -> dict:
        # Text only: the files went out with the first post.
        await self._call("chat.update", wire(post).with_(channel=ref["channel"], ts=ref["ts"]))
        return ref

    async def notify(self, person: Person, post: Reply | Wire, *, key: str) -> dict:
        channel = (await self.client.conversations_open(users=person.slack_user))["channel"]["id"]
        return await self.post(channel, post, key=key)

    async def find_post(self, target: Team | Person, *, key: str, team_post: bool,
                        since: datetime) -> dict | None:
        """The message a crashed sweep posted for this outbox key, if any: the key travels in
        the message metadata, and the channel's history since the row was queued is searched
        (a few pages at most). None when it never went out."""
        if team_post:
            channel = target.slack_channel
        else:
            channel = (await self.client.conversations_open(
                users=target.slack_user))["channel"]["id"]
        cursor = None
        for _ in range(HISTORY_PAGES):
            resp = await self.client.conversations_history(
                channel=channel, oldest=f"{since.timestamp() - 60:.6f}", limit=200,
                include_all_metadata=True, **({"cursor": cursor} if cursor else {}))
            for message in resp.get("messages") or []:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == POST_EVENT and \
                        (meta.get("event_payload") or {}).get("key") == key:
                    return {"channel": channel, "ts": message["ts"]}
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not resp.get("has_more") or not cursor:
                return None
        return None

    async def post(self, channel: str, post: Reply | Wire, *, key: str | None = None) -> dict:
        ready = wire(post)
        # The outbox key rides along as message metadata: after a crash, find_post finds it.
        meta = {"metadata": {"event_type": POST_EVENT, "event_payload": {"key": key}}} \
            if key else {}
        # The outbox's posts are paced here rather than by 429s (each 429 waits a whole second).
        async with self.channels(channel) if key else contextlib.nullcontext():
            resp = await self._call("chat.postMessage", ready.with_(channel=channel, **meta))
        try:
            await upload(self.client, resp["channel"], ready.files)
        except Exception:
            # The outbox retries the whole post: take the text back so it is not there twice.
            try:
                await self.client.chat_delete(channel=resp["channel"], ts=resp["ts"])
            except SlackApiError as exc:
                log.warning("slack: could not take back %s: %s", resp["ts"], exc)
            raise
        return {"channel": resp["channel"], "ts": resp["ts"]}

    async def _call(self, method: str, body: bytes):
        """A Web API call with a body already in JSON (chat_postMessage would take dicts and
        encode them while the call waits); errors raise SlackApiError as the client's do."""
        return await self.client.api_call(method, data=body, headers=JSON)


async def upload(client: AsyncWebClient, channel: str, files: list[Attachment]) -> None:
    """Each file after the text. A file gone from disk, or one Slack refuses (no files:write
    scope, too large), gets a line instead: retrying would post the text again, and never work."""
    for file in files:
        name = file.title or file.filename
        try:
            data = await asyncio.to_thread(Path(file.path).read_bytes)
        except OSError as exc:
            log.warning("slack: file %s not sent: %s", file.path, exc)
            await _say(client, channel, catalog.file_missing(name))
            continue
        try:  # apart from the read: a dropped connection is an OSError too
            await client.files_upload_v2(channel=channel, file=data, filename=file.filename,
                                         title=name)
        except SlackApiError as exc:
            if exc.response.status_code >= 500 or exc.response.status_code == 429:
                raise  # Slack is down for now: the outbox tries again later
            log.warning("slack: file %s refused: %s", file.path, exc)
            await _say(client, channel, catalog.file_refused(name))


async def _say(client: AsyncWebClient, channel: str, line: str) -> None:
    await client.chat_postMessage(channel=channel, **render.render(Reply.text(line)))
