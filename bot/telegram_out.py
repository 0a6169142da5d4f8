"""Telegram out: messages, edits, files and DMs through the Bot API (python-telegram-bot 22),
split to Telegram's limits, each part recorded as it goes (a retry sends only what is missing),
and a 400 retried once as plain text before the post is Refused."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.request import getproxies

import aiohttp
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.ext import Application
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.http import PerLoop
from bot.transport import Refused, Unreachable
from messages import catalog
from messages import telegram as render
from messages.reply import Attachment, Reply
from storage.models import Person, Team

log = logging.getLogger(__name__)
PHOTOS = ("image/png", "image/jpeg", "image/webp")  # what sendPhoto takes; the rest as documents


def markup(message: render.Message) -> dict | None:
    """The keyboard as the Bot API's JSON, passed as api_kwargs: a list's 100 buttons built as
    PTB objects and turned back into dicts cost more than the rest of a tap."""
    if not message.keyboard:
        return None
    return {"reply_markup": {"inline_keyboard": message.keyboard}}


class RawJSON(str):
    """A parameter value already in JSON: JSONRequest puts it in the body as it is."""


class Part(NamedTuple):
    """One message as it will be sent: its text and api_kwargs (the keyboard already JSON)."""
    text: str
    extra: dict | None

    @classmethod
    def of(cls, message: render.Message) -> Part:
        keyboard = markup(message)
        return cls(message.text, keyboard and {
            "reply_markup": RawJSON(json.dumps(keyboard["reply_markup"]))})


class Wire(NamedTuple):
    """A post made ready before its send waits for Telegram's pacing (see slack_out.Wire): its
    messages as HTML, its files, and `remake` for the Reply again should Telegram refuse the
    HTML (the plain-text retry), so the Reply is not held meanwhile."""
    parts: list[Part]
    files: list[Attachment]
    remake: Callable[[], Reply]

    def as_(self, html: bool) -> list[Part]:
        return self.parts if html else [Part.of(m) for m in render.render(self.remake(), html=False)]


def edit_method(chat_id: int, message_id: int, message: render.Message) -> dict:
    """editMessageText (HTML) as a webhook's response body: what `edit` sends as a call."""
    return {"method": "editMessageText", "chat_id": chat_id, "message_id": message_id,
            "text": message.text, "parse_mode": ParseMode.HTML, **(markup(message) or {})}


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

    def prepare(self, make: Callable[[], Reply]) -> Wire:
        """The outbox prepares each post as its turn comes (see Wire)."""
        reply = make()
        return Wire([Part.of(m) for m in render.render(reply)], list(reply.files), make)

    def _wire(self, post: Reply | Wire) -> Wire:
        return post if isinstance(post, Wire) else self.prepare(lambda: post)

    async def send(self, chat_id: int, reply: Reply | Wire, progress=None) -> list[int]:
        """The text, then each file. Only the text messages' ids are returned: they are what
        update_team_post edits, and the files are never sent again.

        A post Telegram refuses (400) is sent once more as plain text; refused again, it is
        Refused, which the outbox does not retry. With `progress` (the outbox's), each part is
        reported the moment it is sent, so a retry after a crash sends only the missing ones."""
        if progress is not None:
            ref = {"chat": chat_id, "messages": [], "files": 0}
            return (await self._resumed("post", ref, reply, progress))["messages"]
        wire = self._wire(reply)  # once: the plain-text retry renders only its own
        return await _twice("post", lambda html: self._send(chat_id, wire, html=html))

    async def _send(self, chat_id: int, wire: Wire, *, html: bool) -> list[int]:
        """All or nothing, for a reply nobody retries (a command's answer): if a later part
        fails, the parts already sent are deleted, so no half list is left in the group."""
        ids: list[int] = []
        sent: list[int] = []
        try:
            for part in wire.as_(html):
                msg = await self.bot.send_message(chat_id, part.text,
                                                  parse_mode=ParseMode.HTML if html else None,
                                                  api_kwargs=part.extra)
                ids.append(msg.message_id)
                sent.append(msg.message_id)
            for file in wire.files:
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

    async def post_to_team(self, team: Team, reply: Reply | Wire, *, key: str,
                           progress=None) -> dict:
        chat = team.telegram_chat
        return {"chat": chat, "messages": await self.send(chat, reply, _parts(progress, chat))}

    async def update_team_post(self, team: Team, reply: Reply | Wire, *, key: str, ref: dict,
                               progress=None) -> dict:
        """Edit the parts sent, send the missing ones. A ref with "files" is a partial receipt
        (a send cut short): the files not sent yet follow; otherwise files are never resent."""
        return await self._resumed("edit", ref, reply, progress)

    async def _resumed(self, what: str, ref: dict, reply: Reply | Wire, progress) -> dict:
        """_resume as HTML, then (refused) as plain text from the parts the first try sent."""
        done = dict(ref)

        async def track(partial: dict) -> None:
            done.update(partial)
            if progress is not None:
                await progress(partial)

        wire = self._wire(reply)
        return await _twice(what, lambda html: self._resume(dict(done), wire, html=html,
                                                            progress=track))

    async def _resume(self, ref: dict, wire: Wire, *, html: bool, progress=None) -> dict:
        chat, ids, files = ref["chat"], list(ref["messages"]), ref.get("files")
        extra = {k: v for k, v in ref.items() if k not in ("chat", "messages", "files")}
        mode = ParseMode.HTML if html else None

        messages = wire.as_(html)
        rest = wire.files[len(wire.files) if files is None else files:]
        left = max(len(messages) - len(ids), 0) + len(rest)  # sends still to make

        async def report() -> None:  # stored before the next part goes: the smallest window
            nonlocal left
            left -= 1
            if progress is not None and left > 0:  # after the last, the caller stores it all
                await progress({**extra, "chat": chat, "messages": list(ids), "files": files})

        for n, part in enumerate(messages):
            if n < len(ids):
                await self._edit(chat, ids[n], part, parse_mode=mode)
            else:
                sent = await self.bot.send_message(chat, part.text, parse_mode=mode,
                                                   api_kwargs=part.extra)
                ids.append(sent.message_id)
                await report()
        for file in rest:
            await self.send_file(chat, file)
            files += 1
            await report()
        return {**extra, "chat": chat, "messages": ids}

    async def edit(self, chat_id: int, message_id: int, message: render.Message,
                   parse_mode: str | None = ParseMode.HTML) -> None:
        await self._edit(chat_id, message_id, Part(message.text, markup(message)), parse_mode)

    async def _edit(self, chat_id: int, message_id: int, part: Part,
                    parse_mode: str | None = ParseMode.HTML) -> None:
        try:
            await self.bot.edit_message_text(part.text, chat_id=chat_id, message_id=message_id,
                                             parse_mode=parse_mode, api_kwargs=part.extra)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def notify(self, person: Person, reply: Reply | Wire, *, key: str,
                     progress=None) -> dict:
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


