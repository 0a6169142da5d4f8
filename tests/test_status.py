"""Weekly status: an 8-week seeded history whose figures are computed by hand below; the
report's numbers must equal them, the chart is a PNG with one point per week, and the Monday
09:00 report reaches the managers once."""
from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlmodel import Session, select

from storage.models import (Action, ActionEvidence, Client, Contact, Escalation, Incident,
                            LearningAck, LearningPoint, MedsDuty, MedsException, Person, Team)
from tests.conftest import run

LONDON = ZoneInfo("Europe/London")
FIRST_MONDAY = date(2026, 9, 28)  # 8 weeks: w/c 28 Sep … w/c 16 Nov ("last week")
# Per week (10 planned each): missed, not recorded; done is the rest; one done in odd weeks
# is late (outside the contract window).
MISSED = [4, 4, 3, 3, 2, 2, 1, 1]
UNRECORDED = [1, 1, 1, 0, 0, 0, 0, 0]
# By hand, for "last week" (w/c 16 Nov, week 7):
#   planned 10, missed 1, not recorded 0, done 9, on time 8 → rate 10.0 %, on time 88.9 %
#   previous 4 weeks (weeks 3–6): (3+2+2+1) / 40 = 20.0 %  → ▼ 10.0 pts
#   baseline, first 4 weeks (weeks 0–3): (5+5+4+3) / 40 = 42.5 % → ▼ 32.5 pts
WEEKLY_RATES = [50.0, 50.0, 40.0, 30.0, 20.0, 20.0, 10.0, 10.0]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


def seed(engine) -> None:
    with Session(engine) as s:
        north = s.exec(select(Team).where(Team.key == "north")).one()
        people = {p.handle: p for p in s.exec(select(Person))}
        for week in range(8):
            wednesday = FIRST_MONDAY + timedelta(weeks=week, days=2)
            done = 10 - MISSED[week] - UNRECORDED[week]
            statuses = (["missed"] * MISSED[week] + ["open"] * UNRECORDED[week] + ["done"] * done)
            for n, status in enumerate(statuses):
                client = Client(ref=f"C-W{week}N{n}", risk="low")
                s.add(client)
                s.flush()
                late = status == "done" and week % 2 == 1 and n == len(statuses) - 1
                s.add(Contact(
                    source_id=f"w{week}-{n}", client_id=client.id, team_id=north.id,
                    kind="home_visit", due_start=at(wednesday, 10), due_end=at(wednesday, 12),
                    status=status,
                    reason_code=("staffing" if week == 7 else ["hospital", "no_reply"][n % 2])
                    if status == "missed" else None,
                    outcome_at=at(wednesday, 13 if late else 11) if status != "open" else None))
        last_week = date(2026, 11, 16)
        # medicines: 2 late entries last week, 1 the week before
        for i, day in enumerate([last_week + timedelta(days=1), last_week + timedelta(days=3),
                                 last_week - timedelta(days=2)]):
            duty = MedsDuty(duty_id=f"D-{i}", team_id=north.id, round="evening",
                            client_ref=f"C-M{i}", due_at=at(day, 18), status="late")
            s.add(duty)
            s.flush()
            s.add(MedsException(duty_id=duty.id, team_id=north.id, kind="late", reason="handover",
                                action="given at 19:10", informed="GP", at=at(day, 19),
                                by_id=people["amira"].id))
        # incidents opened last week: closed in time, closed late, still in its clock
        for ref, opened, closed in [("INC-1", at(last_week, 9), at(last_week + timedelta(days=3), 9)),
                                    ("INC-2", at(last_week, 10), at(last_week + timedelta(days=8), 9)),
                                    ("INC-3", at(last_week + timedelta(days=6), 9), None)]:
            s.add(Incident(ref=ref, team_id=north.id, category="falls", opened_at=opened,
                           opened_by_id=people["amira"].id, review_due_at=opened,
                           due_at=opened + timedelta(days=7), state="closed" if closed else "open",
                           closed_at=closed))
        # learning: 2 points last week for north's 5 people; 3 + 1 read them
        for text, readers in [("Check bed rails", ["amira", "ben", "chloe"]), ("Handover at 19:00", ["amira"])]:
            point = LearningPoint(team_id=north.id, text=text, at=at(last_week, 9),
                                  by_id=people["amira"].id)
            s.add(point)
            s.flush()
            for handle in readers:
                s.add(LearningAck(point_id=point.id, person_id=people[handle].id,
                                  at=at(last_week, 10), via="console"))
        # escalations last week: acknowledged after 4 and 10 minutes, and one still open
        for i, minutes in enumerate([4, 10, None]):
            opened = at(last_week + timedelta(days=i), 11)
            s.add(Escalation(team_id=north.id, subject=f"contact:x{i}", trigger="reconcile",
                             ref=f"C-E{i}", summary="open", opened_at=opened, opened_by="scheduler",
                             state="open" if minutes is None else "acknowledged",
                             open_subject=f"contact:x{i}",
                             acked_at=opened + timedelta(minutes=minutes) if minutes else None))
        # actions: one overdue (red), one green, one closed
        for title, due, state in [("Rota gaps", date(2026, 11, 20), "open"),
                                  ("Evening meds", date(2027, 1, 5), "open"),
                                  ("Care plans", date(2026, 11, 10), "closed")]:
            action = Action(team_id=north.id, title=title, owner_id=people["amira"].id,
                            risk="other", due=due, next_review=date(2026, 11, 30), state=state,
                            created_at=at(date(2026, 10, 1), 9), created_by_id=people["dan"].id)
            s.add(action)
            s.flush()
            s.add(ActionEvidence(action_id=action.id, kind="audit", text="audit", at=action.created_at,
                                 by_id=people["amira"].id))
        s.commit()


