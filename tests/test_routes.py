"""`routes ok`: today's routes confirmed once per team, and the supervisors reminded when not."""
from __future__ import annotations

from sqlmodel import Session, select

from handlers import jobs
from storage.models import AuditEvent, Outbox, RouteCheck
from tests.conftest import MORNING, count, run


def test_routes_ok_confirms_once_with_the_time_and_stops_the_reminder(app):
    text = run(app, "amira", "routes ok two cars today").plain()
    assert text == "North Community Team: today's routes confirmed at 08:00 by Amira Khan."
    assert run(app, "amira", "routes ok").plain() == (
        "North Community Team: today's routes were already confirmed at 08:00 by Amira Khan.")
    assert count(app.engine, RouteCheck) == 1
    assert count(app.engine, AuditEvent, AuditEvent.action == "routes:ok") == 1
    nine = MORNING.replace(hour=9)
    assert jobs.run(app.engine, "routes_remind", "north", nine) is False  # confirmed
    assert jobs.run(app.engine, "routes_remind", "south", nine) is True  # not confirmed
    assert jobs.run(app.engine, "routes_remind", "south", nine) is False  # reminded once
    with Session(app.engine) as s:
        sent = s.exec(select(Outbox).where(Outbox.key.like("routes-remind:%"))).all()
    assert [(o.key, o.target) for o in sent] == [("routes-remind:south:2026-11-24:erin",
                                                  "person:erin")]


def test_routes_ok_is_a_supervisors_and_writes_nothing_otherwise(app):
    assert "supervisor" in run(app, "ben", "routes ok").plain()
    assert count(app.engine, RouteCheck) == 0 and count(app.engine, AuditEvent) == 0
