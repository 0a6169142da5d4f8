"""Telegram: 1,000 callback updates (a reason tapped on the picker) end to end through the
webhook and a fake Bot API, carebot versus a bare PTB handler that only answers the callback.

carebot records the outcome (SQLite), edits the picker and the list, and answers the
callback; both apps run without the rate limiter here (its pacing, not our code, would
dominate: Telegram allows 20 messages a minute per group).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler

from bot import telegram
from bot.server import web_app
from bot.settings import Settings
from tests.bench.demo_app import demo_app
from tests.bench.table import record
from tests.fakes.servers import Served
from tests.fakes.telegram_api import FakeTelegram

N = 1000
GROUP = -1001234567890


def updates(n: int) -> list[dict]:
    out = []
    for i in range(n):
        message = {"message_id": 501, "date": int(time.time()), "text": "picker",
                   "chat": {"id": GROUP, "type": "supergroup", "title": "North"},
                   "from": {"id": 4242, "is_bot": True, "first_name": "carebot"},
                   "reply_to_message": {"message_id": 500, "date": int(time.time()), "text": "list",
                                        "chat": {"id": GROUP, "type": "supergroup"}}}
        out.append({"update_id": 10_000 + i, "callback_query": {
            "id": f"cb{i}", "chat_instance": "ci", "message": message,
            "from": {"id": 5550001, "is_bot": False, "first_name": "Amira"},
            "data": f"missed:C-7F3K:{('hospital', 'unavailable')[i % 2]}"}})
    return out


def ours(tmp: Path, api_url: str) -> tuple[Served, object]:
    settings = Settings(TELEGRAM_BOT_TOKEN="1:bench", TELEGRAM_API_URL=api_url,
                        TELEGRAM_WEBHOOK_URL="https://x.example/telegram/webhook",
                        TELEGRAM_WEBHOOK_SECRET="s")
    app = demo_app(tmp, settings, team={"telegram_chat": GROUP}, amira={"telegram_user": 5550001})
    plugin = telegram.build(app, rate_limited=False)
    app.transports = [plugin.transport]
    server = Served(web_app(app, plugin.routes))
    server.call(plugin.start())
    return server, plugin


def bare(api_url: str) -> tuple[Served, object]:
    application = ApplicationBuilder().token("1:bench").base_url(api_url).updater(None).build()

    async def answer(update: Update, context) -> None:
        await update.callback_query.answer()

    application.add_handler(CallbackQueryHandler(answer))

    async def receive(request: Request) -> Response:
        await application.process_update(Update.de_json(await request.json(), application.bot))
        return Response(status_code=200)

    server = Served(Starlette(routes=[Route("/telegram/webhook", receive, methods=["POST"])]))
    server.call(application.initialize())
    server.call(application.start())
    return server, application


def run(server: Served, batch: list[dict]) -> float:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        t0 = time.perf_counter()
        for update in batch:
            resp = client.post("/telegram/webhook", json=update,
                               headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
            assert resp.status_code == 200
        return time.perf_counter() - t0


def main() -> None:
    fake = FakeTelegram()
    api = Served(fake.app)
    with tempfile.TemporaryDirectory() as d:
        mine, plugin = ours(Path(d), f"{api.url}/bot")
        plain, application = bare(f"{api.url}/bot")
        try:
            t_bare, t_ours = run(plain, updates(N)), run(mine, updates(N))
        finally:
            mine.call(plugin.stop())
            plain.call(application.stop())
            mine.stop()
            plain.stop()
            api.stop()
    calls = len([c for c in fake.calls if c[0] == "editMessageText"])
    print(f"{N} callback updates through the webhook and the fake Bot API (SQLite)")
    print(f"bare PTB (answer only): {t_bare:6.2f} s  ({t_bare / N * 1000:5.2f} ms per update)")
    print(f"carebot (record + 2 edits + answer): {t_ours:6.2f} s  ({t_ours / N * 1000:5.2f} ms per update, "
          f"{calls} edits)")
    print(f"ratio carebot/bare: {t_ours / t_bare:.2f}")
    record("Telegram callback, reason tapped", f"{t_ours / N * 1000:.1f} ms",
           f"{t_bare / N * 1000:.1f} ms bare PTB handler", t_ours / t_bare, "≤ 3×",
           t_ours / t_bare <= 3)


if __name__ == "__main__":
    main()
