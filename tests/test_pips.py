"""Staff improvement plans (issue 18 §1, seed 004): a plan's six weeks, all by DM; nobody
else in the team sees it; bad input gets one line and writes nothing."""
from __future__ import annotations

import pytest

from storage.models import AuditEvent, Outbox, Pip, PipTick
from tests.conftest import count
from tests.driver import plain
from tests.test_access import snapshot


def _ok(bot, handle, line, **kw):
    reply = bot.say(handle, line, **kw)
    assert reply.ok, f"{line!r} → {reply.plain()}"
    assert reply.ephemeral, line  # a plan's reply is for the caller alone
    return reply.plain()


PLAN_WORDS = ("P-1", "improvement plan", "rationale", "threshold", "handover read", "obs after tea",
              "near miss", "sickness", "food and fluid", "spot audit")


def _no_posts(bot):
    """No message of a plan ever reaches a team channel: every post (the team's own morning
    lists and end-of-day logs go on) is checked for the plan's ref and words."""
    for team, post in bot.posts():
        text = post.plain().lower()
        assert not [w for w in PLAN_WORDS if w.lower() in text], (team, text)


def test_a_plan_over_six_weeks_is_dms_only_and_private(bot):
    said = _ok(bot, "amira", "pip open @chloe escalation thresholds after two near misses")
    assert said.startswith("Improvement plan P-1 opened for Chloe Price")
    [opened] = plain(bot.dms("chloe"))
    assert opened.startswith("carebot: improvement plan P-1 — opened for you")
    assert "Chloe" not in opened.splitlines()[0]
    said = _ok(bot, "amira", 'pip objective P-1 "Record escalation rationale for any change in '
                             'baseline" by="in 4 weeks" check="weekly notes audit"')
    assert "O1 added: by Tue 22 Dec 2026" in said  # said back as an exact date
    _ok(bot, "amira", 'pip objective P-1 "Notes within 30 minutes" by="in 6 weeks" '
                      'check="observed shifts"')
    _ok(bot, "amira", 'pip checklist P-1 "notes within 30 min; rationale recorded; handover read"')
    told = plain(bot.dms("chloe"))
    assert len(told) == 3 and "1. notes within 30 min" in told[2]
    assert "ack" in _ok(bot, "chloe", "pip ack P-1", chat=None, private=True)
    _ok(bot, "chloe", "pip comment P-1 I want support with the threshold tool")
    to_amira = plain(bot.dms("amira"))
    assert any("I want support with the threshold tool" in dm for dm in to_amira)
    _no_posts(bot)

    reminders = checklists = 0
    for week in range(1, 7):
        for day in range(7):
            bot.advance(days=1)
            for handle, dm in bot.dms():
                text = dm.plain()
                if handle == "chloe" and "today's checklist" in text:
                    checklists += 1
                    ticks = [b.action for blk in dm.blocks for b in blk.buttons]
                    assert ticks and all(a.startswith("pip_tick:1:") for a in ticks)
                    for action in ticks[:2]:  # two of three done, by the DM's buttons
                        _ok(bot, "chloe", action.replace("_", " ").replace(":", " "))
                elif handle == "amira" and "review due" in text:
                    reminders += 1
            if day == 1:
                _ok(bot, "amira", f"pip observe P-1 {'partly' if week < 3 else 'met'} "
                                  "rationale recorded for two changes")
                _ok(bot, "chloe", "pip debrief P-1 rechecked obs after tea, told the nurse")
                _ok(bot, "amira", "pip signoff P-1 notes checked at handover, complete")
        _ok(bot, "amira", f"pip review P-1 O1={'amber' if week < 3 else 'green'} O2=green "
                          f"audit week {week}: 9 of 10 on time")
        _no_posts(bot)
    assert checklists >= 40 and reminders >= 1
    card = _ok(bot, "amira", "pip P-1")
    assert "O1 · Record escalation rationale" in card and "🟢 green" in card
    assert "the 7 days before 14 of 21" in card  # two of three, every day

    # Outcome: the four-part closure summary, asked one part at a time, as for actions.
    assert "1 of 4: What changed?" in _ok(bot, "dan", "pip close P-1 achieved")
    _ok(bot, "dan", "pip close P-1 achieved rationale recorded on every change")
    _ok(bot, "dan", "pip close P-1 achieved measured=weekly notes audit, 6 cycles "
                    "controlled=senior confirmation no longer needed")
    said = _ok(bot, "dan", "pip close P-1 achieved monthly spot audit")
    assert said.startswith("P-1 closed: achieved")
    closed = [dm for handle, dm in plain(bot.dms()) if "— achieved" in dm]
    assert len(closed) == 2 and all("What monitoring continues? monthly spot audit" in dm
                                    for dm in closed)
    _no_posts(bot)
    assert count(bot.engine, Outbox, Outbox.target.like("team:%"), Outbox.key.like("pip%")) == 0
    assert count(bot.engine, PipTick) >= 80
    # Nothing of it in the team's plan or status.
    assert "P-1" not in bot.say("dan", "plan").plain()
    assert "P-1" not in bot.say("dan", "status").plain()


