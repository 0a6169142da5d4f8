"""The monthly governance report: a 3-month fixture (Aug–Oct 2026) whose figures are computed by
hand below; the report's lines must equal them. The job sends last month's report to the
nominated individual on the month's first working day, once; bad months get one line."""
from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlmodel import Session, select

from bot.scheduler import fires_between, trigger
from handlers import jobs
from handlers.monthly import first_working_day, month_start
from storage.models import (Action, Escalation, Incident, LearningAck, LearningPoint, MedsDuty,
                            MedsException, Outbox, Person, Team)
from tests.conftest import count, run
from tests.test_access import access_config

LONDON = ZoneInfo("Europe/London")
NORTH, SOUTH = "North Community Team", "South Community Team"

# Incidents (team, category, opened): by hand, per month May … Oct
#   safeguarding 0·0·0·0·1·1 (flat), falls 0·0·0·1·2·4 (up), medication 0·0·0·1·1·2 (up)
#   all 0·0·0·2·4·7 (up); October by team: North 5, South 2
#   repeats (beyond the first of a category in a team's month): Aug 0, Sep 1 (North falls ×2),
#   Oct 3 (North falls ×3 → 2, North medication ×2 → 1)
# The medication one at 23:30 UTC on 30 Sep is 00:30 on 1 Oct in London: October's.
INCIDENTS = [
    ("north", "falls", datetime(2026, 8, 12, 10, tzinfo=UTC)),
    ("north", "medication", datetime(2026, 8, 20, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 9, 3, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 9, 17, 10, tzinfo=UTC)),
    ("south", "medication", datetime(2026, 9, 9, 10, tzinfo=UTC)),
    ("south", "safeguarding", datetime(2026, 9, 10, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 10, 2, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 10, 14, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 10, 28, 10, tzinfo=UTC)),
    ("south", "falls", datetime(2026, 10, 5, 10, tzinfo=UTC)),
    ("north", "medication", datetime(2026, 9, 30, 23, 30, tzinfo=UTC)),
    ("north", "medication", datetime(2026, 10, 21, 10, tzinfo=UTC)),
    ("south", "safeguarding", datetime(2026, 10, 22, 10, tzinfo=UTC)),
    ("north", "falls", datetime(2026, 11, 10, 10, tzinfo=UTC)),  # November: not in October's
    ("north", "other", datetime(2026, 4, 10, 10, tzinfo=UTC)),  # April: before the 6 months
]
# Actions (team, deadline, closed at): overdue at the end of October: A-1 (15 Oct), A-4
# (20 Oct, closed only on 5 Nov), A-2 (31 Oct: its day is over); not A-3 (closed in time) nor
# A-5 (due 5 Nov). Now (24 Nov).
ACTIONS = [
    ("north", date(2026, 10, 15), None),
    ("north", date(2026, 10, 31), None),
    ("north", date(2026, 10, 10), datetime(2026, 10, 9, 12, tzinfo=UTC)),
    ("south", date(2026, 10, 20), datetime(2026, 11, 5, 12, tzinfo=UTC)),
    ("north", date(2026, 11, 5), None),
]
# Learning points (team, at, readers): 6 active people in North (with Mia), 5 in South.
# Sep: 3 of 6 = 50 %; Oct: 2 + 1 + 4 = 7 of 6 + 6 + 5 = 17 = 41 % (down), 3 points.
LEARNING = [
    ("north", datetime(2026, 9, 8, 9, tzinfo=UTC), ["amira", "ben", "chloe"]),
    ("north", datetime(2026, 10, 6, 9, tzinfo=UTC), ["amira", "ben"]),
    ("north", datetime(2026, 10, 20, 9, tzinfo=UTC), ["chloe"]),
    ("south", datetime(2026, 10, 13, 9, tzinfo=UTC), ["erin", "femi", "hana", "dan"]),
]
# Medicines exceptions (team, duty due, kind): late Aug 1, Sep 3, Oct 2 (down); Oct missed 1.
MEDS = [
    ("north", datetime(2026, 8, 5, 18, tzinfo=UTC), "late"),
    ("north", datetime(2026, 9, 2, 18, tzinfo=UTC), "late"),
    ("north", datetime(2026, 9, 15, 18, tzinfo=UTC), "late"),
    ("south", datetime(2026, 9, 16, 18, tzinfo=UTC), "late"),
    ("north", datetime(2026, 10, 7, 18, tzinfo=UTC), "late"),
    ("north", datetime(2026, 10, 8, 18, tzinfo=UTC), "late"),
    ("south", datetime(2026, 10, 9, 18, tzinfo=UTC), "missed"),
]
# Escalations (team, opened, minutes to acknowledge): Aug median 8; Sep (10, 20) → 15;
# Oct (4, 6, 30, never) → 6 (down); Oct: 4 opened, 3 acknowledged.
ESCALATIONS = [
    ("north", datetime(2026, 8, 11, 11, tzinfo=UTC), 8),
    ("north", datetime(2026, 9, 11, 11, tzinfo=UTC), 10),
    ("south", datetime(2026, 9, 12, 11, tzinfo=UTC), 20),
    ("north", datetime(2026, 10, 12, 11, tzinfo=UTC), 30),
    ("south", datetime(2026, 10, 13, 11, tzinfo=UTC), 6),
    ("north", datetime(2026, 10, 14, 11, tzinfo=UTC), 4),
    ("north", datetime(2026, 10, 15, 11, tzinfo=UTC), None),
]

