"""The morning fan-out: 200 teams × 60 contacts (SQLite, the default), every team's list through
the real outbox to fake Slack and Telegram APIs that enforce the platforms' limits (Slack 1
post a second per channel; Telegram 20 a minute per group, 30 a second overall) and count 429s.

Figures, from the median of ROUNDS rounds (the machine is shared), each round in one run:
- Slack: the time until the last team's post is in, both platforms on, against a plain 20-way
  concurrent client posting the same 200 messages to the same fake (goal ≤ 1.5×);
- Telegram: the time until the last team's list is in, against its rate-limit floor, computed
  from the limits and the number of messages (400: a 120-button list is 2 messages) (≤ 1.1×);
- lost and duplicated posts per platform, read from the fakes (goal 0 and 0).
"""
from __future__ import annotations

import asyncio
import gc
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlmodel import Session, select

from tests.bench.bench_memory import NOW, bench_app, write_files
from tests.bench.table import record

TEAMS, PER_TEAM = 200, 60
PEERS = 20
ROUNDS = 3  # rounds of carebot then the plain client; each figure from the median one
OVERALL, GROUP = (30, 1.0), (20, 60.0)  # Telegram's documented limits, as the fake enforces


class GCTime:
    """Seconds the process spent in garbage collection while `on` (any thread's)."""

    def __init__(self):
        self.on, self.seconds, self._start = False, 0.0, 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start

    def close(self) -> None:
        gc.callbacks.remove(self._note)


class Timed:
    """A transport that notes when its last channel post completed, with the process's CPU
    seconds and GC seconds by then."""

    def __init__(self, transport, gc_time: GCTime | None = None):
        self.transport, self.last, self.cpu, self.gc = transport, 0.0, 0.0, 0.0
        self.gc_time = gc_time

    def __getattr__(self, name):
        return getattr(self.transport, name)

    async def post_to_team(self, team, reply, *, key, **kw):  # kw: e.g. Telegram's progress
        ref = await self.transport.post_to_team(team, reply, key=key, **kw)
        self.last, self.cpu = time.perf_counter(), time.process_time()
        self.gc = self.gc_time.seconds if self.gc_time else 0.0
        return ref


def fan_out(tmp: Path, slack_url: str, telegram_url: str, *, teams: int = TEAMS,
            per_team: int = PER_TEAM, gc_time: GCTime | None = None) -> dict:
    """Queue every team's morning list, then deliver; returns seconds per platform (from the
    start of delivery to its last post), the process's CPU and GC seconds in that time, and
    each row's receipts."""
    from bot import slack, telegram
    from bot.app import settle
    from handlers import jobs
    from storage.importer import import_contacts
    from storage.models import Outbox

    write_files(tmp, teams, per_team)
    app = bench_app(tmp, slack_url, telegram_url)
    config, engine = app.config, app.engine
    import_contacts(engine, tmp / "contacts.csv")
    plugins = [slack.build(app), telegram.build(app)]
    timed = [Timed(p.transport, gc_time) for p in plugins]
    app.transports = timed
    threshold = gc.get_threshold()
    settle()  # as `carebot run` does once started

    async def run() -> dict:
        await plugins[1].start()
        try:
            t0 = time.perf_counter()
            for team in config.teams:
                await asyncio.to_thread(jobs.run, engine, "morning", team.key, NOW)
            queued = time.perf_counter() - t0
            gc.collect()  # each window starts clean: neither side inherits the other's garbage
            t0, cpu0 = time.perf_counter(), time.process_time()
            if gc_time:
                gc_time.on, gc_time.seconds = True, 0.0
            await app.deliver()
            if gc_time:
                gc_time.on = False
            return {"queue_seconds": queued,
                    **{f"{t.name}_seconds": t.last - t0 for t in timed},
                    **{f"{t.name}_cpu": t.cpu - cpu0 for t in timed},
                    **{f"{t.name}_gc": t.gc for t in timed}}
        finally:
            await plugins[1].stop()
            await plugins[0].stop()

    try:
        out = asyncio.run(run())
    finally:  # the plain client's window runs as a plain process would
        gc.unfreeze()
        gc.set_threshold(*threshold)
    with Session(engine) as session:
        out["rows"] = {row.key: (row.status, row.receipts) for row in session.exec(select(Outbox))}
    engine.dispose()
    return out


def tally(fake_slack, fake_telegram, rows: dict, teams: int) -> dict:
    """Lost and duplicated per platform, from what the fakes received: each team's channel
    should hold its one post; its group the list's parts once (the receipt says how many)."""
    posts = Counter(p["channel"] for p in fake_slack.named("chat.postMessage"))
    sends = Counter(int(p["chat_id"]) for p in fake_telegram.named("sendMessage"))
    parts = {r["telegram"]["ref"]["chat"]: len(r["telegram"]["ref"]["messages"])
             for status, r in rows.values() if "telegram" in r}
    channels = [f"C{t:08d}" for t in range(teams)]
    groups = [-1001000000000 - t for t in range(teams)]
    return {"slack_lost": sum(1 for c in channels if posts[c] == 0),
            "slack_duplicated": sum(max(0, posts[c] - 1) for c in channels),
            "telegram_lost": sum(1 for g in groups if sends[g] == 0),
            "telegram_duplicated": sum(max(0, sends[g] - parts.get(g, 0)) for g in groups),
            "slack_429": fake_slack.throttled, "telegram_429": fake_telegram.throttled,
            "slack_posts": sum(posts.values()), "telegram_messages": sum(sends.values()),
            "groups": sends}