def test_a_staff_member_of_the_same_team_cannot_see_or_touch_the_plan(bot):
    _ok(bot, "amira", "pip open @chloe records of food and fluid")
    _ok(bot, "amira", 'pip objective P-1 "Food and fluid charts complete" by="in 3 weeks" '
                      'check="daily review"')
    bot.dms()
    before = snapshot(bot.engine)
    for line in ("pip P-1", "pip ack P-1", "pip comment P-1 hello", "pip debrief P-1 fine",
                 "pip tick P-1 1", "pip observe P-1 met fine", "pip close P-1 formal x"):
        reply = bot.say("ben", line)
        assert not reply.ok, line
        assert "Chloe" not in reply.plain() and "food" not in reply.plain(), line
    assert bot.say("ben", "pip").plain() == "No improvement plans for you."
    assert snapshot(bot.engine) == before
    assert bot.dms() == [] and bot.posts() == []
    # Another team's supervisor neither.
    assert not bot.say("erin", "pip P-1").ok


def test_a_telegram_group_is_refused_and_slack_replies_are_ephemeral(bot):
    from tests.conftest import link

    link(bot.engine, key="north", team={"telegram_chat": -1001234567890},
         people={"amira": {"telegram_user": 5550001}})
    before = count(bot.engine, Pip)
    reply = bot.say("5550001", "pip open @chloe", transport="telegram", chat="-1001234567890")
    assert not reply.ok and reply.plain().startswith("Improvement plans are private")
    assert count(bot.engine, Pip) == before
    ok = bot.say("5550001", "pip open @chloe", transport="telegram", chat="5550001",
                 private=True)
    assert ok.ok and ok.ephemeral


CASES = [
    ("amira", "pip open", "Say whose plan it is"),
    ("amira", "pip open @femi", "No active colleague '@femi' in your teams"),
    ("amira", "pip open @amira", "You can't open a plan for yourself"),
    ("amira", "pip open @chloe again", "already has an open plan, P-1"),
    ("amira", "pip objective P-1 by=tomorrow check=audit", "Say what must change"),
    ("amira", 'pip objective P-1 "x" check=audit', "Say the date it is due by"),
    ("amira", 'pip objective P-1 "x" by=yesterday check=audit', "is in the past"),
    ("amira", 'pip objective P-1 "x" by="in 2 weeks"', "Say how it will be checked"),
    ("amira", "pip objective P-9 x by=tomorrow check=y", "No improvement plan 'P-9'"),
    ("amira", "pip checklist P-1", "Say the checklist's items"),
    ("amira", "pip observe P-1 great fine", "'great' is not a rating"),
    ("amira", "pip observe P-1 met", "Say what you observed"),
    ("amira", "pip signoff P-1", "Say what was signed off"),
    ("amira", "pip debrief P-1", "Say what the debrief found"),
    ("amira", "pip review P-1 O1=green fine", "has no objectives to review yet"),
    ("amira", "pip close P-1 achieved", "Only managers can use"),
    ("dan", "pip close P-1 maybe", "'maybe' is not an outcome"),
    ("dan", "pip close P-1 achieved", "has no review yet"),
    ("dan", "pip close P-1 formal", "Say the reason"),
    ("dan", "pip close P-1 extend staff sick", "Say the date it is extended to"),
    ("chloe", "pip tick P-1 1", "has no checklist yet"),
    ("chloe", "pip comment P-1", "Say your comment"),
    ("chloe", "pip observe P-1 met fine", "Only supervisors and managers"),
    ("chloe", "pip signoff P-1 fine", "Only supervisors and managers"),
    ("amira", "pip ack P-1", "Only the person whose plan it is"),
    ("amira", "pip comment P-1 hi", "Only the person whose plan it is"),
]