@pytest.fixture
def config_path(tmp_path):
    """The demo config, with rates shown from 5 contacts (the seeded weeks have 10 each, 9 done)."""
    from bot.demo import CONFIG

    path = tmp_path / "carebot.toml"
    path.write_text(CONFIG.replace('timezone = "Europe/London"\n',
                                   'timezone = "Europe/London"\nmin_contacts_for_rate = 5\n', 1),
                    encoding="utf-8")
    return path


@pytest.fixture
def seeded(app, tmp_path, monkeypatch):
    seed(app.engine)
    run(app, "dan", "meds baseline 10")
    return app


def test_status_numbers_equal_the_hand_computed_ones(seeded):
    reply = run(seeded, "dan", "status team north last week")
    assert reply.ok, reply.plain()
    lines = reply.plain().splitlines()
    assert lines[0] == "Weekly status · Mon 16 Nov – Sun 22 Nov 2026"
    body = lines[lines.index("North Community Team") + 1:]
    assert body[:9] == [
        "10 planned · 9 done · 1 missed · 0 not recorded",
        "Missed-visit rate 10.0 %: ▼ 10.0 pts vs previous 4 weeks 20.0 %; "
        "▼ 32.5 pts vs baseline (first 4 weeks) 42.5 %",
        "On time (within the contract window): 88.9 % of done",
        "Missed reasons: staffing 1",
        "Medicines late entries: 2 (2.0/week, -80 % vs baseline 10; target 2.0/week) · "
        "duties not recorded: 0",
        "Incidents learned from within 7 days: 1 of 3 (33 %); 1 still in clock",
        "Learning points: 2, read 4 of 10 (40 %)",
        "Escalations: 3 opened · 2 acknowledged, median 7 min · 1 open now (3 unresolved)",
        "CAP actions: 🔴 1 red · 🟠 0 amber · 🟢 1 green · 🔵 1 closed",
    ]


