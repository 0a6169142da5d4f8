"""Protected medicines: round posts, exceptions with all three fields, time-critical pages,
the daily check and the weekly trend."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.config import ConfigError, load_config
from bot.console import Console
from bot.demo import CONFIG
from storage.importer import ImportRejected
from storage.medicines import MEDS_COLUMNS, import_meds
from storage.models import AuditEvent, Escalation, EscalationEvent, MedsCheck, MedsDuty, \
    MedsException, Person
from tests.conftest import count, run, write_csv

ROUNDS = ('meds_rounds = [{name = "morning", time = "08:00", lead = "ben"}, '
          '{name = "evening", time = "18:00", lead = "chloe"}]\nmeds_baseline = 10\n')


def meds_config(text: str = CONFIG) -> str:
    """The demo config with North's medicines rounds (lead: Ben in the morning)."""
    return text.replace('reconcile = "17:30"\n', 'reconcile = "17:30"\n' + ROUNDS, 1)


@pytest.fixture
def config_path(tmp_path) -> Path:
    path = tmp_path / "carebot.toml"
    path.write_text(meds_config(), encoding="utf-8")
    return path


def write_meds(path: Path, rows: list[dict]) -> Path:
    return write_csv(path, rows, MEDS_COLUMNS)


def duty(duty_id, due, round="morning", ref="C-7F3K", critical="false", team="north"):
    return {"duty_id": duty_id, "team": team, "round": round, "client_ref": ref, "due_at": due,
            "window_minutes": "30", "time_critical": critical}


TODAY = [duty("D-14", "2026-11-24T08:00", critical="true"),
         duty("D-15", "2026-11-24T08:30", ref="C-2M9Q"),
         duty("D-16", "2026-11-24T18:00", round="evening", ref="C-9X2P")]


@pytest.fixture
def meds_app(app, tmp_path):
    import_meds(app.engine, write_meds(tmp_path / "meds.csv", TODAY))
    return app


def tick(app, minutes: int) -> None:
    asyncio.run(Console(app, "amira").advance(app.clock.now() + timedelta(minutes=minutes)))


def posts(app) -> list[str]:
    asyncio.run(app.deliver())
    return [reply.plain() for _, reply in app.transports[0].posts]


def dms(app) -> list[tuple[str, str]]:
    asyncio.run(app.deliver())
    return [(handle, reply.plain()) for handle, reply in app.transports[0].dms]


# ---------------------------------------------------------------- import and config


def test_import_is_idempotent_and_a_bad_file_is_rejected_whole(app, tmp_path):
    path = write_meds(tmp_path / "m.csv", TODAY)
    first = import_meds(app.engine, path)
    again = import_meds(app.engine, path)
    assert (first.inserted, again.inserted, again.unchanged) == (3, 0, 3)
    bad = write_meds(tmp_path / "bad.csv", [duty("D-20", "2026-11-24T08:00"),
                                            duty("D-21", "tomorrow", round="lunch"),
                                            duty("D-22", "2026-11-24T08:00", team="west")])
    with pytest.raises(ImportRejected) as exc:
        import_meds(app.engine, bad)
    assert len(exc.value.problems) == 2
    assert "line 3" in exc.value.problems[0] and "round 'lunch'" in exc.value.problems[0]
    assert "due_at 'tomorrow'" in exc.value.problems[0]
    assert "line 4: unknown team 'west'" in exc.value.problems[1]
    assert count(app.engine, MedsDuty) == 3  # D-20 rolled back with the rest


