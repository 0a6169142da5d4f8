"""The Telegram transport (python-telegram-bot 22): typed /commands and inline buttons in;
HTML messages with inline keyboards out (bot/telegram_out.py). Only translation lives here.

The PTB Application runs on the shared asyncio loop: long polling by default, or the webhook
route on the shared web server when TELEGRAM_WEBHOOK_URL is set.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from contextvars import ContextVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes,
                          MessageHandler, filters)

from bot.app import App
from bot.pacing import Budget, TelegramPacing
from bot.telegram_out import JSONRequest, TelegramTransport, edit_method, markup
from bot.transport import Plugin
from handlers.base import Actor, Chat, Command
from handlers.grammar import split_action
from handlers.registry import menu
from messages import telegram as render
from messages.reply import Reply

log = logging.getLogger(__name__)
UPDATES = ["message", "callback_query"]  # all we act on; getUpdates and setWebhook say so
# Webhook mode: a tap's last Bot API call rides in the webhook's HTTP response (the Bot API runs
# the one method a webhook answers with), a round trip fewer per tap: the list's edit when the
# tap refreshes it (the answer is then a call, made while the picker is edited), else the
# answerCallbackQuery. `receive` opens the slot around process_update; a handler that finds it
# open fills it instead of calling the API.
_IN_RESPONSE: ContextVar[dict | None] = ContextVar("telegram_in_response", default=None)


def _who(update: Update) -> tuple[Actor, Chat]:
    chat = update.effective_chat
    return (Actor("telegram", str(update.effective_user.id)),
            Chat("telegram", str(chat.id), private=chat.type == "private"))


def _for_another_bot(text: str, me: str | None) -> bool:
    """`/due@otherbot` in a shared group is not ours (without privacy mode we see it too)."""
    _, at, name = text.split(maxsplit=1)[0].partition("@") if text.strip() else ("", "", "")
    return bool(at and me and name.lower() != me.lower())


def handlers(app: App, transport: TelegramTransport) -> list:
    async def typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is None or update.effective_user is None:
            return  # an edit, a channel post, …: only new messages from a person are commands
        text = update.message.text or ""
        if _for_another_bot(text, context.bot.username):
            return
        if text.split("@")[0].split()[0].lower() == "/start" and len(text.split()) < 2:
            text = "/help"  # what a new user taps first; `/start CODE` is an invite link opened
        actor, chat = _who(update)
        reply = await app.handle_line(actor, chat, text, event_id=event_id(update))
        if not reply.duplicate:
            await transport.send(update.effective_chat.id, reply)

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        answer = "Sorry, that failed and nothing was saved. Try again."
        answering = None
        slot = _IN_RESPONSE.get()  # None: long polling, the answer is an API call
        try:
            tokens = split_action(query.data or "")
            actor, chat = _who(update)
            # The core never raises: from here on the outcome is recorded (or refused). Posts it
            # queued (the morning list's edit) go out in the background, as on Slack.
            reply = await app.handle(Command(actor, chat, tokens[0], tokens[1:], from_button=True,
                                             event_id=event_id(update)), wait=False)
            answer = "" if reply.duplicate else reply.first_line
            edits = not reply.duplicate and _edits(reply)
            if slot is None or edits:  # the spinner stops while the messages are edited
                answering = asyncio.create_task(_answer(query, answer))
            if not reply.duplicate:
                await _show(transport, query, reply, slot if edits else None)
        except Exception:
            log.exception("telegram callback failed")
        finally:  # always: the phone's spinner stops
            if slot is not None and slot.get("open") and answering is None:  # in the response
                slot["answer"] = _answer_method(query.id, answer)
            else:
                await (answering or _answer(query, answer))

    return [MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, typed),
            CallbackQueryHandler(tapped)]


async def _answer(query, text: str) -> None:
    try:
        await query.answer(text[:200] or None)
    except TelegramError as exc:  # e.g. a redelivered, already answered query
        log.warning("answerCallbackQuery failed: %s", exc)


def _answer_method(query_id: str, text: str) -> dict:
    """answerCallbackQuery as a webhook's response body (what `_answer` sends as a call)."""
    return {"method": "answerCallbackQuery", "callback_query_id": query_id,
            **({"text": text[:200]} if text[:200] else {})}


def event_id(update: Update) -> str:
    """The dedupe key: a webhook redelivery of the same update runs nothing twice."""
    return f"telegram:update:{update.update_id}"


def _edits(reply: Reply) -> bool:
    """The answer is shown by edits (the picker, the list), not a new message: see _show."""
    return reply.ok and bool(reply.refreshed) and not _asks(reply)


def _asks(reply: Reply) -> bool:
    """A reply with buttons or a menu of its own, e.g. the reason picker."""
    return any(b.select or b.buttons for b in reply.blocks)


