"""The action tracker: deadlines read by dateparser and said back, RAG derived over a
simulated clock, closure only with evidence and all four summary fields, every version kept,
owners reminded, the plan table and the CQC 28-day deadline."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from storage.models import Action, ActionEvidence, ActionVersion, AuditEvent, PlanRequest, Team
from tests.conftest import count, run

ADD = ('action add "Evening meds late" owner=@amira due="in 6 weeks" risk=medicines '
       'finding="Inspection 2026-10: late evening meds"')


def rag(app, handle="dan") -> str:
    """The RAG word the plan shows for A-1."""
    line = next(l for l in run(app, handle, "plan").plain().splitlines()
                if l.startswith("Owner:"))
    return line.rsplit(" · ", 1)[1]


def days(app, n: int) -> None:
    app.clock.set(app.clock.now() + timedelta(days=n))


def test_add_echoes_the_exact_deadline_owner_and_review_cadence(app):
    text = run(app, "amira", ADD).plain()
    assert text.splitlines()[0] == "Action A-1 added"
    assert "Owner: Amira Khan · due Tue 5 Jan 2027 (in 42 days)" in text
    assert "Risk: medicines · reviewed weekly, next Tue 1 Dec 2026" in text
    with Session(app.engine) as s:
        action = s.exec(select(Action)).one()
        assert (action.title, action.risk, action.review_days, str(action.due)) == \
            ("Evening meds late", "medicines", 7, "2027-01-05")
        assert s.exec(select(ActionVersion.change)).all() == ["created"]
    other = run(app, "amira", 'action add "Rota template" owner=@ben due="31 Jan 2027"').plain()
    assert "reviewed fortnightly, next Tue 8 Dec 2026" in other


@pytest.mark.parametrize("line, says", [
    ('action add "X" owner=@ben due="04/05/2027"', "could be read two ways"),
    ('action add "X" owner=@ben due="blah blah"', "can't read 'blah blah' as a date"),
    ('action add "X" owner=@ben due="2026-10-01"', "is in the past"),
    ('action add "X" owner=@ben', "Say the deadline"),
    ('action add "X" due="in 2 weeks"', "one accountable owner"),
    ('action add "X" owner=@zed due="in 2 weeks"', "No one called '@zed'"),
    ('action add "X" owner=@ben due="in 2 weeks" risk=fun', "Risk 'fun' must be one of"),
    ('action add owner=@ben due="in 2 weeks"', "Say what the action is"),
])
def test_bad_input_is_one_line_and_writes_nothing(app, line, says):
    reply = run(app, "amira", line)
    assert not reply.ok and says in reply.plain() and "Example" in reply.plain()
    assert len(reply.plain().splitlines()) == 1
    assert count(app.engine, Action) == 0 and count(app.engine, ActionVersion) == 0


def test_staff_cannot_add_and_only_managers_close(app):
    assert "supervisor" in run(app, "ben", ADD).plain()
    run(app, "amira", ADD)
    run(app, "amira", 'action evidence A-1 audit "MAR audit: 2 late of 140"')
    assert not run(app, "amira", "action close A-1").ok
    assert count(app.engine, Action, Action.state == "closed") == 0


def test_rag_follows_the_clock_reviews_evidence_and_closure(app):
    run(app, "amira", 'action add "Evening meds late" owner=@amira due="in 10 days" risk=medicines')
    assert rag(app) == "green"
    days(app, 4)  # due in 6 days, no evidence yet
    assert rag(app) == "amber"
    days(app, 4)  # the weekly review (day 7) passed with nothing recorded
    assert rag(app) == "red"
    run(app, "amira", 'action evidence A-1 audit "MAR audit week 1: 5 late of 140"')
    assert rag(app) == "green"  # evidence counts as the review; due in 2 days with evidence
    days(app, 3)  # past the deadline
    assert rag(app) == "red"
    run(app, "dan", 'action update A-1 due="in 3 weeks"')
    assert rag(app) == "green"
    for answer in ("named lead", "weekly MAR audit", "20:30 check", "monthly audit"):
        run(app, "dan", f"action close A-1 {answer}")
    assert rag(app) == "closed"


def test_close_needs_evidence_then_asks_each_summary_field_in_turn(app):
    run(app, "amira", ADD)
    refused = run(app, "dan", "action close A-1")
    assert not refused.ok and "can't close without evidence" in refused.plain()
    assert count(app.engine, ActionVersion) == 1
    run(app, "amira", 'action evidence A-1 audit "MAR audit week 3: 2 late of 140"')
    asked = run(app, "dan", "action close A-1")
    assert asked.plain().splitlines()[0] == "Closing A-1 — 1 of 4: What changed?"
    asked = run(app, "dan", "action close A-1 evening round has a named lead")
    assert asked.plain().splitlines()[0] == "Closing A-1 — 2 of 4: How was the change measured?"
    # fields can also be given by name, in any order
    asked = run(app, "dan", 'action close A-1 monitoring="monthly MAR audit"')
    assert "3 of 4: How was the change measured?" in asked.plain()
    asked = run(app, "dan", "action close A-1 weekly MAR audit: 2 late of 140")
    assert "4 of 4: How is the risk controlled now?" in asked.plain()
    with Session(app.engine) as s:
        assert s.exec(select(Action)).one().state == "open"
    done = run(app, "dan", "action close A-1 lead checks at 20:30 daily")
    assert done.plain().startswith("A-1 closed 🔵")
    with Session(app.engine) as s:
        action = s.exec(select(Action)).one()
        assert action.state == "closed" and action.closed_at == app.clock.now()
        assert action.closure == {"changed": "evening round has a named lead",
                                  "monitoring": "monthly MAR audit",
                                  "measured": "weekly MAR audit: 2 late of 140",
                                  "controlled": "lead checks at 20:30 daily"}
    asyncio.run(app.deliver())
    post = app.transports[0].posts[-1]
    assert post[0] == "north"
    assert post[1].plain().splitlines()[0] == "North Community Team: action A-1 closed 🔵"
    assert "already closed" in run(app, "dan", "action close A-1").plain()


def test_history_keeps_every_version(app):
    run(app, "amira", ADD)
    run(app, "amira", 'action evidence A-1 incident review "INC-4 learning shared"')
    run(app, "amira", "action review A-1 on track, two late entries with reasons")
    run(app, "dan", 'action update A-1 owner=@ben due="31 Jan 2027"')
    with Session(app.engine) as s:
        versions = s.exec(select(ActionVersion).order_by(ActionVersion.version)).all()
        assert [v.version for v in versions] == [1, 2, 3, 4]
        assert versions[0].snapshot["owner"] == "amira" and versions[0].snapshot["due"] == "2027-01-05"
        assert versions[3].snapshot["owner"] == "ben" and versions[3].snapshot["due"] == "2027-01-31"
        assert s.exec(select(ActionEvidence.kind)).one() == "incident_review"
        assert count(app.engine, AuditEvent, AuditEvent.subject == "A-1") == 4
    text = run(app, "ben", "action history A-1").plain()
    assert "A-1 · Evening meds late: 4 versions" in text
    assert "v4 · 24 Nov 2026 08:00 · Dan Morgan · owner amira → ben; due 2027-01-05 → 2027-01-31" \
        in text
    assert "v2 · 24 Nov 2026 08:00 · Amira Khan · evidence: incident review" in text


def test_only_the_owner_or_a_supervisor_updates(app):
    run(app, "amira", 'action add "Rota gaps" owner=@ben due="in 3 weeks" risk=staffing')
    assert run(app, "ben", 'action evidence A-1 record "rota filled to 98%"').ok
    refused = run(app, "chloe", 'action evidence A-1 record "x"')
    assert not refused.ok and "Only the owner (Ben Okafor)" in refused.plain()
    assert count(app.engine, ActionEvidence) == 1
    assert "No action 'A-9'" in run(app, "amira", 'action evidence A-9 audit "x"').plain()
    assert "must be one of: record, audit" in run(app, "ben", 'action evidence A-1 memo "x"').plain()


def test_owner_is_told_and_reminded_before_the_deadline_and_on_review_days(app):
    run(app, "dan", 'action add "Rota gaps" owner=@ben due="in 8 days" risk=staffing')
    run(app, "dan", 'action add "Falls audit" owner=@ben due="in 30 days" risk=governance')
    asyncio.run(app.deliver())
    dms = app.transports[0].dms
    assert [h for h, _ in dms] == ["ben", "ben"]
    assert dms[0][1].plain().splitlines()[0] == \
        "carebot: an action on the North Community Team plan is yours"
    del dms[:]
    start = app.clock.now()
    for n in range(1, 9):  # each morning's run (07:30), twice: a rerun sends nothing new
        app.clock.set(start + timedelta(days=n, minutes=-30))
        for _ in range(2):
            asyncio.run(app.run_job("action_remind", "north"))
    reminders = [r.plain().splitlines()[1] for h, r in dms
                 if r.plain().startswith("carebot: action reminder — North Community Team")]
    assert {h for h, r in dms if "action reminder" in r.plain()} == {"ben"}
    assert reminders == ["A-1 · Rota gaps is due in 7 days (Wed 2 Dec 2026).",
                         "A-1 · Rota gaps is due in 1 day (Wed 2 Dec 2026).",
                         "A-2 · Falls audit has a review due today.",
                         "A-1 · Rota gaps is due today (Wed 2 Dec 2026)."]


def test_plan_table_and_the_cqc_28_day_deadline(app):
    run(app, "amira", ADD)
    run(app, "amira", 'action evidence A-1 audit "MAR audit week 3: 2 late of 140"')
    run(app, "amira", 'action add "Care plan reviews" owner=@ben due="in 5 days" risk=safety')
    refused = run(app, "amira", "plan cqc 20 Nov 2026")
    assert not refused.ok and count(app.engine, PlanRequest) == 0
    assert "due Fri 18 Dec 2026 (in 24 days)" in run(app, "dan", "plan cqc 20 Nov 2026").plain()
    text = run(app, "dan", "plan").plain()
    lines = text.splitlines()
    assert lines[0] == "All teams: action plan (2 actions)"
    assert lines[1] == "🔴 0 red · 🟠 1 amber · 🟢 1 green · 🔵 0 closed"
    assert lines[2] == ("CQC action plan due Fri 18 Dec 2026 (24 days left; "
                        "request received Fri 20 Nov 2026)")
    assert lines[3:5] == ["🟠 A-2 · Care plan reviews", "Team: North Community Team"]  # amber first
    assert "Key documents: audit: MAR audit week 3: 2 late of 140" in text
    assert "Item: Inspection 2026-10: late evening meds" in text
    assert "submitted to CQC on Tue 24 Nov 2026" in run(app, "dan", "plan submitted").plain()
    assert "CQC action plan due" not in run(app, "dan", "plan").plain()


def test_card_shows_one_action_and_bare_action_shows_how(app):
    run(app, "amira", ADD)
    run(app, "amira", 'action evidence A-1 audit "MAR audit week 3: 2 late of 140"')
    card = run(app, "ben", "action A-1").plain().splitlines()
    assert card[0] == "🟢 A-1 · Evening meds late"
    assert "· audit: MAR audit week 3: 2 late of 140" in card
    assert run(app, "ben", "action").plain().startswith("The action tracker (CAP / CQC plan):")
    assert not run(app, "ben", "action A-99").ok


def test_an_action_sits_on_the_plan_of_the_owners_team(app):
    run(app, "dan", 'action add "Weekend rota gaps" owner=@erin due="in 5 weeks" risk=staffing')
    run(app, "dan", 'action add "Evening meds" owner=@amira due="in 5 weeks"')
    with Session(app.engine) as s:
        teams = s.exec(select(Team.key).join(Action, Action.team_id == Team.id)
                       .order_by(Action.id)).all()
    assert teams == ["south", "north"]
    assert "No action 'A-1'" in run(app, "amira", "action A-1").plain()  # not amira's team
    asyncio.run(app.deliver())
    assert app.transports[0].dms[0][1].plain().splitlines()[0] == \
        "carebot: an action on the South Community Team plan is yours"
