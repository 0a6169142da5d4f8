"""Medicines lateness from the clock: a duty recorded after its window is late whatever the
verb, a duty with no record by the end of its day is "not recorded" (in the trend and the
status), and nothing is recorded late or checked for a round that has not started."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from storage.medicines import import_meds
from storage.models import AuditEvent, MedsCheck, MedsDuty, MedsException
from tests.conftest import count, run
from tests.test_medicines import TODAY, config_path, duty, write_meds  # noqa: F401

# The duty of the issue: due Sat 28 Nov 18:00, recorded Mon 30 Nov 22:30 (GMT: UTC = local).
LATE_DUTY = duty("D-30", "2026-11-28T18:00", round="evening", ref="C-4R7T")
RECORDED_AT = datetime(2026, 11, 30, 22, 30, tzinfo=UTC)


@pytest.fixture
def meds_app(app, tmp_path):
    import_meds(app.engine, write_meds(tmp_path / "meds.csv", [*TODAY, LATE_DUTY]))
    return app


def state(app, duty_id: str) -> str:
    with Session(app.engine) as s:
        return s.exec(select(MedsDuty.status).where(MedsDuty.duty_id == duty_id)).one()


def nothing_written(app) -> bool:
    return (count(app.engine, MedsException) == 0 and count(app.engine, MedsCheck) == 0
            and count(app.engine, AuditEvent, AuditEvent.action.like("meds:%")) == 0)


def test_done_after_the_window_without_the_three_fields_saves_nothing(meds_app):
    meds_app.clock.set(RECORDED_AT)
    reply = run(meds_app, "chloe", "meds done D-30")
    assert not reply.ok
    text = reply.plain()
    assert len(text.splitlines()) == 1
    assert text.startswith("Nothing saved yet: D-30 was due Sat 28 Nov 18:00 (±30 min), so this "
                           "is a late entry and needs the reason, the immediate action (action=…), "
                           "who was informed (informed=…).")
    # The example is built from this duty: its id, the time now and the round's lead.
    assert text.endswith('Example: meds done D-30 "why it was late" action="given 22:30" '
                         'informed="Chloe Price"'), text
    # Two of three is still nothing.
    partial = run(meds_app, "chloe", 'meds done D-30 "agency nurse late" action="given 22:30"')
    assert not partial.ok and "needs who was informed (informed=…)" in partial.plain()
    assert state(meds_app, "D-30") == "open" and nothing_written(meds_app)


def test_the_given_button_after_the_window_asks_for_the_three_and_saves_nothing(meds_app):
    from handlers.base import Actor, Chat, Command
    from handlers.dispatch import dispatch
    from handlers.grammar import split_action

    meds_app.clock.set(RECORDED_AT)
    verb, *args = split_action("meds_done:D-30")
    reply = dispatch(meds_app.engine, meds_app.clock,
                     Command(Actor("console", "chloe"), Chat("console", None), verb, args,
                             from_button=True))
    assert not reply.ok and "so this is a late entry and needs the reason" in reply.plain()
    assert state(meds_app, "D-30") == "open" and nothing_written(meds_app)


def test_done_after_the_window_with_the_three_fields_is_stored_late(meds_app):
    meds_app.clock.set(RECORDED_AT)
    reply = run(meds_app, "chloe", 'meds done D-30 agency nurse late action="given 22:30, GP told" '
                                   'informed="Dr Shah"')
    assert reply.ok and "D-30 logged late (recorded after its window)" in reply.plain()
    assert state(meds_app, "D-30") == "late"
    with Session(meds_app.engine) as s:
        [row] = s.exec(select(MedsException)).all()
        assert (row.kind, row.reason, row.action, row.informed, row.at) == (
            "late", "agency nurse late", "given 22:30, GP told", "Dr Shah", RECORDED_AT)
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "meds:late")).all()
        assert event.detail["verb"] == "done"


@pytest.mark.parametrize("minutes, status", [(30, "given"), (31, None)])
def test_the_window_decides_given_or_late(meds_app, minutes, status):
    # D-14 is due 08:00 with a 30-minute window: 08:30 is in time, 08:31 is late.
    meds_app.clock.set(datetime(2026, 11, 24, 8, minutes, tzinfo=UTC))
    reply = run(meds_app, "ben", "meds done D-14")
    assert reply.ok == (status == "given")
    assert state(meds_app, "D-14") == (status or "open")


def test_an_unrecorded_duty_counts_once_its_day_is_over(meds_app):
    run(meds_app, "dan", "meds baseline 10")
    meds_app.clock.set(datetime(2026, 11, 24, 23, 59, tzinfo=UTC))  # today: may still be given
    text = run(meds_app, "amira", "meds trend").plain()
    assert "Week of Mon 23 Nov: 0 late (target ≤ 9.0)" in text and "not recorded" not in text
    meds_app.clock.set(datetime(2026, 11, 25, 0, 0, tzinfo=UTC))  # 24 Nov is over: 3 unrecorded
    text = run(meds_app, "amira", "meds trend").plain()
    assert "Week of Mon 23 Nov: 0 late · 3 not recorded (target ≤ 9.0)" in text


def test_unrecorded_duties_show_in_the_trend_and_it_is_never_on_track(meds_app):
    run(meds_app, "dan", "meds baseline 10")
    meds_app.clock.set(RECORDED_AT)  # Mon 30 Nov: the week of 23 Nov is the last full week
    text = run(meds_app, "amira", "meds trend").plain()
    # D-14, D-15, D-16 (24 Nov) and D-30 (28 Nov): none recorded. 0 late meets the target,
    # but that says nothing while 4 duties have no record.
    assert "Week of Mon 23 Nov: 0 late · 4 not recorded (target ≤ 9.0)" in text
    assert "Last full week vs baseline: -100% · not on track ⚠: 4 not recorded" in text
    assert "on track ✓" not in text
    # Recorded late, with the three fields, each counts as a late entry instead.
    for duty_id in ("D-14", "D-15", "D-16", "D-30"):
        assert run(meds_app, "amira", f"meds late {duty_id} missed at handover "
                                      f"action=given informed=GP").ok
    text = run(meds_app, "amira", "meds trend").plain()
    assert "Week of Mon 23 Nov: 4 late (target ≤ 9.0)" in text
    assert "Last full week vs baseline: -60% · on track ✓" in text


def test_unrecorded_duties_show_in_the_weekly_status(meds_app, tmp_path, monkeypatch):
    run(meds_app, "dan", "meds baseline 10")
    meds_app.clock.set(RECORDED_AT)
    run(meds_app, "chloe", 'meds late D-16 "no stock" action="pharmacy called" informed="GP"')
    text = run(meds_app, "dan", "status team north last week").plain()
    assert ("Medicines late entries: 1 (1.0/week, -90 % vs baseline 10; target 2.0/week) · "
            "duties not recorded: 3") in text


def test_late_and_check_before_the_round_starts_are_refused_with_its_time(meds_app):
    # 08:00 on Tue 24 Nov: the evening round (18:00) has not started.
    late = run(meds_app, "chloe", 'meds late D-16 "no stock" action="pharmacy called" informed=GP')
    assert not late.ok and "The evening round for D-16 starts at 18:00 on Tue 24 Nov" in late.plain()
    check = run(meds_app, "chloe", "meds check evening yes")
    assert not check.ok and "The evening round starts at 18:00 today (Tue 24 Nov)" in check.plain()
    assert "Example, from 18:00: meds check evening yes" in check.plain()
    assert nothing_written(meds_app) and state(meds_app, "D-16") == "open"
    # From the round's time both are accepted.
    meds_app.clock.set(datetime(2026, 11, 24, 18, 0, tzinfo=UTC))
    assert run(meds_app, "chloe", "meds check evening yes").ok
    assert run(meds_app, "chloe", 'meds late D-16 "no stock" action="pharmacy called" '
                                  'informed=GP').ok
    assert count(meds_app.engine, MedsCheck) == 1 and count(meds_app.engine, MedsException) == 1
