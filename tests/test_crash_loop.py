"""Crashes during delivery. First the Telegram transport cut short between the parts of a long
list (in process, the real transport against the fake Bot API); then real `carebot run`
processes killed (SIGKILL) at random points of a morning fan-out, restarted each time."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col

from bot import outbox
from messages.reply import Block, Reply
from storage.models import Outbox
from tests.conftest import count
from tests.test_files_transport import chart, queue, report, statuses  # noqa: F401 - a fixture
from tests.conftest import GROUP


def long_list() -> Reply:
    """Three Telegram messages' worth (each part is under 4,096 characters)."""
    return Reply(blocks=[Block(text=f"Line {i}: " + "x" * 60) for i in range(150)])


def crash_at(monkeypatch, call: int, *, stored: bool) -> list[dict]:
    """The process dies at the `call`-th receipt write of a part (after writing it when
    stored, else before): the delivery stops there, nothing else runs, the lease stays."""
    real, seen = outbox._receipts, []

    def receipts(engine, items):
        for n, (_, _, value) in enumerate(items):
            seen.append(value)
            if len(seen) == call:
                real(engine, items[:n + 1] if stored else items[:n])
                raise asyncio.CancelledError("killed")
        real(engine, items)

    monkeypatch.setattr(outbox, "_receipts", receipts)
    return seen


def after_the_lease(app, monkeypatch) -> None:
    monkeypatch.undo()
    app.clock.set(app.clock.now() + timedelta(minutes=3))


def texts(fake) -> list[str]:
    return [m["text"] for m in fake.named("sendMessage")]


def test_a_crash_between_the_parts_of_a_list_sends_only_the_missing_parts_after(tg, monkeypatch):
    app, fake, bot = tg
    queue(app, "long:north", "team:north", long_list())
    crash_at(monkeypatch, 1, stored=True)  # part 1 sent and recorded, then the crash
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    [first] = texts(fake)
    assert statuses(app) == ["pending"]
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    parts = texts(fake)
    assert len(parts) == 3 and parts[0] == first and "Line 149" in parts[2]  # the rest, once
    assert fake.named("deleteMessage") == [] and statuses(app) == ["sent"]


def test_a_crash_before_a_part_is_recorded_sends_that_part_again_never_half_a_list(tg,
                                                                                   monkeypatch):
    """At least once: the part in the window between Telegram's answer and its receipt is sent
    twice; every part reaches the group and none before it is repeated."""
    app, fake, bot = tg
    queue(app, "long:north", "team:north", long_list())
    crash_at(monkeypatch, 2, stored=False)  # part 2 sent, its receipt never written
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    assert len(texts(fake)) == 2
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    one, two, two_again, three = texts(fake)
    assert two_again == two and "Line 149" in three and one != two
    assert count(app.engine, Outbox, Outbox.status == "sent") == 1


def test_a_dm_cut_short_resumes_in_the_same_chat(tg, monkeypatch):
    app, fake, bot = tg
    queue(app, "long:amira", "person:amira", long_list())
    crash_at(monkeypatch, 1, stored=True)
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    chats = [m["chat_id"] for m in fake.named("sendMessage")]
    assert len(chats) == 3 and len(set(chats)) == 1 and chats[0] != GROUP
    assert statuses(app) == ["sent"]


def test_a_report_cut_short_after_its_text_sends_only_its_chart_after(tg, chart, monkeypatch):
    app, fake, bot = tg
    queue(app, "weekly:amira", "person:amira", report(chart))
    crash_at(monkeypatch, 1, stored=True)  # the text sent and recorded, then the crash
    with pytest.raises(BaseException):
        bot.call(app.deliver())
    assert len(texts(fake)) == 1 and fake.named("sendPhoto") == []
    after_the_lease(app, monkeypatch)
    bot.call(app.deliver())
    assert len(texts(fake)) == 1 and len(fake.named("sendPhoto")) == 1
    assert statuses(app) == ["sent"]


# Real processes: `carebot run` killed at random points of a morning fan-out

SIGNING_SECRET = "crash-loop-secret"
USER = 7_000_000  # team n's lead is Telegram user USER + n
TEAMS, CONTACTS, KILLS = 30, 90, 20  # 90 contacts: a list of 2 Telegram messages
POSTING = ("chat.postMessage", "chat.update", "sendMessage", "editMessageText")


