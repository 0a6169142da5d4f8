"""The Slack transport: `/care …`, buttons, selects and a modal in; Block Kit posts and DMs out.

Only translation lives here: a Slack payload becomes a Command, the core's Reply is rendered by
messages.slack. Acks carry the caller's reply (process_before_response: the ack path is
verify → parse → write → answer, about 1 ms of Bolt overhead); channel updates and pages go
through the outbox in the background.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (AsyncConnectionErrorRetryHandler,
                                                         AsyncRateLimitErrorRetryHandler,
                                                         AsyncServerErrorRetryHandler)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.routing import Route

from bot.app import App
from bot.transport import Plugin
from handlers.base import Actor, Chat, Command
from handlers.grammar import split_action
from messages import slack as render
from messages.reply import Reply
from storage.models import Person, Team

log = logging.getLogger(__name__)
NOTE_VIEW = "carebot_note"


def web_client(token: str, base_url: str) -> AsyncWebClient:
    """429s wait for Retry-After; 5xx and dropped connections retry a bounded number of times."""
    return AsyncWebClient(token=token, base_url=base_url, retry_handlers=[
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
        AsyncConnectionErrorRetryHandler(max_retry_count=2)])


class SlackTransport:
    name = "slack"

    def __init__(self, client: AsyncWebClient):
        self.client = client

    def reaches_team(self, team: Team) -> bool:
        return bool(team.slack_channel)

    def reaches_person(self, person: Person) -> bool:
        return bool(person.slack_user)

    async def post_to_team(self, team: Team, reply: Reply, *, key: str) -> dict:
        resp = await self.client.chat_postMessage(channel=team.slack_channel, **render.render(reply))
        return {"channel": resp["channel"], "ts": resp["ts"]}

    async def update_team_post(self, team: Team, reply: Reply, *, key: str, ref: dict) -> dict:
        await self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **render.render(reply))
        return ref

    async def notify(self, person: Person, reply: Reply, *, key: str) -> dict:
        channel = (await self.client.conversations_open(users=person.slack_user))["channel"]["id"]
        resp = await self.client.chat_postMessage(channel=channel, **render.render(reply))
        return {"channel": resp["channel"], "ts": resp["ts"]}


def _chat(channel_id: str | None) -> Chat:
    # D… is a direct message with the bot: the person's home team applies.
    return Chat("slack", channel_id, private=bool(channel_id and channel_id.startswith("D")))


def _answer(reply: Reply) -> dict[str, Any]:
    if reply.duplicate:
        return {}
    return {**render.render(reply), "response_type": "ephemeral" if reply.ephemeral
            else "in_channel"}


def _note_modal(tokens: list[str], channel: str | None) -> dict:
    """`missed REF other` needs a note: ask for it in a modal."""
    return {"type": "modal", "callback_id": NOTE_VIEW,
            "private_metadata": f"{channel or ''}|{':'.join(tokens)}",
            "title": {"type": "plain_text", "text": "Missed: other"},
            "submit": {"type": "plain_text", "text": "Log it"},
            "blocks": [{"type": "input", "block_id": "note", "label": {
                "type": "plain_text", "text": f"What happened with {tokens[1]}? (no names)"},
                "element": {"type": "plain_text_input", "action_id": "note", "multiline": True}}]}


def bolt_app(app: App, client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    bolt = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)

    @bolt.command("/care")
    async def care(ack, body):
        reply = await app.handle_line(Actor("slack", body["user_id"]), _chat(body.get("channel_id")),
                                      body.get("text") or "", wait=False,
                                      event_id=f"slack:{body.get('trigger_id')}")
        await ack(**_answer(reply))

    @bolt.action(re.compile(r"^carebot:"))
    async def pressed(ack, body, respond, client):
        action = body["actions"][0]
        value = action.get("value") or action.get("selected_option", {}).get("value", "")
        tokens = split_action(value)
        channel = (body.get("channel") or {}).get("id")
        if tokens[:1] == ["missed"] and tokens[2:] == ["other"]:
            await ack()
            await client.views_open(trigger_id=body["trigger_id"], view=_note_modal(tokens, channel))
            return
        await ack()
        actor, chat = Actor("slack", body["user"]["id"]), _chat(channel)
        reply = await app.handle(Command(actor, chat, tokens[0], tokens[1:], from_button=True,
                                         event_id=f"slack:{body.get('trigger_id')}"), wait=False)
        if reply.duplicate:
            return
        if (body.get("container") or {}).get("is_ephemeral"):  # e.g. the reason picker
            await respond(replace_original=True, **render.render(reply))
            return
        await respond(replace_original=False, **_answer(reply))
        if tokens[0] in ("done", "missed") and reply.ok:
            # The list the button sat on shows the new status at once.
            fresh = await app.handle_line(actor, chat, "due", wait=False)
            await respond(replace_original=True, **render.render(fresh))

    @bolt.view(NOTE_VIEW)
    async def noted(ack, body, view, client):
        await ack()
        channel, _, action = view["private_metadata"].partition("|")
        tokens = split_action(action)
        note = view["state"]["values"]["note"]["note"]["value"] or ""
        user = body["user"]["id"]
        command = Command(Actor("slack", user), _chat(channel or None), tokens[0],
                          [*tokens[1:], *note.split()], from_button=True,
                          event_id=f"slack:view:{view['id']}")
        reply = await app.handle(command, wait=False)
        if channel and not reply.duplicate:
            await client.chat_postEphemeral(channel=channel, user=user, **render.render(reply))

    @bolt.error
    async def failed(error, body):
        log.exception("slack request failed: %s", error)

    return bolt


def build(app: App) -> Plugin:
    settings = app.settings
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    bolt = bolt_app(app, client, settings.slack_signing_secret or "")
    transport = SlackTransport(client)
    if settings.slack_app_token:  # Socket Mode: no public URL needed
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(bolt, settings.slack_app_token)
        return Plugin(transport=transport, start=socket.connect_async, stop=socket.close_async)
    handler = AsyncSlackRequestHandler(bolt)
    return Plugin(transport=transport,
                  routes=[Route("/slack/events", handler.handle, methods=["POST"])])