async def _show(transport: TelegramTransport, query, reply: Reply,
                slot: dict | None = None) -> None:
    """Where a button's answer goes: a picker as a new message quoting the list (so the reason
    tap finds the list, even in a private chat); an outcome whose list the core says to refresh
    as an edit of that list (a picker it answered becomes the confirmation); anything else, a
    note the core asks for included, as a reply. With a webhook's response `slot`, the list's
    edit, the last call, goes in the response; the outbox edits the list after it anyway."""
    message = query.message
    if _asks(reply):
        for part in render.render(reply):
            await message.reply_html(part.text, api_kwargs=markup(part), do_quote=True)
        return
    if not _edits(reply):
        await message.reply_html(render.render(reply)[0].text)
        return
    picker = message.reply_to_message  # the list a picker quotes; None: this is the list
    if picker:  # the picker's edit goes first
        await transport.edit(message.chat_id, message.message_id, render.render(reply)[0])
    fresh = render.render(reply.refreshed)  # the list, built with the outcome by the core
    if len(fresh) == 1:  # a list split over several messages is left to the outbox edit
        listed = picker or message
        if slot is not None and slot.get("open"):
            slot["answer"] = edit_method(listed.chat_id, listed.message_id, fresh[0])
        else:
            await transport.edit(listed.chat_id, listed.message_id, fresh[0])


class Carried(JSONResponse):
    """A Bot API method as the webhook's response, paced like the call it stands for: the rate
    limiter's slot is held while the response is sent (an edit counts against the group's 20 a
    minute; an answerCallbackQuery is not paced)."""

    def __init__(self, method: dict, limiter=None):
        super().__init__(method)
        self.method, self.limiter = method, limiter

    async def __call__(self, scope, receive, send) -> None:
        respond = super().__call__
        if self.limiter is None:
            return await respond(scope, receive, send)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.limiter.process_request(respond, (scope, receive, sending), {},
                                               self.method["method"], self.method, None)
        except Exception:  # e.g. no slot in time: not sent, as a failed call is only logged
            if started:  # (a list's edit is the outbox's too)
                raise
            log.warning("telegram: %s not sent in a webhook response", self.method["method"],
                        exc_info=True)
            await Response(status_code=200)(scope, receive, send)


def _update(raw: bytes, bot) -> Update | None:
    """The body as an Update, or None when it is not one (bad JSON, a list, a scalar, an
    object PTB cannot read)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        return None
    try:
        return Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - any shape PTB cannot read is the sender's error
        log.warning("telegram: unreadable update %s", data.get("update_id"))
        return None


def build(app: App, *, rate_limited: bool = True) -> Plugin:
    settings = app.settings
    builder = (ApplicationBuilder().token(settings.telegram_bot_token)
               .base_url(settings.telegram_api_url)
               .base_file_url(settings.telegram_api_url.replace("/bot", "/file/bot"))
               .request(JSONRequest(connection_pool_size=256)))
    if rate_limited:  # paced before sending: 20/min per group, 30/s split between instances
        builder = builder.rate_limiter(TelegramPacing(Budget(app.engine)))
    webhook = settings.telegram_webhook_url
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    transport = TelegramTransport(application)
    application.add_handlers(handlers(app, transport))

    async def start() -> None:
        await application.initialize()
        await application.bot.set_my_commands([BotCommand(verb, summary[:256])
                                               for verb, summary in menu()])
        await application.start()
        if webhook:
            await application.bot.set_webhook(webhook, secret_token=settings.telegram_webhook_secret,
                                              allowed_updates=UPDATES)
        else:
            await application.updater.start_polling(allowed_updates=UPDATES)

    async def stop() -> None:
        if application.updater and application.updater.running:
            await application.updater.stop()
        await application.stop()
        await application.shutdown()

    async def receive(request: Request) -> Response:
        secret = settings.telegram_webhook_secret or ""
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return Response(status_code=403)
        update = _update(await request.body(), application.bot)
        if update is None:  # not an update: 400, and Telegram has nothing to retry
            return Response(status_code=400)
        if update.message is None and update.callback_query is None:
            return Response(status_code=200)  # edited_message, channel_post, …: not acted on
        slot = {"open": True}
        token = _IN_RESPONSE.set(slot)
        try:
            await application.process_update(update)
        finally:  # a handler still running after this (none does) answers through the API
            slot["open"] = False
            _IN_RESPONSE.reset(token)
        if "answer" in slot:
            return Carried(slot["answer"], application.bot.rate_limiter)
        return Response(status_code=200)

    routes = [Route("/telegram/webhook", receive, methods=["POST"])] if webhook else []
    return Plugin(transport=transport, routes=routes, start=start, stop=stop)