def slow(asgi, delay: float):
    """The fake platform, answering a post `delay` late: the post is made at once, so a kill in
    that time is a kill between the platform's send and carebot's receipt."""
    async def app(scope, receive, send):
        posting = scope["type"] == "http" and scope["path"].endswith(POSTING)

        async def late(message):
            if posting and message["type"] == "http.response.start":
                await asyncio.sleep(delay)
            await send(message)

        await asgi(scope, receive, late)

    return app


def morning_config(path, fire, teams: int = TEAMS, pages: bool = False):
    """Every team's morning at `fire` (London time, just past), the other jobs 12 hours away.
    With pages, each team's lead is on call and reachable on both platforms."""
    other = (fire + timedelta(hours=12)).strftime("%H:%M")
    reach = (lambda n: f'oncall = true\nslack_user = "U{n:04}"\ntelegram_user = {USER + n}\n') \
        if pages else (lambda n: "")
    body = "".join(f'\n[[teams]]\nkey = "t{n:03}"\nname = "Team {n:03}"\n'
                   f'morning_post = "{fire:%H:%M}"\nreconcile = "{other}"\nroutes_by = ""\n'
                   f'slack_channel = "C{n:04}"\ntelegram_chat = -100{n:04}\n'
                   for n in range(teams))
    body += "".join(f'\n[[people]]\nhandle = "lead{n:03}"\nname = "Lead {n:03}"\n'
                    f'role = "supervisor"\nteams = ["t{n:03}"]\n{reach(n)}' for n in range(teams))
    path.write_text('timezone = "Europe/London"\n' + body, encoding="utf-8")
    return path