@pytest.mark.parametrize("handle, line, said", CASES)
def test_bad_input_gets_one_clear_line_and_writes_nothing(bot, handle, line, said):
    _ok(bot, "amira", "pip open @chloe")
    bot.dms()
    before = snapshot(bot.engine)
    reply = bot.say(handle, line)
    assert not reply.ok
    text = reply.plain()
    assert said in text and len(text.splitlines()) == 1, text
    assert snapshot(bot.engine) == before


def test_bad_input_once_a_plan_has_objectives_and_a_checklist(bot):
    _ok(bot, "amira", "pip open @chloe")
    _ok(bot, "amira", 'pip objective P-1 "x" by="in 2 weeks" check=audit')
    _ok(bot, "amira", 'pip checklist P-1 "a; b"')
    bot.dms()
    before = snapshot(bot.engine)
    for handle, line, said in [
            ("amira", "pip review P-1 O2=green fine", "P-1 has no O2"),
            ("amira", "pip review P-1 O1=purple fine", "is not red, amber or green"),
            ("amira", "pip review P-1 fine", "missing: O1"),
            ("amira", "pip review P-1 O1=green", "Say the evidence"),
            ("chloe", "pip tick P-1 3", "'3' is not an item"),
            ("chloe", "pip tick P-1 1 2020-01-01", "is not a day you can tick for"),
            ("amira", 'pip checklist P-1 "' + "; ".join("x" * 3 for _ in range(11)) + '"',
             "At most 10 items")]:
        reply = bot.say(handle, line)
        assert not reply.ok and said in reply.plain(), (line, reply.plain())
        assert len(reply.plain().splitlines()) == 1
    assert snapshot(bot.engine) == before


def test_extended_once_with_a_reason_then_referred_to_the_formal_process(bot):
    _ok(bot, "amira", "pip open @chloe")
    said = _ok(bot, "dan", 'pip close P-1 extend by="in 2 weeks" observations delayed by sickness')
    assert said == "P-1 extended once, to Tue 8 Dec 2026. They have a DM."
    reply = bot.say("dan", 'pip close P-1 extend by="in 4 weeks" again')
    assert not reply.ok and "extended once already" in reply.plain()
    assert _ok(bot, "dan", "pip close P-1 formal no sustained improvement").startswith(
        "P-1 closed: referred to the formal process")
    dms = plain(bot.dms("chloe"))
    assert any("Reason: no sustained improvement" in d for d in dms)
    assert not bot.say("amira", "pip observe P-1 met fine").ok  # closed
    assert count(bot.engine, AuditEvent, AuditEvent.action == "pip:formal") == 1
    _no_posts(bot)


