"""`carebot run`: one asyncio loop for the web server, the scheduler and the chat transports."""
from __future__ import annotations

import asyncio
import logging

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
    async def healthz(request: Request) -> JSONResponse:
        def ping() -> None:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await asyncio.to_thread(ping)
        except Exception as exc:  # noqa: BLE001
            return JSONResponse({"ok": False, "database": str(exc)[:200]}, status_code=503)
        return JSONResponse({"ok": True, "transports": [t.name for t in app.transports]})

    return Starlette(routes=[Route("/healthz", healthz), *(routes or [])])


async def catch_up(app: App) -> None:
    """After a restart, run the jobs whose time passed recently (each posts at most once)."""
    triggers = scheduler.team_triggers(app.engine)
    for fire, job, team in scheduler.missed_recently(triggers, app.clock.now()):
        await app.run_job(job, team, now=fire)


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
    try:
        await catch_up(app)
        routes = [route for part in parts for route in part.routes]
        config = uvicorn.Config(web_app(app, routes), host=host, port=app.settings.port,
                                log_level="info", lifespan="off")
        await uvicorn.Server(config).serve()
    finally:
        sched.shutdown(wait=False)
        for part in parts:
            if part.stop:
                await part.stop()