def morning_contacts(path, fire, teams: int = TEAMS, per_team: int = CONTACTS,
                     pages: bool = False):
    """Each team's contacts later on the morning's day (none overdue, so nothing escalates);
    with pages, one time-critical high-risk contact per team whose window ended an hour ago."""
    import csv

    from storage.importer import COLUMNS

    day_end = fire.replace(hour=23, minute=59)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for t in range(teams):
            for n in range(per_team):
                start = min(fire + timedelta(hours=2, minutes=n), day_end)
                out.writerow([f"K-{t}-{n}", f"C-{t:03}{n:02}", f"t{t:03}", "home_visit",
                              start.strftime("%Y-%m-%dT%H:%M"),
                              min(start + timedelta(hours=1), day_end).strftime("%Y-%m-%dT%H:%M"),
                              "", "low", "false"])
            if pages:
                late = datetime.now(UTC) - timedelta(hours=1)
                out.writerow([f"P-{t}", f"C-P{t:03}", f"t{t:03}", "home_visit",
                              (late - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ"),
                              late.strftime("%Y-%m-%dT%H:%MZ"), "", "high", "true"])
    return path


class Fleet:
    """The fakes as real HTTP servers, and `carebot run` processes started against them."""

    def __init__(self, tmp_path, url: str, delay: float, teams: int = TEAMS,
                 lease_seconds: int = 2, pages: bool = False, per_team: int = CONTACTS):
        import os
        from zoneinfo import ZoneInfo

        from bot.config import load_config
        from storage import repo
        from storage.db import make_engine, session_scope
        from storage.importer import import_contacts
        from tests.fakes.servers import Served
        from tests.fakes.slack_api import FakeSlack
        from tests.fakes.telegram_api import FakeTelegram

        self.tmp, self.url, self.teams, self.procs = tmp_path, url, teams, []
        self.slack, self.telegram = FakeSlack(), FakeTelegram()
        self.served = [Served(slow(self.slack.app, delay)), Served(slow(self.telegram.app, delay))]
        now = datetime.now(ZoneInfo("Europe/London"))
        fire = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
        if fire.date() != now.date():  # just after midnight: a morning at 00:00 today
            fire = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.config = morning_config(tmp_path / "morning.toml", fire, teams, pages)
        self.keys = [f"morning:t{n:03}:{fire.date().isoformat()}" for n in range(teams)]
        self.engine = make_engine(url)
        with session_scope(self.engine) as session:
            repo.sync_config(session, load_config(self.config))
        import_contacts(self.engine, morning_contacts(tmp_path / "contacts.csv", fire, teams,
                                                      per_team, pages=pages))
        self.env = {**os.environ, "CAREBOT_CONFIG": str(self.config), "DATABASE_URL": url,
                    "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                    "SLACK_API_URL": f"{self.served[0].url}/api/",
                    "TELEGRAM_BOT_TOKEN": "42:test",
                    "TELEGRAM_API_URL": f"{self.served[1].url}/bot",
                    "CAREBOT_OUTBOX_LEASE_SECONDS": str(lease_seconds)}

    def start(self, port: int | None = None):
        import subprocess
        import sys
        from pathlib import Path

        from tests.fakes.servers import free_port

        port = port or free_port()
        log = (self.tmp / f"run{len(self.procs)}.log").open("w")  # a full pipe would stall it
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"],
                                env={**self.env, "PORT": str(port)}, stdout=log, stderr=log,
                                cwd=Path(__file__).resolve().parents[1])
        proc.port, proc.log = port, log
        self.procs.append(proc)
        return proc

    def posts(self) -> int:
        return sum(len(f.named(m)) for f in (self.slack, self.telegram) for m in POSTING)

    def sent(self) -> int:
        """Morning rows done (0 while the schema is not there yet)."""
        from sqlmodel import Session, func, select

        try:
            with Session(self.engine) as session:
                return session.exec(select(func.count()).select_from(Outbox).where(
                    Outbox.status == "sent", col(Outbox.key).in_(self.keys))).one()
        except Exception:  # noqa: BLE001
            return 0

    def paged(self) -> int:
        """Escalation pages sent (one per team here: nobody acknowledges within the test)."""
        from bot.metrics import PAGE_KEY

        try:
            return sum(r.status == "sent" for r in self.rows() if PAGE_KEY.match(r.key))
        except Exception:  # noqa: BLE001
            return 0

    def wait(self, predicate, what: str, seconds: float = 60, poll: float = 0.05) -> None:
        import time

        for _ in range(int(seconds / poll)):  # bounded wait, no timing assertion
            if predicate():
                return
            if self.procs and all(p.poll() is not None for p in self.procs):
                raise AssertionError(f"carebot run exited waiting for {what}:\n{self.logs()}")
            time.sleep(poll)
        raise AssertionError(f"timed out waiting for {what}:\n{self.logs()}")

    def logs(self) -> str:
        return "".join((self.tmp / f"run{n}.log").read_text()[-1500:] for n in
                       range(len(self.procs)))[-4000:]

    def stop(self) -> None:
        import signal

        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except Exception:  # noqa: BLE001
                    proc.kill()
                    proc.wait()
            proc.log.close()
        for s in self.served:
            s.stop()
        self.engine.dispose()

    def rows(self) -> list[Outbox]:
        """The morning lists and the escalation pages (what these tests count)."""
        from sqlmodel import Session, select

        from bot.metrics import PAGE_KEY

        with Session(self.engine) as session:
            return [r for r in session.exec(select(Outbox))
                    if r.key in self.keys or PAGE_KEY.match(r.key)]

    def outcome(self) -> dict:
        """Slack posts per outbox key; per Telegram chat, how often each part of each row was
        sent, and the parts never sent (the rows' content as the outbox holds it)."""
        from messages import telegram as render
        from messages.reply import Reply

        slack = Counter(p["metadata"]["event_payload"]["key"]
                        for p in self.slack.named("chat.postMessage") if p.get("metadata"))
        by_chat: dict[int, Counter] = {}
        for p in self.telegram.named("sendMessage"):
            by_chat.setdefault(int(p["chat_id"]), Counter())[p["text"]] += 1
        rows, missing, parts, counted = self.rows(), {}, 0, set()
        for row in rows:
            kind, _, name = row.target.partition(":")
            n = int(name.removeprefix("t").removeprefix("lead"))
            chat = int(f"-100{n:04}") if kind == "team" else USER + n
            texts = [m.text for m in render.render(Reply.model_validate(row.payload))]
            seen = by_chat.get(chat, Counter())
            parts += len(texts)
            gone = [i for i, t in enumerate(texts) if not seen[t]]
            if gone:
                missing[row.key] = gone
            counted |= {(chat, t) for t in texts}
        twice = sum(by_chat[c][t] - 1 for c, t in counted if by_chat.get(c, {}).get(t, 0) > 1)
        return {"slack": slack, "telegram_missing": missing, "telegram_twice": twice,
                "telegram_parts": parts, "keys": [r.key for r in rows],
                "statuses": Counter(r.status for r in rows)}

    def assert_once(self, label: str) -> dict:
        got = self.outcome()
        print(f"\n{label}: Telegram {got['telegram_twice']} duplicated messages of "
              f"{got['telegram_parts']} parts; Slack {sum(got['slack'].values())} posts "
              f"for {len(got['keys'])} lists and pages")
        assert got["statuses"] == {"sent": len(got["keys"])}, got["statuses"]
        lost = [k for k in got["keys"] if got["slack"][k] == 0]
        doubled = {k: n for k, n in got["slack"].items() if n > 1}
        assert lost == [] and doubled == {}, (lost, doubled)  # Slack: exactly once
        assert got["telegram_missing"] == {}  # Telegram: nothing lost, no half list
        return got


