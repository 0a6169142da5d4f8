"""`carebot run`: one asyncio loop for the web server, the scheduler and the chat transports."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import scheduler
from bot.app import App
from bot.metrics import age_seconds
from bot.transport import Plugin

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


STALE_TICK = 120  # seconds without a scheduler tick before /healthz says 503
PROBE_TIMEOUT = 5  # seconds: a database that does not answer by then is reported down


def web_app(app: App, routes: list[Route] | None = None) -> Starlette:
    # Its own thread: a morning fan-out can fill the shared pool that handlers run in.
    pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse(*await health(app, pinger))

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(generate_latest, app.metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics),
                             *(routes or [])],
                     middleware=[Middleware(BodyLimit)])


async def health(app: App, pinger: ThreadPoolExecutor | None = None) -> tuple[dict, int]:
    """The /healthz body and status: 503 when the database does not answer or the scheduler
    has not ticked for STALE_TICK seconds (no scheduler in this process: not judged)."""
    body: dict = {"ok": True, "transports": [t.name for t in app.transports],
                  "failed_posts": None, "database": "ok"}
    try:
        backlog = await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(pinger, app.backlog), PROBE_TIMEOUT)
        # failed_posts: posts a platform refused for good (managers were told; see the outbox).
        body["failed_posts"] = backlog["failed"]
        body["outbox"] = {"pending": backlog["pending"],
                          "oldest_pending_seconds": backlog["oldest_pending_seconds"],
                          "pages_pending": backlog["pages"]}
    except Exception as exc:  # noqa: BLE001
        body["ok"], body["outbox"] = False, None
        body["database"] = str(exc)[:200] or f"no answer within {PROBE_TIMEOUT} s"
    age = age_seconds(app.clock.now(), app.last_tick)
    body["scheduler"] = {"last_tick": app.last_tick.isoformat() if app.last_tick else None,
                         "tick_age_seconds": age, "ok": age is None or age <= STALE_TICK}
    body["ok"] = body["ok"] and body["scheduler"]["ok"]
    return body, 200 if body["ok"] else 503


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
        await app.stop_background()
        for part in parts:
            if part.stop:
                await part.stop()
