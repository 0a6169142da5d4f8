"""`carebot run`: one asyncio loop for the web server, the scheduler and the chat transports."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from bot import scheduler
from bot.app import App
from bot.transport import Plugin
from storage import repo
from storage.db import session_scope

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000  # bytes; Slack and Telegram send a few KB


class BodyLimit:
    """Refuse a request body over `limit` bytes with 413 before it is read: a declared
    Content-Length is judged up front, a chunked body is counted as it arrives, so at most
    `limit` bytes are ever held. The body read is then handed to the app as one message."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.limit:
            await _refuse(scope, receive, send, 413 if declared.isdigit() else 400)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _refuse(scope, receive, send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, given = b"".join(chunks), False

        async def replay():
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(scope, receive, send, status: int) -> None:
    # Connection: close, so the server drops the rest of the body instead of reading it.
    line = f"request body over {MAX_BODY} bytes" if status == 413 else "bad Content-Length"
    await PlainTextResponse(line, status_code=status, headers={"Connection": "close"})(
        scope, receive, send)


def web_app(app: App, routes: list[Route] | None = None) -> Starlette:
    # Its own thread: a morning fan-out can fill the shared pool that handlers run in.
    pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz")

    async def healthz(request: Request) -> JSONResponse:
        def ping() -> int:
            with session_scope(app.engine) as session:
                return repo.failed_posts(session)

        try:
            failed = await asyncio.get_running_loop().run_in_executor(pinger, ping)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"ok": False, "database": str(exc)[:200]}, status_code=503)
        # failed_posts: posts a platform refused for good (managers were told; see the outbox).
        return JSONResponse({"ok": True, "transports": [t.name for t in app.transports],
                             "failed_posts": failed})

    return Starlette(routes=[Route("/healthz", healthz), *(routes or [])],
                     middleware=[Middleware(BodyLimit)])


async def catch_up(app: App) -> None:
    """After a restart, run the jobs whose time passed recently (each posts at most once)."""
    triggers = await asyncio.to_thread(scheduler.team_triggers, app.engine)
    for fire, job, team in scheduler.missed_recently(triggers, app.clock.now()):
        try:  # delivery follows in the background: a job need not wait for the one before
            await app.run_job(job, team, now=fire, wait=False)
        except Exception:  # one team's failure must not cost the other teams their post
            log.exception("catch-up of %s for %s failed", job, team)
    await app.deliver()


def plugins(app: App) -> list[Plugin]:
    """The chat platforms whose settings are present (each module builds its own Plugin)."""
    found = []
    if app.settings.slack_bot_token:
        from bot import slack

        found.append(slack.build(app))
    if app.settings.telegram_bot_token:
        from bot import telegram

        found.append(telegram.build(app))
    return found


async def serve(app: App, host: str = "0.0.0.0") -> None:
    parts = plugins(app)
    app.transports = [p.transport for p in parts]
    if not parts:
        log.warning("no chat transport configured: posts stay queued in the outbox "
                    "(set SLACK_BOT_TOKEN or TELEGRAM_BOT_TOKEN)")
    for part in parts:
        if part.start:
            await part.start()
    sched = scheduler.start(app)
    # In the background: the web server (health checks, Slack's 3-second acks) answers from
    # the start, however many teams' missed posts a restart has to catch up.
    catching_up = asyncio.create_task(catch_up(app), name="catch-up")
    try:
        routes = [route for part in parts for route in part.routes]
        config = uvicorn.Config(web_app(app, routes), host=host, port=app.settings.port,
                                log_level="info", lifespan="off")
        await uvicorn.Server(config).serve()
    finally:
        catching_up.cancel()
        sched.shutdown(wait=False)
        for part in parts:
            if part.stop:
                await part.stop()
