"""Peak RSS of a `carebot run`-equivalent process: 100 teams and 6,000 contacts (SQLite, the
default) through a morning, every team's list fanned out to fake Slack and Telegram.

The bot runs in a child process (the fakes stay here, so their memory is not counted) and
reports its own peak RSS (VmHWM) at the end. Goal: < 200 MB. A floor in the same run: a child
that only imports the same modules and builds the same empty app.
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bench.table import record

TEAMS, PER_TEAM = 100, 60
NOW = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)  # 07:30 in London: every team's morning post


def write_files(tmp: Path, n_teams: int = TEAMS, per_team: int = PER_TEAM) -> tuple[Path, Path]:
    """carebot.toml (each team with a Slack channel and a Telegram group, and its lead) and
    contacts.csv (per_team contacts each, due this morning)."""
    teams = "".join(f'[[teams]]\nkey = "t{t:03d}"\nname = "Team {t}"\nslack_channel = "C{t:08d}"\n'
                    f"telegram_chat = {-1001000000000 - t}\n\n" for t in range(n_teams))
    people = "".join(f'[[people]]\nhandle = "lead{t:03d}"\nname = "Lead {t}"\nrole = "supervisor"\n'
                     f'teams = ["t{t:03d}"]\noncall = true\n\n' for t in range(n_teams))
    config = tmp / "carebot.toml"
    config.write_text(f'timezone = "Europe/London"\n\n{teams}{people}')
    contacts = tmp / "contacts.csv"
    with contacts.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["contact_id", "client_ref", "team", "kind", "due_start", "due_end",
                    "assignee", "risk", "time_critical"])
        for t in range(n_teams):
            for n in range(per_team):
                start = datetime(2026, 11, 24, 8) + timedelta(minutes=8 * n)
                w.writerow([f"M-{t}-{n}", f"C-M{t}X{n}", f"t{t:03d}", "home_visit",
                            start.isoformat(timespec="minutes"),
                            (start + timedelta(hours=1)).isoformat(timespec="minutes"),
                            f"lead{t:03d}" if n % 2 else "", ("high", "medium", "low")[n % 3],
                            "false"])
    return config, contacts


def bench_app(tmp: Path, slack_url: str, telegram_url: str):
    """The app of write_files' config on a fresh SQLite database (config synced), both
    platforms pointed at the fakes, the clock at NOW."""
    from bot.app import App
    from bot.config import load_config
    from bot.settings import Settings
    from handlers.base import SimClock
    from storage import repo
    from storage.db import make_engine, session_scope

    settings = Settings(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="s",
                        SLACK_API_URL=slack_url, TELEGRAM_BOT_TOKEN="1:bench",
                        TELEGRAM_API_URL=telegram_url,
                        TELEGRAM_WEBHOOK_URL="https://x.example/telegram/webhook",
                        TELEGRAM_WEBHOOK_SECRET="s")
    config = load_config(tmp / "carebot.toml")
    engine = make_engine(f"sqlite:///{tmp / 'carebot.db'}")
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    return App(settings=settings, config=config, engine=engine, clock=SimClock(NOW))


def child(tmp: Path, slack_url: str, telegram_url: str, morning: bool) -> None:
    """The bot: config synced, contacts imported, both platforms started, the morning run."""
    from bot import slack, telegram
    from bot.app import settle
    from bot.server import web_app
    from storage.importer import import_contacts

    app = bench_app(tmp, slack_url, telegram_url)
    config, engine = app.config, app.engine
    plugins = [slack.build(app), telegram.build(app, rate_limited=False)]
    app.transports = [p.transport for p in plugins]
    web_app(app, [r for p in plugins for r in p.routes])
    settle()  # as `carebot run` does once started
    teams = 0

    async def run() -> None:
        nonlocal teams
        await plugins[1].start()
        try:
            if morning:
                import_contacts(engine, tmp / "contacts.csv")
                for team in config.teams:
                    teams += await app.run_job("morning", team.key)
        finally:
            await plugins[1].stop()

    asyncio.run(run())
    print(json.dumps({"maxrss_mb": peak_rss_mb(), "teams": teams}))


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux keeps getrusage's maxrss across exec (a child would
    report its parent's peak if that was higher); VmHWM starts afresh with the program."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(tmp: Path, slack_url: str, telegram_url: str, morning: bool) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.bench.bench_memory", str(tmp), slack_url,
                          telegram_url, "morning" if morning else "idle"],
                         capture_output=True, text=True, check=True, env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from tests.fakes.servers import Served
    from tests.fakes.slack_api import FakeSlack
    from tests.fakes.telegram_api import FakeTelegram

    fake_slack, fake_telegram = FakeSlack(), FakeTelegram()
    slack_api, telegram_api = Served(fake_slack.app), Served(fake_telegram.app)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            write_files(tmp)
            urls = (f"{slack_api.url}/api/", f"{telegram_api.url}/bot")
            idle = run_child(tmp, *urls, morning=False)
            (tmp / "carebot.db").unlink()
            busy = run_child(tmp, *urls, morning=True)
    finally:
        slack_api.stop()
        telegram_api.stop()
    posts = len(fake_slack.named("chat.postMessage"))
    sends = len([c for c in fake_telegram.calls if c[0] == "sendMessage"])
    rss, floor = busy["maxrss_mb"], idle["maxrss_mb"]
    print(f"{TEAMS} teams × {PER_TEAM} contacts through a morning: {busy['teams']} morning lists "
          f"queued, {posts} Slack posts, {sends} Telegram messages")
    print(f"peak RSS {rss:.0f} MB (goal < 200 MB); the same app built, idle: {floor:.0f} MB")
    record(f"peak RSS, {TEAMS} teams × {PER_TEAM} contacts, a morning", f"{rss:.0f} MB",
           f"{floor:.0f} MB same app idle", rss / floor, "< 200 MB", rss < 200)


if __name__ == "__main__":
    if len(sys.argv) == 5:
        child(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "morning")
    else:
        main()