@pytest.mark.parametrize("engine", ["postgres", "sqlite"], indirect=True)
def test_twenty_kills_during_a_morning_fan_out_lose_nothing_and_slack_never_doubles(engine,
                                                                                    tmp_path):
    """SIGKILL at random points while the lists go out (each kill once the restarted process
    has made a random 1 to 6 more calls that post or edit, so every kill lands mid fan-out,
    however fast the machine), restart each time, then let it finish. Slack: each list exactly
    once. Telegram: every part of every list at least once; duplicates printed, not asserted."""
    import random
    import signal

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    fleet = Fleet(tmp_path, engine.url.render_as_string(hide_password=False), delay=0.05)
    kills = 0
    try:
        while kills < KILLS:
            upto, polls = fleet.posts() + rng.randint(1, 6), iter(range(10**9))
            proc = fleet.start()
            fleet.wait(lambda: fleet.posts() >= upto  # the database only now and then: cheap
                       or next(polls) % 100 == 99 and fleet.sent() == TEAMS,
                       "the restarted process to post", poll=0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert fleet.sent() < TEAMS, f"the fan-out ended after {kills} kills (seed {seed})"
            kills += 1
        fleet.start()
        fleet.wait(lambda: fleet.sent() == TEAMS, "the fan-out to finish", seconds=120)
    finally:
        fleet.stop()
    print(f"\n{kills} kills (seed {seed}), {fleet.sent()} of {TEAMS} lists sent")
    fleet.assert_once(f"{engine.url.get_backend_name()}, {kills} SIGKILLs")


# Two `carebot run` on one PostgreSQL database, against the same fakes

@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_two_carebot_runs_on_one_postgres_post_each_list_and_page_once(engine, tmp_path):
    """No crash: every list and every escalation page once on each platform (the pages come
    from the first escalation sweep, 15 s after start)."""
    fleet = Fleet(tmp_path, engine.url.render_as_string(hide_password=False), delay=0.02,
                  lease_seconds=30, pages=True)
    try:
        fleet.start()
        fleet.start()
        fleet.wait(lambda: fleet.sent() == TEAMS and fleet.paged() == TEAMS,
                   "every list and page", seconds=120)
    finally:
        fleet.stop()
    got = fleet.assert_once("two instances")
    assert len(got["keys"]) == 2 * TEAMS and got["telegram_twice"] == 0


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_one_of_two_carebot_runs_killed_mid_fan_out_the_other_finishes_it(engine, tmp_path):
    """The rows the killed one held wait out their lease; then the survivor sends them. Slack:
    0 lost, 0 duplicated; Telegram: nothing lost, duplicates printed."""
    import random
    import signal
    import time

    fleet = Fleet(tmp_path, engine.url.render_as_string(hide_password=False), delay=0.05,
                  lease_seconds=8)
    try:
        doomed, survivor = fleet.start(), fleet.start()
        fleet.wait(lambda: fleet.posts() > 10, "the fan-out to begin")
        time.sleep(random.uniform(0, 0.5))
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        killed_at = fleet.sent()
        fleet.wait(lambda: fleet.sent() == TEAMS, "the survivor to finish", seconds=120)
        assert survivor.poll() is None
    finally:
        fleet.stop()
    print(f"\nkilled with {killed_at} of {TEAMS} lists sent")
    fleet.assert_once("one of two killed")


@pytest.mark.parametrize("engine", ["postgres", "sqlite"], indirect=True)
def test_two_instances_starting_together_both_sync_the_config(engine, tmp_path):
    """Each `carebot run` syncs the config at start; two at once must not collide (they both
    rewrite the memberships)."""
    import threading

    from bot.config import load_config
    from storage import repo
    from storage.db import make_engine, session_scope
    from storage.models import Membership

    config = load_config(morning_config(tmp_path / "c.toml", datetime(2026, 11, 24, 7, 30), 40))
    engines = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in range(2)]
    errors, go = [], threading.Barrier(2)

    def start(eng) -> None:
        try:
            for _ in range(5):
                go.wait(10)
                with session_scope(eng) as session:
                    repo.sync_config(session, config)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            go.abort()

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for e in engines:
        e.dispose()
    assert [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] == []
    assert count(engine, Membership) == 40
