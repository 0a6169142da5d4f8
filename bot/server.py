"""`carebot run`: one asyncio loop for the web server, the scheduler and the chat transports."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot import scheduler
from bot.app import App
from bot.transport import Plugin

log = logging.getLogger(__name__)


def web_app(app: App, routes: list[Route] | None = None) -> Starlette:
    # Its own thread: a morning fan-out can fill the shared pool that handlers run in.
    pinger = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthz")

    async def healthz(request: Request) -> JSONResponse:
        def ping() -> None:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await asyncio.get_running_loop().run_in_executor(pinger, ping)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"ok": False, "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"ok": True, "transports": [t.name for t in app.transports]})

    return Starlette(routes=[Route("/healthz", healthz), *(routes or [])])


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
