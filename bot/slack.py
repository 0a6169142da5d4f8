"""The Slack transport: `/care …`, buttons, selects and a modal in (bot/slack_out.py: out).

Only translation lives here: a Slack payload becomes a Command, the core's Reply is rendered by
messages.slack. Acks carry the caller's reply (process_before_response: the ack path is
verify → parse → write → answer, about 1 ms of Bolt overhead); channel updates and pages go
through the outbox in the background.
"""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.app import App
from bot.slack_out import (HISTORY_PAGES, POST_EVENT, SlackTransport,  # noqa: F401
                           upload, web_client)
from bot.transport import Plugin
from handlers.base import Actor, Chat, Command
from handlers.grammar import clean, split_action
from messages import slack as render
from messages.reply import NotePrompt, Reply

log = logging.getLogger(__name__)
NOTE_VIEW = "carebot_note"
HOME_BLOCKS = 100  # what a Home tab view holds
def malformed(raw: bytes, content_type: str | None) -> str | None:
    """Why a body cannot be a Slack request we handle, or None. Read with Bolt's own parser, so
    what passes here is what the listeners get; Bolt would answer these with a 500."""
    try:
        body = parse_body(raw.decode("utf-8"), content_type)
    except (UnicodeDecodeError, ValueError) as exc:
        return f"malformed body: {type(exc).__name__}"
    if not isinstance(body, dict):
        return "malformed body: not an object"
    kind = body.get("type")
    if kind in ("block_actions", "view_submission") and not isinstance(_dig(body, "user", "id"),
                                                                       str):
        return f"malformed {kind}: no user id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and isinstance(actions[0], dict)):
            return "malformed block_actions: no actions"
        picked = actions[0].get("selected_option")
        value = actions[0].get("value", picked.get("value", "") if isinstance(picked, dict) else "")
        if not isinstance(value, str):
            return "malformed block_actions: the value is not text"
    if kind in ("view_submission", "view_closed") and not (
            isinstance(_dig(body, "view", "type"), str)
            and isinstance(_dig(body, "view", "callback_id"), str)):
        return f"malformed {kind}: no view"
    if kind == "event_callback" and not isinstance(_dig(body, "event", "type"), str):
        return "malformed event_callback: no event"
    if "command" in body and not isinstance(body.get("user_id"), str):
        return "malformed command: no user_id"
    return None


def _dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]…, or None where a level is missing or not an object."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _chat(channel_id: str | None) -> Chat:
    # D… is a direct message with the bot: the person's home team applies.
    return Chat("slack", channel_id, private=bool(channel_id and channel_id.startswith("D")))


def _event_id(kind: str, *parts: str | None) -> str | None:
    """A stable id for one Slack delivery (a retry carries the same one); None if there is none,
    so two payloads without ids are never mistaken for one."""
    found = next((p for p in parts if p), None)
    return f"slack:{kind}:{found}" if found else None