def test_chart_is_a_png_with_one_point_per_week(seeded):
    reply = run(seeded, "dan", "status team north last week")
    [chart] = reply.files
    assert chart.mime == "image/png" and chart.title.startswith("North Community Team")
    with open(chart.path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    image = Image.open(chart.path)
    image.verify()
    text = Image.open(chart.path).text["Description"]
    weeks, missed, _ = text.split("; ")
    assert weeks == "weeks: " + ", ".join((FIRST_MONDAY + timedelta(weeks=i)).isoformat()
                                          for i in range(8))
    assert missed == "missed or not recorded: " + ", ".join(f"{r:.1f}" for r in WEEKLY_RATES)


def test_a_manager_sees_each_team_and_all_teams(seeded):
    text = run(seeded, "dan", "status last week").plain()
    assert "\nSouth Community Team\n0 planned · 0 done · 0 missed · 0 not recorded" in text
    overall = text[text.index("\nAll teams\n"):]
    assert "10 planned · 9 done · 1 missed · 0 not recorded" in overall
    assert "CAP actions: 🔴 1 red · 🟠 0 amber · 🟢 1 green · 🔵 1 closed" in overall


def test_each_teams_side_figures_stay_its_own_in_one_report(seeded):
    # South gets one escalation last week, acknowledged after 20 minutes; North keeps its own.
    with Session(seeded.engine) as s:
        south = s.exec(select(Team).where(Team.key == "south")).one()
        opened = at(date(2026, 11, 18), 11)
        s.add(Escalation(team_id=south.id, subject="contact:s1", trigger="reconcile", ref="C-S1",
                         summary="open", opened_at=opened, opened_by="scheduler",
                         state="acknowledged", open_subject="contact:s1",
                         acked_at=opened + timedelta(minutes=20)))
        s.commit()
    text = run(seeded, "dan", "status last week").plain()
    north = text[text.index("\nNorth Community Team\n"):text.index("\nSouth Community Team\n")]
    south = text[text.index("\nSouth Community Team\n"):text.index("\nAll teams\n")]
    overall = text[text.index("\nAll teams\n"):]
    assert ("Escalations: 3 opened · 2 acknowledged, median 7 min · 1 open now (3 unresolved)"
            in north)
    assert ("Escalations: 1 opened · 1 acknowledged, median 20 min · 0 open now (1 unresolved)"
            in south)
    assert "Escalations: 4 opened · 3 acknowledged, median 10 min" in overall
    assert "Missed reasons: staffing 1" in north and "staffing" not in south


@pytest.mark.parametrize("line, says", [
    ("status since blah", "can't read 'blah' as a date"),
    ("status team zzz", "No team 'zzz'"),
    ("status since 1 Dec 2026", "is in the future"),
])
def test_bad_periods_get_one_line(seeded, line, says):
    reply = run(seeded, "dan", line)
    assert not reply.ok and says in reply.plain() and "Example" in reply.plain()


def test_staff_cannot_ask_and_supervisors_see_their_own_team(seeded):
    assert not run(seeded, "ben", "status").ok
    text = run(seeded, "amira", "status last week").plain()
    assert "North Community Team" in text and "South" not in text and "All teams" not in text
    assert not run(seeded, "amira", "status team south").ok


def test_monday_report_goes_to_each_manager_once_with_its_chart(seeded):
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    seeded.clock.set(monday)
    assert asyncio.run(seeded.run_job("weekly_status", "north"))
    # South's job at the same time finds Dan's report already sent; so does a rerun.
    assert not asyncio.run(seeded.run_job("weekly_status", "south"))
    assert not asyncio.run(seeded.run_job("weekly_status", "north"))
    dms = [(h, r) for h, r in seeded.transports[0].dms if r.files]
    assert [h for h, _ in dms] == ["dan"]
    text = dms[0][1].plain()
    assert text.splitlines()[0] == "Weekly status · Mon 23 Nov – Sun 29 Nov 2026"
    assert "\nNorth Community Team\n" in text and "\nSouth Community Team\n" in text
    assert "\nAll teams\n" in text
    assert dms[0][1].files[0].filename.endswith(".png")


def test_a_report_of_many_teams_fits_both_platforms(seeded):
    from messages import slack, telegram
    from storage import cache

    with Session(seeded.engine) as s:
        for i in range(60):
            s.add(Team(key=f"extra{i}", name=f"Extra Team {i}"))
        s.commit()
    cache.clear()  # teams come from a config sync, which moves the cached config on
    reply = run(seeded, "grace", "status last week")  # the nominated individual sees every team
    assert reply.plain().count("\nCAP actions:") == 63  # north, south, 60 more, all teams
    messages = telegram.render(reply)
    assert len(messages) > 1 and all(len(m.text) <= 4096 for m in messages)
    assert sum(m.text.count("CAP actions:") for m in messages) == 63  # split, nothing lost
    blocks = slack.render(reply)["blocks"]
    assert len(blocks) <= 50
    assert sum(b.get("text", {}).get("text", "").count("CAP actions:") for b in blocks) == 63


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 11, 24)))
def test_any_past_day_names_its_monday_to_sunday_week(day):
    from handlers.status import period_from

    now = datetime(2026, 11, 24, 8, 0, tzinfo=LONDON)
    period = period_from(f"week of {day:%-d %B %Y}", now.date(), now, LONDON)
    assert period.first.weekday() == 0 and period.first <= day <= period.last
    assert (period.last - period.first).days == 6 or period.last == now.date()


def test_contacts_still_within_their_window_are_not_counted_as_missed(seeded):
    lines = run(seeded, "amira", "status").plain().splitlines()
    assert lines[3] == "14 planned · 0 done · 0 missed · 0 not recorded · 14 still due"
    assert lines[0] == "Weekly status · Mon 23 Nov – Tue 24 Nov 2026 so far (to Tue 08:00)"
    assert lines[4] == "Missed or not recorded: 0 of 0 due (no rate or trend on fewer than 5 contacts)"
    run(seeded, "amira", "done C-2M9Q")
    run(seeded, "amira", "missed C-7F3K hospital")
    seeded.clock.set(datetime(2026, 11, 24, 20, 0, tzinfo=LONDON))  # every window has closed
    lines = run(seeded, "amira", "status").plain().splitlines()
    assert lines[3] == "14 planned · 1 done · 1 missed · 12 not recorded"
    assert lines[4].startswith("Missed-visit rate 92.9 %")  # 13 of 14