def telegram_floor(per_group: Counter) -> float:
    """Seconds from the first message to the last at the limits, sent as fast as they allow."""
    overall = (math.ceil(sum(per_group.values()) / OVERALL[0]) - 1) * OVERALL[1]
    group = max(((math.ceil(n / GROUP[0]) - 1) * GROUP[1] for n in per_group.values()), default=0)
    return max(overall, group, 0.0)


def plain_client(url: str, posts: list[dict]) -> float:
    """A plain 20-way concurrent slack_sdk client posting the same messages; its seconds."""
    from slack_sdk.web.async_client import AsyncWebClient

    async def run() -> float:
        client, gate = AsyncWebClient(token="xoxb-peer", base_url=url), asyncio.Semaphore(PEERS)

        async def post(p: dict) -> None:
            async with gate:
                await client.chat_postMessage(channel=p["channel"], text=p.get("text"),
                                              blocks=p.get("blocks"), metadata=p.get("metadata"))

        t0 = time.perf_counter()
        await asyncio.gather(*(post(p) for p in posts))
        return time.perf_counter() - t0

    return asyncio.run(run())


def one_round(teams: int, gc_time: GCTime) -> dict:
    """carebot's fan-out, then the plain client posting the same messages: fresh fakes each."""
    from tests.fakes.servers import Served
    from tests.fakes.slack_api import FakeSlack
    from tests.fakes.telegram_api import FakeTelegram

    fake_slack = FakeSlack(limits=True)
    fake_telegram = FakeTelegram(limits=True, overall=OVERALL, group=GROUP)
    slack_api, telegram_api = Served(fake_slack.app), Served(fake_telegram.app)
    try:
        with tempfile.TemporaryDirectory() as d:
            out = fan_out(Path(d), f"{slack_api.url}/api/", f"{telegram_api.url}/bot", teams=teams,
                          gc_time=gc_time)
        got = tally(fake_slack, fake_telegram, out["rows"], teams)
        ours = fake_slack.named("chat.postMessage")
        time.sleep(2.5)  # each channel's burst back, as it was for carebot
        gc.collect()
        cpu0, gc_time.seconds, gc_time.on = time.process_time(), 0.0, True
        peer = plain_client(f"{slack_api.url}/api/", ours)
        gc_time.on = False
        out.update(got, peer=peer, peer_cpu=time.process_time() - cpu0, peer_gc=gc_time.seconds,
                   floor=telegram_floor(got["groups"]))
        out["slack_ratio"] = out["slack_seconds"] / peer
        return out
    finally:
        slack_api.stop()
        telegram_api.stop()


def main(teams: int = TEAMS, rounds: int = ROUNDS) -> None:
    gc_time = GCTime()
    try:
        runs = []
        for n in range(rounds):
            r = one_round(teams, gc_time)
            runs.append(r)
            print(f"round {n + 1}: {teams} teams × {PER_TEAM} contacts, lists queued in "
                  f"{r['queue_seconds']:.1f} s; {r['slack_posts']} Slack posts, "
                  f"{r['telegram_messages']} Telegram messages; 429s: Slack {r['slack_429']}, "
                  f"Telegram {r['telegram_429']}")
            print(f"  Slack: last post after {r['slack_seconds']:.2f} s; a plain {PEERS}-way "
                  f"client: {r['peer']:.2f} s ({r['slack_ratio']:.2f}×)")
            # Where the Slack time goes (one process: the fakes' threads count too, both sides).
            print(f"  Slack, CPU seconds of the process in that time: carebot "
                  f"{r['slack_cpu']:.2f} (of them in GC {r['slack_gc']:.2f}), plain client "
                  f"{r['peer_cpu']:.2f} (GC {r['peer_gc']:.2f})")
            print(f"  Telegram: last message after {r['telegram_seconds']:.2f} s; rate-limit "
                  f"floor {r['floor']:.2f} s")
            print("  lost / duplicated: Slack {slack_lost} / {slack_duplicated}, "
                  "Telegram {telegram_lost} / {telegram_duplicated}".format(**r))
    finally:
        gc_time.close()
    # The machine is shared: each figure is the round with the median ratio.
    slack = sorted(runs, key=lambda r: r["slack_ratio"])[len(runs) // 2]
    record(f"morning fan-out, {teams} teams: Slack", f"{slack['slack_seconds']:.2f} s",
           f"{slack['peer']:.2f} s plain {PEERS}-way client", slack["slack_ratio"], "≤ 1.5×",
           slack["slack_ratio"] <= 1.5)
    tg = sorted(runs, key=lambda r: r["telegram_seconds"] / r["floor"] if r["floor"] else
                math.inf)[len(runs) // 2]
    tg_ratio = tg["telegram_seconds"] / tg["floor"] if tg["floor"] else None
    record(f"morning fan-out, {teams} teams: Telegram ({tg['telegram_messages']} messages)",
           f"{tg['telegram_seconds']:.2f} s", f"{tg['floor']:.2f} s rate-limit floor", tg_ratio,
           "≤ 1.1×", tg_ratio is not None and tg_ratio <= 1.1)
    # Lost, duplicated and 429s: every round's, added up.
    lost = sum(r["slack_lost"] + r["telegram_lost"] for r in runs)
    dup = sum(r["slack_duplicated"] + r["telegram_duplicated"] for r in runs)
    record("morning fan-out: lost / duplicated (both platforms)", f"{lost} / {dup}", "", None,
           "0 / 0", lost == 0 and dup == 0)
    slack_429, tg_429 = (sum(r[k] for r in runs) for k in ("slack_429", "telegram_429"))
    record("morning fan-out: 429s (Slack / Telegram)", f"{slack_429} / {tg_429}", "", None,
           "0 / 0", slack_429 + tg_429 == 0)


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
