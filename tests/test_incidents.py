"""Incidents: the 7-day clock for review + action + learning; close refused until all three;
overdue escalates to the registered manager; reopen works and is audited."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from bot.console import Console
from storage.models import AuditEvent, Escalation, EscalationEvent, Incident, Person
from tests.conftest import count, run


def tick(app, **delta) -> None:
    asyncio.run(Console(app, "amira").advance(app.clock.now() + timedelta(**delta)))


def test_open_posts_the_clocks_and_list_orders_by_priority(app):
    assert "7-day clock runs to Tue 1 Dec 08:00" in run(
        app, "amira", "incident open INC-31 falls risk=high").plain()
    run(app, "amira", "incident open INC-32 other")
    run(app, "amira", "incident open INC-33 safeguarding")
    asyncio.run(app.deliver())
    first = app.transports[0].posts[0][1].plain()
    assert first.splitlines()[0] == "North Community Team: incident INC-31 opened (falls, high risk)"
    assert "Same-day management review due by Tue 24 Nov 23:59" in first
    text = run(app, "ben", "incident list").plain()
    refs = [line.split(" · ")[0].lstrip("⚠ ") for line in text.splitlines()[1:]]
    assert refs == ["INC-33", "INC-31", "INC-32"]
    assert "needs review, action, learning" in text


def test_close_is_refused_until_review_action_and_learning_exist(app):
    run(app, "amira", "incident open INC-31 falls risk=high")
    reply = run(app, "dan", "incident close INC-31")
    assert not reply.ok
    assert reply.plain().startswith("Incident INC-31 can't close yet; missing: management review")
    assert "action (incident action INC-31 TEXT)" in reply.plain()
    run(app, "amira", "incident review INC-31 family informed, no notification needed")
    run(app, "amira", "incident action INC-31 bed rail checks added to transfer checklist")
    reply = run(app, "dan", "incident close INC-31")
    assert "missing: learning point (learn TEXT incident=INC-31)." in reply.plain()
    run(app, "amira", "learn Bed rails must be checked after every transfer incident=INC-31")
    assert "closed within 7 days" in run(app, "dan", "incident close INC-31").plain()
    with Session(app.engine) as s:
        assert s.exec(select(Incident)).one().state == "closed"


def test_seven_days_overdue_escalates_to_the_registered_manager(app):
    run(app, "amira", "incident open INC-31 falls risk=high")
    run(app, "amira", "incident review INC-31 reviewed same day")
    mine = Escalation.trigger == "incident_overdue"
    app.clock.set(app.clock.now() + timedelta(days=6, hours=23))  # the demo day's contacts aside
    tick(app, minutes=59)
    assert count(app.engine, Escalation, mine) == 0
    tick(app, minutes=1)
    with Session(app.engine) as s:
        esc = s.exec(select(Escalation).where(mine)).one()
        paged = s.exec(select(Person.handle).join(EscalationEvent, EscalationEvent.person_id == Person.id)
                       .where(EscalationEvent.kind == "paged", EscalationEvent.escalation_id == esc.id)
                       ).all()
    assert (esc.trigger, esc.ref, esc.policy["chain"]) == ("incident_overdue", "INC-31",
                                                             ["manager", "nominated"])
    assert esc.summary == "falls: needs action, learning"
    assert paged[0] == "dan"
    asyncio.run(app.deliver())
    [(handle, page)] = [(h, r) for h, r in app.transports[0].dms if "INC-31" in r.plain()]
    assert handle == "dan"
    assert page.plain().splitlines()[0] == \
        "carebot: incident past its 7-day learning clock — North Community Team"


def test_reopen_restarts_the_clock_needs_a_new_action_and_is_audited(app):
    run(app, "amira", "incident open INC-31 medication")
    assert "still open" in run(app, "dan", "incident reopen INC-31 not changed").plain()
    for line in ("incident review INC-31 ok", "incident action INC-31 retrain",
                 "learn Double-check the chart incident=INC-31"):
        run(app, "amira", line)
    run(app, "dan", "incident close INC-31")
    assert "say what the reopen is" in run(app, "dan", "incident reopen INC-31").plain()
    assert "Only managers" in run(app, "amira", "incident reopen INC-31 again").plain()
    reply = run(app, "dan", "incident reopen INC-31 repeat error; practice has not changed")
    assert reply.ok and "reopened" in reply.plain()
    with Session(app.engine) as s:
        inc = s.exec(select(Incident)).one()
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "incident:reopen")).all()
    assert (inc.state, inc.action, inc.reopened) == ("open", None, 1)
    assert (event.actor, event.subject, event.detail["reason"]) == (
        "dan", "INC-31", "repeat error; practice has not changed")
    assert "missing: action" in run(app, "dan", "incident close INC-31").plain()


def test_bad_input_writes_nothing(app):
    assert "Unknown category 'slips'" in run(app, "amira", "incident open INC-31 slips").plain()
    assert "Say the category" in run(app, "amira", "incident open INC-31").plain()
    assert "must be high, medium or low" in run(app, "amira",
                                                 "incident open INC-31 falls risk=huge").plain()
    assert "not an incident ref" in run(app, "amira", "incident open INC/31 falls").plain()
    assert "Only supervisors" in run(app, "ben", "incident open INC-31 falls").plain()
    assert "doesn't know you" in run(app, "zed", "incident open INC-31 falls").plain()
    assert "No incident 'INC-9'" in run(app, "amira", "incident review INC-9 text").plain()
    assert count(app.engine, Incident) == 0
    run(app, "amira", "incident open INC-31 falls")
    assert "already exists" in run(app, "amira", "incident open inc-31 falls").plain()
    assert "say what the review is" in run(app, "amira", "incident review INC-31").plain()
    assert count(app.engine, Incident) == 1
    assert count(app.engine, AuditEvent, AuditEvent.action.like("incident:%")) == 1


def test_no_review_by_the_end_of_the_day_tells_the_manager_once(app):
    run(app, "amira", "incident open INC-31 falls")
    run(app, "amira", "incident open INC-32 other")
    run(app, "amira", "incident review INC-32 reviewed at once")
    app.clock.set(app.clock.now().replace(hour=23, minute=50))
    tick(app, minutes=8)  # 23:58: the review is due by 23:59
    asyncio.run(app.deliver())
    assert not [h for h, r in app.transports[0].dms if "review is missing" in r.plain()]
    tick(app, minutes=30)
    asyncio.run(app.deliver())
    told = [(h, r.plain()) for h, r in app.transports[0].dms if "review is missing" in r.plain()]
    assert [h for h, _ in told] == ["dan"]
    assert told[0][1].splitlines()[0] == \
        "carebot: a same-day incident review is missing — North Community Team"
    assert "INC-31" in told[0][1]