OCTOBER = [
    "Monthly governance report · October 2026",
    "Incidents by category, by month (May · Jun · Jul · Aug · Sep · Oct):",
    "safeguarding: 0 · 0 · 0 · 0 · 1 · 1 = flat",
    "falls: 0 · 0 · 0 · 1 · 2 · 4 ▲ up",
    "medication: 0 · 0 · 0 · 1 · 1 · 2 ▲ up",
    "all: 0 · 0 · 0 · 2 · 4 · 7 ▲ up",
    f"Oct by team: {NORTH} 5 · {SOUTH} 2",
    "Repeat events (an incident in a category its team already had that month): "
    "0 · 0 · 0 · 0 · 1 · 3 ▲ up",
    f"Oct: falls ×3 {NORTH} · medication ×2 {NORTH}",
    "Overdue actions at the end of October: 3: A-1, A-4, A-2",
    "Learning points read, by month: — · — · — · — · 50 % · 41 % ▼ down; Oct: 7 of 17 (3 points)",
    "Medicines late, by month: 0 · 0 · 0 · 1 · 3 · 2 ▼ down; missed in Oct: 1",
    "Escalations, median time to acknowledge, by month: — · — · — · 8 min · 15 min · 6 min "
    "▼ down; Oct: 4 opened, 3 acknowledged",
]


def lines(reply) -> list[str]:
    """The report's lines up to its footer, without the header's rule."""
    out = [x for x in reply.plain().splitlines() if x.strip("-")]
    return out[:len(OCTOBER)]


def seed(engine) -> None:
    with Session(engine) as s:
        teams = {t.key: t.id for t in s.exec(select(Team))}
        people = {p.handle: p.id for p in s.exec(select(Person))}
        by = people["grace"]
        for n, (team, category, opened) in enumerate(INCIDENTS):
            s.add(Incident(ref=f"INC-{n}", team_id=teams[team], category=category,
                           opened_at=opened, opened_by_id=by, review_due_at=opened,
                           due_at=opened + timedelta(days=7)))
        for team, due, closed in ACTIONS:
            s.add(Action(team_id=teams[team], title="plan item", owner_id=by, due=due,
                         next_review=due, state="closed" if closed else "open", closed_at=closed,
                         created_at=datetime(2026, 8, 1, 9, tzinfo=UTC), created_by_id=by))
            s.flush()  # ids in this order: A-1 … A-5
        for team, at, readers in LEARNING:
            point = LearningPoint(team_id=teams[team], text="learning", at=at, by_id=by)
            s.add(point)
            s.flush()
            for handle in readers:
                s.add(LearningAck(point_id=point.id, person_id=people[handle], at=at, via="console"))
        for n, (team, due, kind) in enumerate(MEDS):
            duty = MedsDuty(duty_id=f"D-M{n}", team_id=teams[team], round="evening",
                            client_ref=f"C-M{n}", due_at=due, status=kind)
            s.add(duty)
            s.flush()
            s.add(MedsException(duty_id=duty.id, team_id=teams[team], kind=kind, reason="r",
                                action="a", informed="i", at=due + timedelta(hours=1), by_id=by))
        for n, (team, opened, minutes) in enumerate(ESCALATIONS):
            s.add(Escalation(team_id=teams[team], subject=f"contact:m{n}", trigger="reconcile",
                             ref=f"C-E{n}", summary="open", opened_at=opened,
                             opened_by="scheduler",
                             state="open" if minutes is None else "acknowledged",
                             open_subject=f"contact:m{n}",
                             acked_at=None if minutes is None else opened + timedelta(minutes=minutes)))
        s.commit()


@pytest.fixture
def config_path(tmp_path):
    """The demo config with Mia, a manager of North only, and the monthly report at 09:00."""
    path = tmp_path / "carebot.toml"
    path.write_text(access_config().replace(
        'timezone = "Europe/London"\n', 'timezone = "Europe/London"\nmonthly_report = "09:00"\n', 1),
        encoding="utf-8")
    return path


@pytest.fixture
def seeded(app):
    seed(app.engine)
    return app


def test_october_figures_equal_the_hand_computed_ones(seeded):
    for line in ("status month last", "status month 2026-10"):
        reply = run(seeded, "grace", line)
        assert reply.ok, reply.plain()
        assert lines(reply) == OCTOBER, line
        assert f"Teams: {NORTH}, {SOUTH}." in reply.plain()


