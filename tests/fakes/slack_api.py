"""A fake Slack Web API on 127.0.0.1 that records every call and can fail on purpose.

With `limits=True` it enforces Slack's documented chat.postMessage limit: 1 message a second per
channel, past a small burst (`burst`), answered with 429 and Retry-After like Slack; `throttled`
counts those 429s (each is also in `calls` as "chat.postMessage!429")."""
from __future__ import annotations

import json
import math
import threading
import time
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


class FakeSlack:
    def __init__(self, *, limits: bool = False, burst: int = 2):
        self.limits, self.burst = limits, burst
        self.buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, when counted)
        self.throttled = 0
        self.calls: list[tuple[str, dict]] = []
        self.names: dict[str, str] = {}  # file id -> filename, from files.getUploadURLExternal
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes POSTed to its upload URL
        self.failures: dict[str, list[tuple[int, dict]]] = {}  # method -> [(status, headers)]
        self.lock = threading.Lock()
        self.ts = 1000
        # channel -> messages posted there (ts, text, metadata), oldest first; chat.delete
        # removes one. conversations.history serves them (newest first, paged by limit).
        self.messages: dict[str, list[dict]] = {}
        # users.lookupByEmail: address -> user id; any other address is users_not_found.
        self.emails: dict[str, str] = {}
        self.limited: dict[str, int] = {}  # address -> how many more lookups get a 429
        self.app = Starlette(routes=[Route("/api/{method}", self.api, methods=["POST", "GET"]),
                                     Route("/respond/{token}", self.respond, methods=["POST"]),
                                     Route("/upload/{file_id}", self.upload, methods=["POST"])])

    def fail(self, method: str, status: int, headers: dict | None = None, times: int = 1) -> None:
        self.failures.setdefault(method, []).extend([(status, headers or {})] * times)

    def named(self, method: str) -> list[dict]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    async def _params(self, request: Request) -> dict:
        raw = (await request.body()).decode()
        if "json" in request.headers.get("content-type", ""):
            return json.loads(raw or "{}")
        params = {**dict(request.query_params), **{k: v[0] for k, v in parse_qs(raw).items()}}
        for key in ("blocks", "view", "files", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params = await self._params(request)
        with self.lock:
            queued = self.failures.get(method)
            if queued:
                status, headers = queued.pop(0)
                self.calls.append((f"{method}!{status}", params))
                return JSONResponse({"ok": False, "error": "ratelimited" if status == 429
                                     else "fatal_error"}, status_code=status, headers=headers)
            wait = self._over_limit(params.get("channel")) if method == "chat.postMessage" else 0
            if wait:
                self.throttled += 1
                self.calls.append((f"{method}!429", params))
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                    headers={"Retry-After": str(wait)})
            self.calls.append((method, params))
            self.ts += 1
            ts = f"{self.ts}.000100"
        if method == "auth.test":
            return JSONResponse({"ok": True, "user_id": "UBOT", "team_id": "T1", "bot_id": "B1"})
        if method == "conversations.open":
            return JSONResponse({"ok": True, "channel": {"id": "D" + params.get("users", "X")}})
        if method == "chat.postMessage":
            with self.lock:
                self.messages.setdefault(params.get("channel"), []).append(
                    {"ts": ts, "text": params.get("text"), "metadata": params.get("metadata")})
        if method == "chat.delete":
            with self.lock:
                kept = [m for m in self.messages.get(params.get("channel"), [])
                        if m["ts"] != params.get("ts")]
                self.messages[params.get("channel")] = kept
        if method == "users.lookupByEmail":
            email = params.get("email", "")
            if self.limited.get(email):
                self.limited[email] -= 1
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                    headers={"Retry-After": "2"})
            user = self.emails.get(email)
            if user is None:
                return JSONResponse({"ok": False, "error": "users_not_found"})
            return JSONResponse({"ok": True, "user": {"id": user}})
        if method == "conversations.history":
            return JSONResponse(self.history(params))
        if method in ("chat.postMessage", "chat.update"):
            return JSONResponse({"ok": True, "channel": params.get("channel"), "ts": params.get("ts", ts)})
        if method == "files.getUploadURLExternal":  # the bytes then go to upload_url, here too
            file_id = f"F{ts.split('.')[0]}"
            with self.lock:
                self.names[file_id] = params.get("filename")
            return JSONResponse({"ok": True, "file_id": file_id,
                                 "upload_url": f"{request.base_url}upload/{file_id}"})
        if method == "files.completeUploadExternal":
            return JSONResponse({"ok": True, "files": params.get("files", [])})
        return JSONResponse({"ok": True})

    def _over_limit(self, channel: str | None) -> int:
        """0 when a post to the channel may go now (a token taken), else the seconds to wait:
        a bucket per channel of `burst` tokens, refilled at one a second."""
        if not self.limits:
            return 0
        now = time.monotonic()
        tokens, then = self.buckets.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then))
        if tokens < 1:
            self.buckets[channel] = (tokens, now)
            return max(1, math.ceil(1 - tokens))
        self.buckets[channel] = (tokens - 1, now)
        return 0

    def history(self, params: dict) -> dict:
        """Newest first; metadata only with include_all_metadata (as Slack). `oldest` is not
        applied: the fake's ts are counters, not the app's (simulated) clock."""
        limit, start = int(params.get("limit") or 100), int(params.get("cursor") or 0)
        with_meta = str(params.get("include_all_metadata")).lower() in ("1", "true")
        with self.lock:
            newest = list(reversed(self.messages.get(params.get("channel"), [])))
        page = [{"type": "message", "ts": m["ts"], "text": m["text"],
                 **({"metadata": m["metadata"]} if with_meta and m["metadata"] else {})}
                for m in newest[start:start + limit]]
        more = start + limit < len(newest)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    async def upload(self, request: Request) -> PlainTextResponse:
        data = await request.body()
        with self.lock:
            self.uploads[request.path_params["file_id"]] = data
        return PlainTextResponse("OK - 1")

    def files(self) -> list[dict]:
        """Each completed upload: channel, title, filename and the bytes uploaded."""
        with self.lock:
            return [{"channel": done["channel_id"], "title": f["title"],
                     "filename": self.names.get(f["id"]), "data": self.uploads.get(f["id"])}
                    for done in [p for n, p in self.calls if n == "files.completeUploadExternal"]
                    for f in done["files"]]

    async def respond(self, request: Request) -> JSONResponse:
        with self.lock:
            self.calls.append(("response_url", await self._params(request)))
        return JSONResponse({"ok": True})
