"""Routes and cover in the weekly status and the evidence pack; `cover REF @handle` and the
Cover… button end to end through Slack and Telegram (the fakes)."""
from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from handlers.export import build_pack
from storage.models import Team
from tests.conftest import (MORNING, SLACK_USERS, TG_USERS, command, contact, deliver, link,
                            post, pressed, run, tapped, typed)
from tests.fakes.servers import wait_for

GAP = "N-20261124-003"  # C-9X2P: no one assigned in the demo day


def _routes_by_nine(app) -> None:
    for key in ("north", "south"):
        link(app.engine, team={"routes_by": "09:00"}, people={}, key=key)


def _week(app) -> None:
    """North: Monday's routes confirmed late (09:30), Tuesday's on time (08:00); South: never.
    Two covers in North on Tuesday."""
    _routes_by_nine(app)
    app.clock.set(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert run(app, "amira", "routes ok").ok
    app.clock.set(MORNING)
    assert run(app, "amira", "routes ok").ok
    assert run(app, "amira", "cover C-9X2P @ben").ok
    assert run(app, "amira", "cover C-9X2P @chloe").ok
    app.clock.set(MORNING.replace(hour=10))


def test_weekly_status_says_routes_days_and_covers_per_team(app):
    _week(app)
    text = run(app, "dan", "status").plain()
    north, south = text.split("South Community Team")[0], text.split("South Community Team")[1]
    assert "Routes confirmed: 1 day on time · 1 late · 0 not confirmed" in north
    assert "Cover for gaps: 2 contacts covered" in north
    south = south.split("All teams")[0]
    assert "Routes confirmed: 0 days on time · 0 late · 2 not confirmed" in south
    assert "Cover for gaps: 0 contacts covered" in south
    assert "Cover for gaps: 2 contacts covered" in text.split("All teams")[1]


def test_the_routes_reminder_time_not_yet_passed_is_not_a_miss(app):
    _routes_by_nine(app)
    text = run(app, "erin", "status").plain()  # 08:00 Tuesday: Monday missed, today not yet
    assert "Routes confirmed: 0 days on time · 0 late · 1 not confirmed" in text


def _csv(folder, name: str) -> list[dict]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_the_pack_lists_each_days_routes_and_each_cover(app, tmp_path):
    _week(app)
    with Session(app.engine) as session:
        teams = list(session.exec(select(Team).order_by(Team.id)))
        build_pack(session, teams, date(2026, 11, 23), date(2026, 11, 24), app.clock.now(),
                   app.clock.now().tzinfo, tmp_path / "pack")
    routes = _csv(tmp_path / "pack", "routes")
    assert [(r["team"], r["day"], r["result"], r["confirmed_by"]) for r in routes] == [
        ("north", "2026-11-23", "late", "amira"), ("north", "2026-11-24", "on time", "amira"),
        ("south", "2026-11-23", "not confirmed", ""), ("south", "2026-11-24", "not confirmed", "")]
    covers = _csv(tmp_path / "pack", "covers")
    assert [(c["contact_id"], c["client_ref"], c["covered_by"], c["previous_assignee"], c["by"])
            for c in covers] == [(GAP, "C-9X2P", "ben", "", "amira"),
                                 (GAP, "C-9X2P", "chloe", "ben", "amira")]
    report = (tmp_path / "pack" / "report.html").read_text(encoding="utf-8")
    section = report[report.index('<section id="routes">'):]
    assert "Routes and cover for gaps" in section and "not confirmed" in section
    assert "<td>C-9X2P</td>" in section
    assert "on time when `routes ok` came by the team&#39;s routes_by time" in section


# ---- Slack and Telegram: the list updated in place, the person told by DM


def assert_covered(before: str, after: str) -> None:
    """C-9X2P was among the 5 gaps of the list; now it is Ben's and 4 gaps are left."""
    assert "Needs cover: no one assigned (5)" in before
    assert "C-9X2P" in before.split("Needs cover")[1]
    assert "Needs cover: no one assigned (4)" in after
    assert "C-9X2P" in after.split("Needs cover")[0]  # under Ben Okafor now
    assert "C-9X2P" not in after.split("Needs cover")[1]


def _dm_text(call: dict) -> str:
    return json.dumps(call.get("blocks") or call.get("text"), ensure_ascii=False)


def test_slack_cover_updates_the_morning_post_and_dms_the_person(slack_env):
    app, fake, api, bot = slack_env
    bot.call(app.run_job("morning", "north"))
    [posted] = wait_for(lambda: fake.named("chat.postMessage"), "morning post")
    assert "Cover…" in json.dumps(posted["blocks"], ensure_ascii=False)
    body = post(bot, command(api, "cover C-9X2P @ben")).json()
    assert body["text"].startswith("C-9X2P is now covered by Ben Okafor")
    assert contact(app.engine, GAP).assignee_id is not None
    [update] = wait_for(lambda: fake.named("chat.update"), "chat.update")
    assert update["channel"] == "C0NORTH01" and update["ts"] == posted.get("ts", update["ts"])
    assert_covered(json.dumps(posted["blocks"], ensure_ascii=False),
                   json.dumps(update["blocks"], ensure_ascii=False))
    dms = wait_for(lambda: [m for m in fake.named("chat.postMessage")
                            if m["channel"] != "C0NORTH01"], "the DM")
    assert dms[0]["channel"] == "D" + SLACK_USERS["ben"]
    assert "carebot: a contact for you" in _dm_text(dms[0]) and "C-9X2P" in _dm_text(dms[0])


def test_slack_cover_button_offers_the_staff_and_the_pick_covers(slack_env):
    app, fake, api, bot = slack_env
    bot.call(app.run_job("morning", "north"))
    wait_for(lambda: fake.named("chat.postMessage"), "morning post")
    post(bot, pressed(api, "cover:C-9X2P"))
    picker = wait_for(lambda: fake.named("response_url"), "the picker")[0]
    options = [o["value"] for b in picker["blocks"] if b["type"] == "actions"
               for e in b["elements"] for o in e.get("options", [])]
    assert {"cover:C-9X2P:amira", "cover:C-9X2P:ben", "cover:C-9X2P:chloe"} <= set(options)
    post(bot, pressed(api, "cover:C-9X2P:chloe", ephemeral=True, trigger="t-3"))
    wait_for(lambda: fake.named("chat.update"), "chat.update")
    with Session(app.engine) as session:
        from storage.models import Person
        chloe = session.exec(select(Person).where(Person.handle == "chloe")).one()
    assert contact(app.engine, GAP).assignee_id == chloe.id


def test_telegram_cover_edits_the_list_and_dms_the_person(tg):
    app, fake, bot = tg
    bot.call(app.run_job("morning", "north"))
    [posted] = wait_for(lambda: fake.named("sendMessage"), "morning post")
    assert deliver(bot, typed("/cover C-9X2P @ben")) == 200
    [edit] = wait_for(lambda: fake.named("editMessageText"), "the list edited")
    assert edit["chat_id"] == posted["chat_id"]
    assert edit["message_id"] == posted.get("message_id", edit["message_id"])
    assert_covered(posted["text"], edit["text"])
    dm = wait_for(lambda: [m for m in fake.named("sendMessage") if m["chat_id"] == TG_USERS["ben"]],
                  "the DM")[0]
    assert dm["text"].startswith("carebot: a contact for you") and "C-9X2P" in dm["text"]


def test_telegram_cover_button_offers_the_staff_and_the_tap_covers(tg):
    app, fake, bot = tg
    deliver(bot, tapped("cover:C-9X2P"))
    picker = wait_for(lambda: fake.named("sendMessage"), "the picker")[0]
    choices = [b["callback_data"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert {"cover:C-9X2P:ben", "cover:C-9X2P:chloe"} <= set(choices)
    deliver(bot, tapped("cover:C-9X2P:ben", reply_to=500))
    assert contact(app.engine, GAP).assignee_id is not None
    wait_for(lambda: [m for m in fake.named("sendMessage") if m["chat_id"] == TG_USERS["ben"]],
             "the DM")
