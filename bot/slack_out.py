"""Slack out: Block Kit posts, edits, DMs and files through the Web API, paced 1 a second per
channel, each outbox post carrying its key in message metadata so a retry after a crash finds
the post instead of sending it again."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from pathlib import Path

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                         AsyncRateLimitErrorRetryHandler,
                                                         AsyncServerErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient

from bot.pacing import Windows
from messages import catalog
from messages import slack as render
from messages.reply import Attachment, Reply
from storage.models import Person, Team

log = logging.getLogger(__name__)
POST_EVENT = "carebot_post"  # message metadata type carrying the outbox key
HISTORY_PAGES = 3  # of 200 messages: how far back a retried post is looked for


class PooledWebClient(AsyncWebClient):
    """An AsyncWebClient that keeps its connections: slack_sdk opens a new aiohttp session, so
    a new TCP (and TLS) connection, for every call unless it is given one. One session per
    event loop (tests run several loops), closed by `close_pool` when the plugin stops."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def _request(self, *, http_verb, api_url, req_args):
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self.session is None or self.session.closed:
            self._loop = loop
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return await super()._request(http_verb=http_verb, api_url=api_url, req_args=req_args)

    async def close_pool(self) -> None:
        session, self.session, self._loop = self.session, None, None
        if session is not None and not session.closed:
            await session.close()


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

    async def post_to_team(self, team: Team, reply: Reply, *, key: str) -> dict:
        return await self.post(team.slack_channel, reply, key=key)

    async def update_team_post(self, team: Team, reply: Reply, *, key: str, ref: dict) -> dict:
        # Text only: the files went out with the first post.
        await self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **render.render(reply))
        return ref

    async def notify(self, person: Person, reply: Reply, *, key: str) -> dict:
        channel = (await self.client.conversations_open(users=person.slack_user))["channel"]["id"]
        return await self.post(channel, reply, key=key)

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

    async def post(self, channel: str, reply: Reply, *, key: str | None = None) -> dict:
        # The outbox key rides along as message metadata: after a crash, find_post finds it.
        meta = {"metadata": {"event_type": POST_EVENT, "event_payload": {"key": key}}} \
            if key else {}
        # The outbox's posts are paced here rather than by 429s (each 429 waits a whole second).
        async with self.channels(channel) if key else contextlib.nullcontext():
            resp = await self.client.chat_postMessage(channel=channel, **meta,
                                                      **render.render(reply))
        try:
            await upload(self.client, resp["channel"], reply.files)
        except Exception:
            # The outbox retries the whole post: take the text back so it is not there twice.
            try:
                await self.client.chat_delete(channel=resp["channel"], ts=resp["ts"])
            except SlackApiError as exc:
                log.warning("slack: could not take back %s: %s", resp["ts"], exc)
            raise
        return {"channel": resp["channel"], "ts": resp["ts"]}


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