def test_config_names_a_round_lead_who_does_not_exist(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(meds_config().replace('lead = "ben"', 'lead = "bob"'), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any("teams[0].meds_rounds[0].lead: unknown person 'bob'" in p for p in exc.value.problems)


# ---------------------------------------------------------------- the round post


def test_round_post_lists_refs_lead_and_time_critical_once_per_round(meds_app):
    meds_app.clock.set(meds_app.clock.now() - timedelta(minutes=31))  # 07:29
    tick(meds_app, 2)  # 07:30: 30 minutes before the morning round
    tick(meds_app, 60)
    [post] = [p for p in posts(meds_app) if "medicines round" in p]
    first, _, second = post.splitlines()[:3]  # the plain renderer rules off the header
    assert first == "North Community Team: morning medicines round Tue 24 Nov"
    assert second.startswith("Protected medicines lead: Ben Okafor · 2 duties")
    assert "⚠ D-14 · C-7F3K · due 08:00 (±30 min) · time-critical" in post
    assert "D-15 · C-2M9Q · due 08:30" in post and "C-9X2P" not in post  # evening round
    # Its example names this round's own duty, not a fixed sample (and no made-up name).
    assert post.splitlines()[-1].endswith(
        "Log: meds done D-14 · meds late D-14 REASON action=WHAT WAS DONE informed=WHO")
    buttons = [b.action for _, r in meds_app.transports[0].posts for blk in r.blocks
               for b in blk.buttons]
    assert "meds_done:D-14" in buttons and "meds_late:D-14" in buttons
    assert asyncio.run(meds_app.run_job("meds_round", "north")) is False  # once per day


# ---------------------------------------------------------------- recording


def test_given_by_button_and_twice_changes_nothing(meds_app):
    assert "D-14 given" in run(meds_app, "ben", "meds done D-14").plain()
    assert "already recorded given" in run(meds_app, "ben", "meds done d-14").plain()
    with Session(meds_app.engine) as s:
        assert s.exec(select(MedsDuty).where(MedsDuty.duty_id == "D-14")).one().status == "given"
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "meds:given")).all()) == 1


@pytest.mark.parametrize("line,missing", [
    ("meds late D-15", "needs the reason, the immediate action (action=…), who was informed"),
    ('meds late D-15 handover delay informed="Dr Shah"', "needs the immediate action (action=…)."),
    ('meds late D-15 handover action="given 08:50"', "needs who was informed (informed=…)."),
    ('meds late D-15 action="given 08:50" informed=GP', "needs the reason."),
])
def test_exception_with_a_missing_field_asks_for_it_and_writes_nothing(meds_app, line, missing):
    reply = run(meds_app, "ben", line)
    assert not reply.ok
    text = reply.plain()
    assert text.startswith("Nothing saved yet: a late entry for D-15 " + missing.split(".")[0])
    assert "Example: meds late D-15" in text and len(text.splitlines()) == 1
    assert count(meds_app.engine, MedsException) == 0
    with Session(meds_app.engine) as s:
        assert s.exec(select(MedsDuty).where(MedsDuty.duty_id == "D-15")).one().status == "open"


def test_exception_with_all_three_is_one_row(meds_app):
    line = 'meds late D-15 handover delay action="given 08:50, GP told" informed="Dr Shah"'
    assert "logged late" in run(meds_app, "ben", line).plain()
    assert "already recorded late" in run(meds_app, "ben", line).plain()
    with Session(meds_app.engine) as s:
        [row] = s.exec(select(MedsException)).all()
        assert (row.kind, row.reason, row.action, row.informed) == (
            "late", "handover delay", "given 08:50, GP told", "Dr Shah")


def test_late_button_prompts_for_all_three(meds_app):
    from handlers.base import Actor, Chat, Command
    from handlers.dispatch import dispatch
    from handlers.grammar import split_action

    verb, *args = split_action("meds_late:D-15")
    reply = dispatch(meds_app.engine, meds_app.clock,
                     Command(Actor("console", "ben"), Chat("console", None), verb, args,
                             from_button=True))
    assert not reply.ok and "needs the reason" in reply.plain()
    assert count(meds_app.engine, MedsException) == 0


def test_unknown_duty_and_unknown_user_write_nothing(meds_app):
    assert "No medicines duty 'D-99'" in run(meds_app, "ben", "meds done D-99").plain()
    assert "doesn't know you" in run(meds_app, "zed", "meds done D-14").plain()
    assert count(meds_app.engine, AuditEvent, AuditEvent.action.like("meds:%")) == 0


