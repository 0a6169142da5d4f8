"""The morning fan-out through the real outbox against fakes that enforce the platforms' limits
(the small version of tests/bench/bench_fanout.py): one post per team per platform, none lost,
none twice, and no 429 (pacing goes before sending). Counted, never timed."""
from __future__ import annotations

import asyncio

import pytest

from bot.outbox import deliver_due
from bot.slack import SlackTransport, web_client
from messages.reply import Reply
from tests.bench.bench_fanout import fan_out, tally
from tests.test_delivery_once import Platform, assert_once_each, queue_rows
from tests.test_delivery_platforms import Telegram
from tests.fakes.servers import Served
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

TEAMS = 20  # 40 Telegram messages (a 120-button list is 2): past the 30 a second overall


@pytest.fixture
def limited():
    slack, telegram = FakeSlack(limits=True), FakeTelegram(limits=True)
    servers = Served(slack.app), Served(telegram.app)
    yield slack, telegram, f"{servers[0].url}/api/", f"{servers[1].url}/bot"
    for server in servers:
        server.stop()


def test_every_team_gets_its_morning_list_once_per_platform_with_no_429(tmp_path, limited):
    fake_slack, fake_telegram, slack_url, telegram_url = limited
    out = fan_out(tmp_path, slack_url, telegram_url, teams=TEAMS)
    got = tally(fake_slack, fake_telegram, out["rows"], TEAMS)
    assert {status for status, _ in out["rows"].values()} == {"sent"}
    assert len(out["rows"]) == TEAMS
    assert (got["slack_lost"], got["slack_duplicated"]) == (0, 0)
    assert (got["telegram_lost"], got["telegram_duplicated"]) == (0, 0)
    assert got["slack_posts"] == TEAMS and got["telegram_messages"] == 2 * TEAMS
    assert (got["slack_429"], got["telegram_429"]) == (0, 0)


def test_posts_to_one_slack_channel_are_paced_not_throttled(limited):
    fake_slack, _, slack_url, _ = limited
    slack = SlackTransport(web_client("xoxb-test", slack_url))

    async def burst():
        await asyncio.gather(*(slack.post("C0NORTH01", Reply.text(f"carebot: post {n}"),
                                          key=f"k{n}") for n in range(4)))

    asyncio.run(burst())
    assert len(fake_slack.named("chat.postMessage")) == 4
    assert fake_slack.throttled == 0


def test_slack_sends_every_row_while_telegram_is_still_on_the_first(app):
    """Rows are leased ahead of the slowest platform: Slack is not held back by the rows
    Telegram has not sent yet (nor by the first batch's)."""
    slack, telegram = Platform("slack"), Telegram()
    keys = queue_rows(app, 60)  # north, south and amira in turn

    async def sweep() -> int:
        telegram.hold = asyncio.Event()  # Telegram's channel posts wait until released
        sweeping = asyncio.create_task(deliver_due(app.engine, app.clock, [slack, telegram]))
        for _ in range(1000):  # bounded: until Slack has sent every row
            if len(slack.sent) == len(keys):
                break
            await asyncio.sleep(0.01)
        ahead = len(slack.sent)
        telegram.hold.set()
        await sweeping
        return ahead

    assert asyncio.run(sweep()) == len(keys), "Slack waited for Telegram"
    assert_once_each([slack], keys, app)
    assert sorted(telegram.sent) == sorted(keys) and set(telegram.sent.values()) == {1}