class Background:
    """Follow-ups that must not hold the ack (Bolt answers Slack only when the listener returns,
    with process_before_response): response_url messages, list refreshes, confirmations."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def run(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)  # keep a reference until done, or the task may be collected
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.error("slack follow-up failed", exc_info=task.exception())


def _answer(reply: Reply) -> dict[str, Any]:
    if reply.duplicate:
        return {}
    return {**render.render(reply), "response_type": "ephemeral" if reply.ephemeral
            else "in_channel"}


def _note_modal(prompt: NotePrompt, channel: str | None) -> dict:
    """The core asked for a note (e.g. `missed REF other`): ask for it in a modal."""
    return {"type": "modal", "callback_id": NOTE_VIEW,
            "private_metadata": f"{channel or ''}|{prompt.action}",
            "title": {"type": "plain_text", "text": prompt.title[:24]},
            "submit": {"type": "plain_text", "text": "Log it"},
            "blocks": [{"type": "input", "block_id": "note", "label": {
                "type": "plain_text", "text": prompt.question[:2000]},
                "element": {"type": "plain_text_input", "action_id": "note", "multiline": True}}]}


def bolt_app(app: App, client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    bolt = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)
    later = Background()

    @bolt.command("/care")
    async def care(ack, body):
        # A retried command repeats its trigger_id: the dispatcher runs it once.
        reply = await app.handle_line(Actor("slack", body["user_id"]), _chat(body.get("channel_id")),
                                      body.get("text") or "", wait=False,
                                      event_id=_event_id("command", body.get("trigger_id")))
        await ack(**_answer(reply))
        if reply.files and not reply.duplicate:
            later.run(_command_files(client, body, reply))

    @bolt.action(re.compile(r"^carebot:"))
    async def pressed(ack, body, respond, client):
        action = body["actions"][0]
        value = action.get("value") or (action.get("selected_option") or {}).get("value", "")
        tokens = split_action(value)
        channel = (body.get("channel") or {}).get("id")
        actor, chat = Actor("slack", body["user"]["id"]), _chat(channel)
        event = _event_id("action", body.get("trigger_id"), action.get("action_ts"))
        reply = await app.handle(Command(actor, chat, tokens[0], tokens[1:], from_button=True,
                                         event_id=event), wait=False)
        if reply.ask_note:  # nothing written: the trigger_id lasts 3 s, so the modal goes first
            await client.views_open(trigger_id=body["trigger_id"],
                                    view=_note_modal(reply.ask_note, channel))
            await ack()
            return
        await ack()  # the row is written; what the caller sees follows via response_url
        if reply.duplicate:
            return
        if (body.get("view") or {}).get("type") == "home":  # pressed on the App Home tab
            if not reply.ok:  # the Home tab has no reply line: say it in the app's DM
                later.run(client.chat_postMessage(channel=actor.user_id, **render.render(reply)))
            later.run(publish_home(app, client, actor.user_id))
            return
        later.run(_after_press(respond, body, reply))

    @bolt.event("app_home_opened")
    async def home(event, client):
        if event.get("tab", "home") == "home":
            later.run(publish_home(app, client, event["user"]))

    @bolt.view(NOTE_VIEW)
    async def noted(ack, body, view, client):
        channel, _, action = str(view.get("private_metadata") or "").partition("|")
        tokens = split_action(action)
        if not action:  # not our modal's shape: nothing to record
            await ack()
            return
        note = str(_dig(view, "state", "values", "note", "note", "value") or "").strip()
        user = body["user"]["id"]
        command = Command(Actor("slack", user), _chat(channel or None), tokens[0],
                          [*tokens[1:], *([clean(note)] if note else [])], from_button=True,
                          event_id=_event_id("view", view.get("id"), body.get("trigger_id")))
        reply = await app.handle(command, wait=False)
        if not reply.ok:  # e.g. an empty note: say so in the modal, which stays open
            await ack(response_action="errors", errors={"note": reply.first_line[:150]})
            return
        await ack()
        if channel and not reply.duplicate:
            later.run(client.chat_postEphemeral(channel=channel, user=user, **render.render(reply)))

    @bolt.error
    async def failed(error, body):
        log.exception("slack request failed: %s", error)

    return bolt


async def publish_home(app: App, client: AsyncWebClient, user: str) -> None:
    """The App Home tab: the person's own day (`mine`: their contacts and the pages they hold),
    with its buttons; for someone carebot does not know, the line saying who can add them."""
    reply = await app.handle_line(Actor("slack", user), Chat("slack", None, private=True), "mine",
                                  wait=False)
    await client.views_publish(user_id=user, view={
        "type": "home", "blocks": render.render(reply)["blocks"][:HOME_BLOCKS]})


async def _command_files(client: AsyncWebClient, body: dict, reply: Reply) -> None:
    """A slash command's files, after the ack. Slack has no ephemeral files, so the files of a
    reply only the caller sees go to the caller's DM with the bot, not to the channel."""
    channel = body.get("channel_id")
    if reply.ephemeral or not channel:
        channel = (await client.conversations_open(users=body["user_id"]))["channel"]["id"]
    await upload(client, channel, reply.files)


async def _after_press(respond, body: dict, reply: Reply) -> None:
    if (body.get("container") or {}).get("is_ephemeral"):  # e.g. the reason picker
        await respond(replace_original=True, **render.render(reply))
        return
    await respond(replace_original=False, **_answer(reply))
    if reply.refreshed and reply.ok:
        # The list the button sat on shows the new status at once (the morning post is also
        # edited through the outbox; both render the same rows): the core built it with the
        # outcome, in the same unit of work.
        await respond(replace_original=True, **render.render(reply.refreshed))


def build(app: App) -> Plugin:
    settings = app.settings
    client = web_client(settings.slack_bot_token, settings.slack_api_url)
    bolt = bolt_app(app, client, settings.slack_signing_secret or "")
    transport = SlackTransport(client)
    if settings.slack_app_token:  # Socket Mode: no public URL needed
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket = AsyncSocketModeHandler(bolt, settings.slack_app_token)

        async def stop() -> None:
            await socket.close_async()
            await client.close_pool()

        return Plugin(transport=transport, start=socket.connect_async, stop=stop)
    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        kind = request.headers.get("content-type")
        problem = malformed(await request.body(), kind.split(";")[0] if kind else None)
        if problem:  # 400: Slack does not retry it, and nothing ran
            return PlainTextResponse(problem, status_code=400)
        return await handler.handle(request)  # the same Request: its body is already read

    return Plugin(transport=transport, stop=client.close_pool,
                  routes=[Route("/slack/events", events, methods=["POST"])])