_DEFAULT = type(BaseRequest.DEFAULT_NONE)  # a timeout the caller left unset


class JSONRequest(HTTPXRequest):
    """The Bot API's parameters as one JSON body, which Telegram takes as well as a form: httpx
    form-encodes in Python byte by byte, and a list's keyboard made that ~1 ms a message, the
    largest CPU item of a morning fan-out. A request with a file stays multipart (httpx).

    The JSON requests go through aiohttp (already ours for Slack), one session per event loop
    as slack_out's PooledWebClient: its C parser costs ~0.2 ms of CPU a call where httpx costs
    ~0.8 ms, and a reason tap makes two calls. Timeouts and errors map as HTTPXRequest's do."""

    def __init__(self, connection_pool_size: int = 256, **kwargs):
        super().__init__(connection_pool_size=connection_pool_size, **kwargs)
        # A proxy in the environment is used, as httpx would; only then trust_env, which
        # also reads ~/.netrc in a worker thread on every request.
        self.pool = PerLoop(lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connection_pool_size),
            trust_env=bool(getproxies())))

    async def shutdown(self) -> None:
        await self.pool.close()
        await super().shutdown()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout=BaseRequest.DEFAULT_NONE, write_timeout=BaseRequest.DEFAULT_NONE,
                         connect_timeout=BaseRequest.DEFAULT_NONE,
                         pool_timeout=BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        timeouts = {"read_timeout": read_timeout, "write_timeout": write_timeout,
                    "connect_timeout": connect_timeout, "pool_timeout": pool_timeout}
        if request_data is None or request_data.contains_files or method != "POST":
            return await super().do_request(url, method, request_data, **timeouts)
        if self._client.is_closed:  # as HTTPXRequest: shut down, not initialized again
            raise RuntimeError("This HTTPXRequest is not initialized!")
        given = self._client.timeout  # what the caller left unset: this client's defaults
        read, connect, pool = (getattr(given, name) if isinstance(value, _DEFAULT) else value
                               for name, value in (("read", read_timeout),
                                                   ("connect", connect_timeout),
                                                   ("pool", pool_timeout)))
        # aiohttp's `connect` is waiting for a pooled connection plus opening a new one; a
        # JSON body is written at once, so there is no write timeout to map.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=read, sock_connect=connect,
            connect=None if connect is None or pool is None else connect + pool)
        try:
            async with self.pool.here().post(
                    url, data=_json_body(request_data.parameters), timeout=timeout,
                    headers={"User-Agent": self.USER_AGENT,
                             "Content-Type": "application/json"}) as res:
                return res.status, await res.read()
        except TimeoutError as err:  # aiohttp's timeouts are TimeoutErrors, as HTTPXRequest maps
            raise TimedOut() from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _json_body(parameters: dict) -> bytes:
    """The parameters as one JSON object; RawJSON values go in as they are."""
    raw = {k: v for k, v in parameters.items() if isinstance(v, RawJSON)}
    body = json.dumps({k: v for k, v in parameters.items() if k not in raw})
    if raw:
        more = ", ".join(f"{json.dumps(k)}: {v}" for k, v in raw.items())
        body = f"{body[:-1]}{', ' if body != '{}' else ''}{more}}}"
    return body.encode()