def test_meds_lists_today_without_drug_names(meds_app):
    text = run(meds_app, "chloe", "meds").plain()
    assert "morning: ⚠ D-14 · C-7F3K" in text and "evening: D-16 · C-9X2P" in text


# ---------------------------------------------------------------- time-critical pages


def test_time_critical_unrecorded_pages_the_lead_then_the_chain(meds_app):
    run(meds_app, "ben", "meds done D-15")
    tick(meds_app, 29)
    assert count(meds_app.engine, Escalation) == 0
    tick(meds_app, 1)  # 08:30: 30 minutes after D-14 was due
    first = dms(meds_app)
    assert first[0][0] == "ben"  # the round's protected lead first
    assert first[0][1].splitlines()[0] == \
        "carebot: time-critical medicines not recorded — North Community Team"
    assert "C-7F3K" in first[0][1] and "named lead" in first[0][1]
    tick(meds_app, 45)  # 3 pages of 15 minutes each for Ben, then the on-call lead
    with Session(meds_app.engine) as s:
        paged = s.exec(select(Person.handle, EscalationEvent.level).join(
            Person, Person.id == EscalationEvent.person_id)
            .where(EscalationEvent.kind == "paged").order_by(EscalationEvent.id)).all()
    assert [h for h, _ in paged] == ["ben", "ben", "ben", "amira"]
    # Recording the duty, late, settles the escalation: the pages stop and Ben hears why.
    run(meds_app, "amira", "meds late D-14 pharmacy delay action=given at 09:20 informed=GP")
    tick(meds_app, 60)
    with Session(meds_app.engine) as s:
        assert s.exec(select(Escalation.state)).one() == "resolved"
        assert len(s.exec(select(EscalationEvent).where(EscalationEvent.kind == "paged")).all()) == 4
    assert any("resolved by Amira Khan: duty recorded late" in t for h, t in dms(meds_app) if h == "ben")


def test_recorded_in_time_pages_nobody(meds_app):
    run(meds_app, "ben", "meds done D-14")
    tick(meds_app, 120)
    assert count(meds_app.engine, Escalation) == 0


# ---------------------------------------------------------------- daily check


def test_daily_check_is_prompted_chased_once_and_recorded(meds_app):
    tick(meds_app, 60)  # 09:00: the prompt
    assert any(p.startswith("North Community Team: daily medicines check, morning round")
               for p in posts(meds_app))
    tick(meds_app, 120)  # 11:00: still missing, the lead is chased
    chases = [(h, t) for h, t in dms(meds_app) if "check missing" in t]
    assert [h for h, _ in chases] == ["ben"]
    assert chases[0][1].splitlines()[0] == \
        "carebot: daily medicines check missing — North Community Team"
    bad = run(meds_app, "ben", "meds check morning no")
    assert not bad.ok and "say briefly what happened" in bad.plain()
    assert count(meds_app.engine, MedsCheck) == 0
    assert "times met ✓" in run(meds_app, "ben", "meds check morning yes").plain()
    assert "updated" in run(meds_app, "ben", "meds check morning no pharmacy late").plain()
    assert count(meds_app.engine, MedsCheck) == 1


def test_no_prompt_after_the_check_period(meds_app):
    meds_app.clock.set(meds_app.clock.now() + timedelta(days=14))
    tick(meds_app, 60)
    assert not any("daily medicines check" in p for p in posts(meds_app))


# ---------------------------------------------------------------- baseline and trend


def test_baseline_is_for_managers(meds_app):
    assert "Only managers" in run(meds_app, "ben", "meds baseline 5").plain()
    assert "not a number" in run(meds_app, "dan", "meds baseline lots").plain()
    assert "set to 12 late entries" in run(meds_app, "dan", "meds baseline 12").plain()
    assert count(meds_app.engine, AuditEvent, AuditEvent.action == "meds:baseline") == 1


