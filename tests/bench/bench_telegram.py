"""Telegram: 1,000 callback updates (a reason tapped on the picker) end to end through the
webhook and a fake Bot API, carebot versus a bare PTB handler that only answers the callback.

carebot records the outcome (SQLite), edits the picker and answers the callback (two calls
at once), and edits the list in the webhook's response (the Bot API runs it: the bench hands it
to the fake, as Telegram would); the bare handler calls answerCallbackQuery. Both apps run
without the rate limiter here (its pacing, not our code, would dominate: Telegram allows 20
messages a minute per group). The morning list is posted first, so
each tap also marks it for its edit, which the outbox sends in the background. The two alternate
every CHUNK updates (the shared machine's load changes from one second to the next), ROUNDS
rounds of N each; the median round's ratio goes to the bench table (goal ≤ 3× the bare handler).
"""
from __future__ import annotations

import statistics
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
from handlers import jobs
from tests.bench.demo_app import demo_app
from tests.bench.table import record
from tests.fakes.servers import Served
from tests.fakes.telegram_api import FakeTelegram

N = 1000
ROUNDS = 3
CHUNK = 50
GOAL = 3.0
GROUP = -1001234567890


def updates(n: int, first: int = 0) -> list[dict]:
    out = []
    for i in range(first, first + n):
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


def ours(tmp: Path, api_url: str) -> tuple[Served, object, object]:
    settings = Settings(TELEGRAM_BOT_TOKEN="1:bench", TELEGRAM_API_URL=api_url,
                        TELEGRAM_WEBHOOK_URL="https://x.example/telegram/webhook",
                        TELEGRAM_WEBHOOK_SECRET="s")
    app = demo_app(tmp, settings, team={"telegram_chat": GROUP}, amira={"telegram_user": 5550001})
    jobs.run(app.engine, "morning", "north", app.clock.now())  # a day with its list posted
    plugin = telegram.build(app, rate_limited=False)
    app.transports = [plugin.transport]
    server = Served(web_app(app, plugin.routes))
    server.call(plugin.start())
    return server, plugin, app


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


def run(client: httpx.Client, batch: list[dict], fake: FakeTelegram | None = None) -> float:
    """Post the updates one after another; a method a response carries (carebot edits the list
    there) is handed to the fake, as Telegram runs it on its side."""
    t0 = time.perf_counter()
    for update in batch:
        resp = client.post("/telegram/webhook", json=update,
                           headers={"X-Telegram-Bot-Api-Secret-Token": "s"})
        assert resp.status_code == 200
        if fake is not None and resp.headers.get("content-type") == "application/json":
            fake.answered(resp.json())
    return time.perf_counter() - t0


def one_round(plain: Served, mine: Served, fake: FakeTelegram, first: int) -> tuple[float, float]:
    """N updates to each, alternating every CHUNK: (bare seconds, carebot seconds)."""
    t_bare = t_ours = 0.0
    with httpx.Client(base_url=plain.url, timeout=30) as to_bare, \
            httpx.Client(base_url=mine.url, timeout=30) as to_ours:
        for start in range(first, first + N, CHUNK):
            t_bare += run(to_bare, updates(CHUNK, start))
            t_ours += run(to_ours, updates(CHUNK, start), fake)
    return t_bare, t_ours


def main() -> None:
    fake = FakeTelegram()
    api = Served(fake.app)
    with tempfile.TemporaryDirectory() as d:
        mine, plugin, app = ours(Path(d), f"{api.url}/bot")
        plain, application = bare(f"{api.url}/bot")
        try:
            rounds = [one_round(plain, mine, fake, r * N) for r in range(ROUNDS)]
            mine.call(app.deliver())  # what the taps queued, before counting edits
        finally:
            mine.call(app.stop_background())
            mine.call(plugin.stop())
            plain.call(application.stop())
            mine.stop()
            plain.stop()
            api.stop()
    calls = len([c for c in fake.calls if c[0] == "editMessageText"])
    answers = len([c for c in fake.calls if c[0] == "answerCallbackQuery"])
    print(f"{N} callback updates per round through the webhook and the fake Bot API (SQLite); "
          f"{calls} edits and {answers} answers in all (carebot's list edit in the webhook response)")
    for r, (t_bare, t_ours) in enumerate(rounds, 1):
        print(f"round {r}: bare PTB (answer only) {t_bare / N * 1000:5.2f} ms per update | "
              f"carebot (record + 2 edits + answer) {t_ours / N * 1000:5.2f} ms per update | "
              f"ratio {t_ours / t_bare:.2f}")
    ratio, t_bare, t_ours = statistics.median_low([(o / b, b, o) for b, o in rounds])
    print(f"median round: ratio {ratio:.2f}; goal ≤ {GOAL:g}×")
    record("Telegram callback (reason tap)", f"{t_ours / N * 1000:.2f} ms",
           f"{t_bare / N * 1000:.2f} ms (bare PTB)", ratio, f"≤ {GOAL:g}×", ratio <= GOAL)


if __name__ == "__main__":
    main()