def test_the_month_so_far_counts_overdue_actions_now(seeded):
    text = run(seeded, "dan", "status month").plain()
    assert text.splitlines()[0] == "Monthly governance report · November 2026 so far (to Tue 24 Nov 08:00)"
    assert "falls: 0 · 0 · 1 · 2 · 4 · 1 ▼ down" in text  # Jun … Nov
    assert "Overdue actions at Tue 24 Nov 08:00: 3: A-1, A-2, A-5" in text
    # An incident opened this very minute counts in the month so far.
    assert run(seeded, "grace", "incident open INC-99 falls", chat="north").ok
    assert "falls: 0 · 0 · 1 · 2 · 4 · 2 ▼ down" in run(seeded, "dan", "status month").plain()


def test_the_chart_is_a_png_of_the_monthly_counts(seeded):
    [chart] = run(seeded, "grace", "status month last").files
    assert chart.mime == "image/png"
    image = Image.open(chart.path)
    assert image.format == "PNG"
    assert image.text["Description"] == (
        "months: 2026-05, 2026-06, 2026-07, 2026-08, 2026-09, 2026-10; "
        "incidents: 0, 0, 0, 2, 4, 7; repeat events: 0, 0, 0, 0, 1, 3; "
        "medicines late: 0, 0, 0, 1, 3, 2")


@pytest.mark.parametrize("line, says", [
    ("status month blah", "Can't read 'blah' as a month"),
    ("status month 2026-13", "Can't read '2026-13' as a month"),
    ("status month 2027-01", "January 2027 is in the future"),
    ("status month last week", ""),
])
def test_bad_months_get_one_line_and_write_nothing(seeded, line, says):
    before = count(seeded.engine, Outbox)
    reply = run(seeded, "grace", line)
    assert not reply.ok and says in reply.plain()
    assert len(reply.plain().strip().splitlines()) == 1
    assert count(seeded.engine, Outbox) == before


def test_a_manager_sees_their_own_teams_only(seeded):
    text = run(seeded, "mia", "status month last").plain()
    assert f"Teams: {NORTH}." in text and "South" not in text
    assert "all: 0 · 0 · 0 · 2 · 2 · 5 ▲ up" in text  # North's incidents alone
    assert "Overdue actions at the end of October: 2: A-1, A-2" in text  # not South's A-4


def test_supervisors_and_staff_cannot_ask(seeded):
    assert not run(seeded, "amira", "status month last").ok
    assert not run(seeded, "ben", "status month").ok


def test_first_working_day():
    assert first_working_day(date(2026, 8, 1)) == date(2026, 8, 3)  # Sat 1st → Mon 3rd
    assert first_working_day(date(2026, 11, 1)) == date(2026, 11, 2)  # Sun 1st → Mon 2nd
    assert first_working_day(date(2026, 12, 1)) == date(2026, 12, 1)  # Tue
    assert month_start(date(2026, 1, 15), 1) == date(2025, 12, 1)


def test_the_job_runs_on_weekdays_at_the_configured_time(seeded):
    triggers = [(job, team.key, trigger(when, team.zone))
                for job, team, when in jobs.schedule(seeded.engine) if job == "monthly_report"]
    fired = fires_between(triggers, datetime(2026, 10, 30, 12, tzinfo=UTC),
                          datetime(2026, 11, 3, 12, tzinfo=UTC))
    assert [(t.astimezone(LONDON).strftime("%a %d %H:%M"), team) for t, _, team in fired] == [
        ("Mon 02 09:00", "north"), ("Mon 02 09:00", "south"),
        ("Tue 03 09:00", "north"), ("Tue 03 09:00", "south")]


def test_the_nominated_individual_gets_last_months_report_once(seeded):
    def job(day: date, team: str) -> bool:
        seeded.clock.set(datetime.combine(day, time(9), LONDON))
        return asyncio.run(seeded.run_job("monthly_report", team))

    assert not job(date(2026, 11, 1), "north")  # Sunday 1st: not a working day
    assert job(date(2026, 11, 2), "north")  # Monday 2nd
    assert not job(date(2026, 11, 2), "south")  # South's run finds it sent
    assert not job(date(2026, 11, 2), "north")  # a rerun too
    assert not job(date(2026, 11, 3), "north")  # the 3rd is not the first working day
    dms = [(h, r) for h, r in seeded.transports[0].dms if r.files]
    assert [h for h, _ in dms] == ["grace"]  # the nominated individual only
    assert lines(dms[0][1]) == OCTOBER
    assert dms[0][1].files[0].filename.endswith(".png")
    with Session(seeded.engine) as s:
        assert [r.key for r in s.exec(select(Outbox).where(Outbox.key.like("monthly:%")))] == [
            "monthly:grace:2026-10"]