def test_trend_of_eight_seeded_weeks_matches_a_hand_computed_expectation(app, tmp_path):
    # Eight full weeks from Monday 28 Sep 2026 with 10, 9, 8, 6, 5, 4, 3, 2 late entries.
    late = [10, 9, 8, 6, 5, 4, 3, 2]
    rows, n = [], 0
    from datetime import date
    for week, k in enumerate(late):
        for i in range(k + 1):  # one on-time duty a week as well
            n += 1
            day = date(2026, 9, 28) + timedelta(weeks=week, days=i % 7)
            rows.append(duty(f"T-{n}", f"{day}T08:00"))
    import_meds(app.engine, write_meds(tmp_path / "t.csv", rows))
    with Session(app.engine) as s:
        ids = [d.duty_id for d in s.exec(select(MedsDuty).order_by(MedsDuty.id))]
    done, on_time = 0, []
    for week, k in enumerate(late):
        for i in range(k + 1):
            done += 1
            if i < k:
                run(app, "ben", f'meds late T-{done} busy action=given informed=nurse')
            else:
                on_time.append(f"T-{done}")
    # The on-time duties are not recorded yet: they count beside the late ones, and the
    # trend will not say "on track" although the late entries alone meet the target.
    text = run(app, "amira", "meds trend").plain()
    assert "Week of Mon 16 Nov: 2 late · 1 not recorded (target ≤ 2.0)" in text
    assert "Last full week vs baseline: -80% · not on track ⚠: 1 not recorded" in text
    assert "8 duties not recorded by the end of their day" in text and "on track ✓" not in text
    now = app.clock.now()
    with Session(app.engine) as s:
        due = {d.duty_id: d.due_at for d in s.exec(select(MedsDuty))}
    for duty_id in on_time:  # recorded at their due time: given, in time
        app.clock.set(due[duty_id])
        assert "given" in run(app, "ben", f"meds done {duty_id}").plain()
    app.clock.set(now)
    text = run(app, "amira", "meds trend").plain()
    # Hand computed: target line 10 × (1 − 0.8 × i/8) = 9, 8, 7, 6, 5, 4, 3, 2 for weeks 1–8.
    assert "Baseline 10/week · target -80% (2.0/week) in 8 weeks" in text
    expected = ["Week of Mon 28 Sep: 10 late (target ≤ 9.0)", "Week of Mon 5 Oct: 9 late (target ≤ 8.0)",
                "Week of Mon 12 Oct: 8 late (target ≤ 7.0)", "Week of Mon 19 Oct: 6 late (target ≤ 6.0)",
                "Week of Mon 26 Oct: 5 late (target ≤ 5.0)", "Week of Mon 2 Nov: 4 late (target ≤ 4.0)",
                "Week of Mon 9 Nov: 3 late (target ≤ 3.0)", "Week of Mon 16 Nov: 2 late (target ≤ 2.0)",
                "Week of Mon 23 Nov: 0 late (target ≤ 2.0)"]
    for line in expected:
        assert line in text
    assert "Last full week vs baseline: -80% · on track ✓" in text  # (2 − 10) / 10
    assert len(ids) == sum(late) + 8


def test_cli_imports_meds_and_rejects_a_bad_file_listing_lines(tmp_path):
    from tests.test_cli import carebot

    assert carebot("demo", "--dir", str(tmp_path), env={}).returncode == 0
    env = {"CAREBOT_CONFIG": str(tmp_path / "carebot.toml"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'carebot.db'}"}
    good = carebot("import", "meds", str(write_meds(tmp_path / "m.csv", TODAY)), env=env)
    assert good.returncode == 0 and good.stdout.strip() == "3 rows: 3 new, 0 updated, 0 unchanged"
    bad = carebot("import", "meds", str(write_meds(tmp_path / "b.csv", [duty("", "x")])), env=env)
    assert bad.returncode == 1 and "b.csv: line 2: duty_id is empty" in bad.stderr
