"""A fake Telegram Bot API on 127.0.0.1: records every call, serves queued updates to
getUpdates, and can answer 429 (retry_after) or 403 (bot blocked) on purpose.

Like the real one it refuses (400) a text over 4,096 UTF-16 units after the HTML is parsed, a
caption over 1,024, an empty text, and HTML it cannot parse: a bare or cut `&`, `<` or `>`,
an unknown tag or entity, tags not closed in order.

With `limits=True` it also enforces the documented flood limits on messages (sends and edits):
`group` (20) a minute per group and `overall` (30) a second for the bot, each counted over a
sliding window of arrivals; past them it answers 429 with `parameters.retry_after`. `throttled`
counts those 429s (each is also in `calls` as "<method>!429")."""
from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import deque
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "tg-spoiler", "span", "blockquote", "tg-emoji"}
ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z-]*)[^<>]*>|&(#[0-9]+|#x[0-9a-fA-F]+|[a-zA-Z]+);|[<>&]")
LIMITED = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}  # what the limits count
BOT = {"id": 4242, "is_bot": True, "first_name": "carebot", "username": "carebot_bot"}


class FakeTelegram:
    def __init__(self, *, limits: bool = False, overall: tuple[int, float] = (30, 1.0),
                 group: tuple[int, float] = (20, 60.0)):
        self.limits, self.overall, self.group = limits, overall, group
        self.arrivals: dict[object, deque[float]] = {}  # "all" or a group's chat id -> times
        self.throttled = 0
        self.calls: list[tuple[str, dict]] = []
        self.failures: dict[str, list[dict]] = {}
        self.updates: list[dict] = []
        self.forbidden: set[int] = set()  # chats that never opened a chat with the bot
        self.lock = threading.Lock()
        self.message_id = 100
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.api, methods=["POST", "GET"])])

    def fail(self, method: str, *, retry_after: int = 1, times: int = 1, status: int = 429,
             after: int = 0) -> None:
        """429 with retry_after; or 400, a refusal (e.g. a file too big); or a 5xx. `after`: let this
        many calls succeed first (e.g. the second part of a split post fails)."""
        self.failures.setdefault(method, []).extend(
            [{"retry_after": retry_after, "status": status, "after": after}]
            + [{"retry_after": retry_after, "status": status, "after": 0}] * (times - 1))

    def answered(self, body: dict) -> None:
        """A webhook's response naming a method (e.g. answerCallbackQuery), run as Telegram
        runs it: recorded as a call; its result goes nowhere."""
        call = dict(body)
        with self.lock:
            self.calls.append((call.pop("method"), call))

    def named(self, method: str) -> list[dict]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def queue(self, update: dict) -> None:
        with self.lock:
            self.updates.append(update)

    async def _params(self, request: Request) -> dict:
        kind = request.headers.get("content-type", "")
        if "json" in kind:
            return json.loads((await request.body()) or b"{}")
        if kind.startswith("multipart/form-data"):  # sendPhoto, sendDocument: a file is attached
            return _multipart(kind, await request.body())
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        return {key: _decoded(value) for key, value in form.items()}

    def _message(self, params: dict) -> dict:
        self.message_id += 1
        chat = int(params.get("chat_id", 0))
        return {"message_id": params.get("message_id", self.message_id), "date": int(time.time()),
                "chat": {"id": chat, "type": "group" if chat < 0 else "private"},
                "from": BOT, "text": params.get("text", "")}

    async def api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params = await self._params(request)
        if method == "getUpdates":
            with self.lock:
                self.calls.append((method, params))
            for _ in range(20):  # a short long-poll
                with self.lock:
                    if self.updates:
                        batch, self.updates = self.updates, []
                        return JSONResponse({"ok": True, "result": batch})
                await asyncio.sleep(0.05)
            return JSONResponse({"ok": True, "result": []})
        with self.lock:
            queued = self.failures.get(method)
            if queued and queued[0]["after"]:
                queued[0]["after"] -= 1
            elif queued:
                failure = queued.pop(0)
                self.calls.append((f"{method}!{failure['status']}", params))
                if failure["status"] == 400:
                    return JSONResponse({"ok": False, "error_code": 400,
                                         "description": "Bad Request: file is too big"},
                                        status_code=400)
                if failure["status"] != 429:  # e.g. 502: Telegram is down for now
                    return JSONResponse({"ok": False, "error_code": failure["status"],
                                         "description": "Bad Gateway"},
                                        status_code=failure["status"])
                return JSONResponse({"ok": False, "error_code": 429,
                                     "description": f"Too Many Requests: retry after {failure['retry_after']}",
                                     "parameters": {"retry_after": failure["retry_after"]}},
                                    status_code=429)
            wait = self._over_limit(params) if method in LIMITED else 0
            if wait:
                self.throttled += 1
                self.calls.append((f"{method}!429", params))
                return JSONResponse({"ok": False, "error_code": 429,
                                     "description": f"Too Many Requests: retry after {wait}",
                                     "parameters": {"retry_after": wait}}, status_code=429)
            refusal = _refusal(method, params)
            if refusal:
                self.calls.append((f"{method}!400", params))
                return JSONResponse({"ok": False, "error_code": 400,
                                     "description": f"Bad Request: {refusal}"}, status_code=400)
            if method == "sendMessage" and int(params.get("chat_id", 0)) in self.forbidden:
                self.calls.append((f"{method}!403", params))
                return JSONResponse({"ok": False, "error_code": 403,
                                     "description": "Forbidden: bot can't initiate conversation with a user"},
                                    status_code=403)
            self.calls.append((method, params))
            if method in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument"):
                return JSONResponse({"ok": True, "result": self._message(params)})
        if method == "getMe":
            return JSONResponse({"ok": True, "result": BOT})
        return JSONResponse({"ok": True, "result": True})

    def _over_limit(self, params: dict) -> int:
        """0 when this message may go now (and it is counted), else the seconds to wait."""
        if not self.limits:
            return 0
        now, chat = time.monotonic(), params.get("chat_id", 0)
        chat = int(chat) if str(chat).lstrip("-").isdigit() else -1  # "@name": a channel
        windows = [("all", *self.overall)] + ([(chat, *self.group)] if chat < 0 else [])
        wait = 0.0
        for key, rate, period in windows:
            seen = self.arrivals.setdefault(key, deque())
            while seen and seen[0] <= now - period:
                seen.popleft()
            if len(seen) >= rate:
                wait = max(wait, seen[0] + period - now)
        if wait:
            return max(1, math.ceil(wait))
        for key, _, _ in windows:
            self.arrivals[key].append(now)
        return 0


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str | None, str | None]:
    """(the text a reader sees, None) or (None, why Telegram would refuse it)."""
    seen, open_tags, pos = [], [], 0
    for match in TOKEN.finditer(text):
        seen.append(text[pos:match.start()])
        pos = match.end()
        closing, tag, entity = match.group(1), match.group(2), match.group(3)
        if tag is not None:
            tag = tag.lower()
            if tag not in TAGS:
                return None, f"can't parse entities: unsupported start tag \"{tag}\""
            if not closing:
                open_tags.append(tag)
            elif not open_tags or open_tags.pop() != tag:
                return None, f"can't parse entities: unexpected end tag \"{tag}\""
        elif entity is not None:
            if entity.startswith("#"):
                seen.append(chr(int(entity[2:], 16) if entity[1:2] == "x" else int(entity[1:])))
            elif entity in ENTITIES:
                seen.append(ENTITIES[entity])
            else:
                return None, f"can't parse entities: unsupported entity \"&{entity};\""
        else:
            return None, (f"can't parse entities: unescaped '{match.group(0)}' "
                          f"at offset {match.start()}")
    if open_tags:
        return None, f"can't parse entities: can't find end tag corresponding to \"{open_tags[-1]}\""
    seen.append(text[pos:])
    return "".join(seen), None


def _refusal(method: str, params: dict) -> str | None:
    """What the real Bot API would refuse in this call (None when it would take it)."""
    if method in ("sendMessage", "editMessageText"):
        text = str(params.get("text", ""))
        if params.get("parse_mode") == "HTML":
            text, problem = parse_html(text)
            if problem:
                return problem
        if not text.strip():
            return "message text is empty"
        if units(text) > 4096:
            return "message is too long"
    if method in ("sendPhoto", "sendDocument") and units(str(params.get("caption", ""))) > 1024:
        return "message caption is too long"
    return None


def _decoded(value: str):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _multipart(content_type: str, body: bytes) -> dict:
    """A multipart/form-data body as params; a file field keeps its bytes, and its name goes
    under "filename". (Parsed here: starlette's form() would need python-multipart.)"""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    params: dict = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        disposition = dict(re.findall(r'(\w+)="([^"]*)"', head.decode()))
        if "filename" in disposition:
            params[disposition["name"]], params["filename"] = value, disposition["filename"]
        else:
            params[disposition["name"]] = _decoded(value.decode())
    return params