def test_the_evidence_pack_holds_plans_only_when_a_manager_asks(bot, tmp_path):
    from zoneinfo import ZoneInfo

    from sqlmodel import Session, select

    from handlers.export import build_pack
    from storage.models import Team

    _ok(bot, "amira", "pip open @chloe escalation thresholds")
    _ok(bot, "amira", 'pip objective P-1 "Record rationale" by="in 4 weeks" check="notes audit"')
    _ok(bot, "amira", "pip observe P-1 partly rationale recorded late once")
    _ok(bot, "amira", "done C-2M9Q")  # the team's own work, in every pack
    day = bot.now.date()
    with Session(bot.engine) as session:
        north = session.exec(select(Team).where(Team.key == "north")).one()
        for folder, include in (("plain", False), ("asked", True)):
            build_pack(session, [north], day, day, bot.now, ZoneInfo("Europe/London"),
                       tmp_path / folder, include_pips=include)
    plain_pack = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "plain").iterdir()
                  if p.suffix in (".csv", ".html")}
    assert "pips.csv" not in plain_pack
    assert "contact:done" in plain_pack["audit.csv"]
    for name, text in plain_pack.items():
        assert "pip:" not in text and "P-1" not in text and "rationale" not in text, name
    asked = tmp_path / "asked"
    assert "chloe" in (asked / "pips.csv").read_text(encoding="utf-8")
    assert "O1" in (asked / "pip_objectives.csv").read_text(encoding="utf-8")
    assert "rationale recorded late once" in (asked / "pip_entries.csv").read_text(encoding="utf-8")
    assert "pip:observe" in (asked / "audit.csv").read_text(encoding="utf-8")
    assert "Staff improvement plans" in (asked / "report.html").read_text(encoding="utf-8")


def test_in_telegram_the_group_is_refused_and_the_checklist_button_ticks_in_the_dm(tg):
    from tests.conftest import DAY, GROUP, TG_USERS, deliver, run, tapped, typed
    from tests.fakes.servers import wait_for

    app, fake, bot = tg
    assert run(app, "amira", "pip open @ben notes").ok
    assert run(app, "amira", 'pip checklist P-1 "notes on time; handover read"').ok
    before = snapshot(app.engine)
    assert deliver(bot, typed("/pip P-1", handle="ben", chat_id=GROUP)) == 200
    assert deliver(bot, typed("/pip ack P-1", handle="ben", chat_id=GROUP)) == 200
    said = wait_for(lambda: len(fake.named("sendMessage")) >= 2 and fake.named("sendMessage"),
                    "the refusals")
    assert all(m["text"].startswith("Improvement plans are private") for m in said), said
    assert snapshot(app.engine) == before
    assert deliver(bot, tapped(f"pip_tick:1:2:{DAY}", handle="ben",
                               chat_id=TG_USERS["ben"])) == 200
    assert count(app.engine, PipTick, PipTick.item == 2) == 1


def test_carebot_export_includes_plans_only_with_the_flag(app, tmp_path):
    from tests.conftest import run
    from tests.test_cli import carebot

    assert run(app, "amira", "pip open @chloe notes").ok
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    for folder, flag in (("plain", ()), ("asked", ("--include-pips",))):
        result = carebot("export", "--from", "2026-11-24", "--to", "2026-11-24", "--out",
                         str(tmp_path / folder), *flag, env=env)
        assert result.returncode == 0, result.stderr
    assert not (tmp_path / "plain" / "pips.csv").exists()
    assert "chloe" in (tmp_path / "asked" / "pips.csv").read_text(encoding="utf-8")


def test_in_a_slack_channel_every_reply_is_ephemeral_and_nothing_is_posted(slack_env):
    from tests.conftest import command, post

    app, fake, api, bot = slack_env
    for i, text in enumerate(("pip open @ben notes late at handover",
                              'pip objective P-1 "Notes on time" by="in 3 weeks" check=audit',
                              "pip P-1", "pip")):
        body = post(bot, command(api, text, trigger=f"t-p{i}")).json()
        assert body["response_type"] == "ephemeral", (text, body)
    assert fake.named("chat.postMessage") == [] or all(
        m.get("channel") != "C0NORTH01" for m in fake.named("chat.postMessage"))
    assert count(app.engine, Pip) == 1
