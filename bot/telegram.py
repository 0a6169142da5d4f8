"""The Telegram transport (python-telegram-bot 22): typed /commands and inline buttons in;
HTML messages with inline keyboards out. Only translation lives here.

The PTB Application runs on the shared asyncio loop: long polling by default, or the webhook
route on the shared web server when TELEGRAM_WEBHOOK_URL is set.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import (Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes,
                          MessageHandler, filters)

from bot.app import App
from bot.pacing import Budget, TelegramPacing
from bot.transport import Plugin, Refused, Unreachable
from handlers.base import Actor, Chat, Command
from handlers.grammar import split_action
from handlers.registry import menu
from messages import catalog
from messages import telegram as render
from messages.reply import Attachment, Reply
from storage.models import Person, Team

log = logging.getLogger(__name__)
UPDATES = ["message", "callback_query"]  # all we act on; getUpdates and setWebhook say so
PHOTOS = ("image/png", "image/jpeg", "image/webp")  # what sendPhoto takes; the rest as documents


def _markup(message: render.Message) -> InlineKeyboardMarkup | None:
    if not message.keyboard:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["callback_data"])
                                  for b in row] for row in message.keyboard])


class TelegramTransport:
    name = "telegram"
    in_parts = True  # the outbox passes `progress`: each part of a split post is recorded

    def __init__(self, application: Application):
        self.application = application

    @property
    def bot(self):
        return self.application.bot

    def reaches_team(self, team: Team) -> bool:
        return team.telegram_chat is not None

    def reaches_person(self, person: Person) -> bool:
        return person.telegram_user is not None

    async def send(self, chat_id: int, reply: Reply, progress=None) -> list[int]:
        """The text, then each file. Only the text messages' ids are returned: they are what
        update_team_post edits, and the files are never sent again.

        A post Telegram refuses (400) is sent once more as plain text; refused again, it is
        Refused, which the outbox does not retry. With `progress` (the outbox's), each part is
        reported the moment it is sent, so a retry after a crash sends only the missing ones."""
        if progress is not None:
            ref = {"chat": chat_id, "messages": [], "files": 0}
            return (await self._resumed("post", ref, reply, progress))["messages"]
        return await _twice("post", lambda html: self._send(chat_id, reply, html=html))

    async def _send(self, chat_id: int, reply: Reply, *, html: bool) -> list[int]:
        """All or nothing, for a reply nobody retries (a command's answer): if a later part
        fails, the parts already sent are deleted, so no half list is left in the group."""
        ids: list[int] = []
        sent: list[int] = []
        try:
            for message in render.render(reply, html=html):
                msg = await self.bot.send_message(chat_id, message.text,
                                                  parse_mode=ParseMode.HTML if html else None,
                                                  reply_markup=_markup(message))
                ids.append(msg.message_id)
                sent.append(msg.message_id)
            for file in reply.files:
                sent.append(await self.send_file(chat_id, file))
        except Exception:
            for message_id in sent:
                try:
                    await self.bot.delete_message(chat_id, message_id)
                except TelegramError as exc:  # best effort: the retry still goes ahead
                    log.warning("telegram: could not take back message %s: %s", message_id, exc)
            raise
        return ids

    async def send_file(self, chat_id: int, file: Attachment) -> int:
        """Send one file; return the id of the message that carries it (or says it is gone)."""
        name = file.title or file.filename
        try:
            data = await asyncio.to_thread(Path(file.path).read_bytes)
        except OSError as exc:
            # A file gone from disk must not keep its outbox row failing for ever.
            log.warning("telegram: file %s not sent: %s", file.path, exc)
            return (await self.send(chat_id, Reply.text(catalog.file_missing(name))))[0]
        try:
            if file.mime in PHOTOS:
                msg = await self.bot.send_photo(chat_id, photo=data, filename=file.filename,
                                                caption=render.caption(name))
            else:
                msg = await self.bot.send_document(chat_id, document=data, filename=file.filename,
                                                   caption=render.caption(name))
            return msg.message_id
        except BadRequest as exc:  # e.g. too large: retrying would send the text again, in vain
            log.warning("telegram: file %s refused: %s", file.path, exc)
            return (await self.send(chat_id, Reply.text(catalog.file_refused(name))))[0]

    async def post_to_team(self, team: Team, reply: Reply, *, key: str, progress=None) -> dict:
        chat = team.telegram_chat
        return {"chat": chat, "messages": await self.send(chat, reply, _parts(progress, chat))}

    async def update_team_post(self, team: Team, reply: Reply, *, key: str, ref: dict,
                               progress=None) -> dict:
        """Edit the parts sent, send the missing ones. A ref with "files" is a partial receipt
        (a send cut short): the files not sent yet follow; otherwise files are never resent."""
        return await self._resumed("edit", ref, reply, progress)

    async def _resumed(self, what: str, ref: dict, reply: Reply, progress) -> dict:
        """_resume as HTML, then (refused) as plain text from the parts the first try sent."""
        done = dict(ref)

        async def track(partial: dict) -> None:
            done.update(partial)
            if progress is not None:
                await progress(partial)

        return await _twice(what, lambda html: self._resume(dict(done), reply, html=html,
                                                            progress=track))

    async def _resume(self, ref: dict, reply: Reply, *, html: bool, progress=None) -> dict:
        chat, ids, files = ref["chat"], list(ref["messages"]), ref.get("files")
        extra = {k: v for k, v in ref.items() if k not in ("chat", "messages", "files")}
        mode = ParseMode.HTML if html else None

        messages = render.render(reply, html=html)
        rest = reply.files[len(reply.files) if files is None else files:]
        left = max(len(messages) - len(ids), 0) + len(rest)  # sends still to make

        async def report() -> None:  # stored before the next part goes: the smallest window
            nonlocal left
            left -= 1
            if progress is not None and left > 0:  # after the last, the caller stores it all
                await progress({**extra, "chat": chat, "messages": list(ids), "files": files})

        for n, message in enumerate(messages):
            if n < len(ids):
                await self.edit(chat, ids[n], message, parse_mode=mode)
            else:
                sent = await self.bot.send_message(chat, message.text, parse_mode=mode,
                                                   reply_markup=_markup(message))
                ids.append(sent.message_id)
                await report()
        for file in rest:
            await self.send_file(chat, file)
            files += 1
            await report()
        return {**extra, "chat": chat, "messages": ids}

    async def edit(self, chat_id: int, message_id: int, message: render.Message,
                   parse_mode: str | None = ParseMode.HTML) -> None:
        try:
            await self.bot.edit_message_text(message.text, chat_id=chat_id, message_id=message_id,
                                             parse_mode=parse_mode, reply_markup=_markup(message))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def notify(self, person: Person, reply: Reply, *, key: str, progress=None) -> dict:
        try:
            chat = person.telegram_user
            return {"chat": chat, "messages": await self.send(chat, reply, _parts(progress, chat))}
        except Forbidden as exc:  # they never opened a chat with the bot: the outbox says it
            raise Unreachable(str(exc)) from exc  # in their team's group instead


def _parts(progress, chat: int, **extra):
    """The outbox's progress callback, told each partial ref as the parts go (None: none)."""
    if progress is None:
        return None
    return lambda ref: progress({**ref, **extra, "chat": chat})


async def _twice(what: str, attempt):
    """attempt(html=True); on a 400 once more as plain text; a second 400 is Refused."""
    try:
        return await attempt(True)
    except BadRequest as exc:
        log.warning("telegram refused a %s (%s): trying it as plain text", what, exc)
    try:
        return await attempt(False)
    except BadRequest as exc:
        raise Refused(f"{what} refused twice (HTML, then plain text): {exc.message}") from exc


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
        if text.split("@")[0].split()[0].lower() == "/start":
            text = "/help"  # what a new user taps first
        actor, chat = _who(update)
        reply = await app.handle_line(actor, chat, text, event_id=event_id(update))
        if not reply.duplicate:
            await transport.send(update.effective_chat.id, reply)

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        answer = "Sorry, that failed and nothing was saved. Try again."
        answering = None
        try:
            tokens = split_action(query.data or "")
            actor, chat = _who(update)
            # The core never raises: from here on the outcome is recorded (or refused). Posts it
            # queued (the morning list's edit) go out in the background, as on Slack.
            reply = await app.handle(Command(actor, chat, tokens[0], tokens[1:], from_button=True,
                                             event_id=event_id(update)), wait=False)
            answer = "" if reply.duplicate else reply.first_line
            # The spinner stops while the messages are edited, not after.
            answering = asyncio.create_task(_answer(query, answer))
            if not reply.duplicate:
                await _show(app, transport, query, actor, chat, reply)
        except Exception:
            log.exception("telegram callback failed")
        finally:
            await (answering or _answer(query, answer))  # always: the phone's spinner stops

    return [MessageHandler(filters.UpdateType.MESSAGE & filters.COMMAND, typed),
            CallbackQueryHandler(tapped)]


async def _answer(query, text: str) -> None:
    try:
        await query.answer(text[:200] or None)
    except TelegramError as exc:  # e.g. a redelivered, already answered query
        log.warning("answerCallbackQuery failed: %s", exc)


def event_id(update: Update) -> str:
    """The dedupe key: a webhook redelivery of the same update runs nothing twice."""
    return f"telegram:update:{update.update_id}"


async def _show(app: App, transport: TelegramTransport, query, actor: Actor, chat: Chat,
                reply: Reply) -> None:
    """Where a button's answer goes: a picker as a new message quoting the list (so the reason
    tap finds the list, even in a private chat); an outcome whose list the core says to refresh
    as an edit of that list (a picker it answered becomes the confirmation); anything else, a
    note the core asks for included, as a reply."""
    message = query.message
    if any(b.select or b.buttons for b in reply.blocks):  # e.g. the reason picker
        for part in render.render(reply):
            await message.reply_html(part.text, reply_markup=_markup(part), do_quote=True)
        return
    if not (reply.ok and reply.refresh):
        await message.reply_html(render.render(reply)[0].text)
        return
    picker = message.reply_to_message  # the list a picker quotes; None: this is the list
    # The list is read and rendered while the picker is edited (the picker's edit goes first).
    due = asyncio.create_task(app.handle_line(actor, chat, reply.refresh))
    try:
        if picker:
            await transport.edit(message.chat_id, message.message_id, render.render(reply)[0])
    finally:
        fresh = render.render(await due)
    if len(fresh) == 1:  # a list split over several messages is left to the outbox edit
        listed = picker or message
        await transport.edit(listed.chat_id, listed.message_id, fresh[0])


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
               .base_file_url(settings.telegram_api_url.replace("/bot", "/file/bot")))
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
        await application.process_update(update)
        return Response(status_code=200)

    routes = [Route("/telegram/webhook", receive, methods=["POST"])] if webhook else []
    return Plugin(transport=transport, routes=routes, start=start, stop=stop)
