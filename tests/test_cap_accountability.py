"""A CAP that holds its owners to account (issue 18 §2): the seeds' action fields kept in every
version and in the evidence pack, a metric-linked action showing the live value against its
target, milestones, overdue escalation within the policy's bounds, reopen (by a manager, or by
a slip found 4 weeks after closure), CQC reminders at 14, 7, 3 and 1 days, `plan export`."""
from __future__ import annotations

import asyncio
import csv
from datetime import timedelta

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from messages import pack
from storage import export
from storage.models import (Action, ActionMilestone, ActionVersion, AuditEvent, Contact,
                            Escalation, Team)
from tests.conftest import MORNING, count, run

ADD = ('action add "Evening meds late" owner=@amira due="in 6 weeks" risk=medicines '
       'finding="Inspection 2026-10: late evening meds"')
SET = ('action set A-1 failure_mode="evening round runs late" control="named lead checks 20:30" '
       'control_owner=@ben root_cause="no one owns the round" immediate_control="extra check" '
       'metric=missed_rate target=5% regulation="Reg 12 safe care" priority=high')


def days(app, n: float) -> None:
    app.clock.set(app.clock.now() + timedelta(days=n))


def contacts_done(app, *, missed: int = 0, when=None) -> int:
    """North's contacts moved to `when` (default: 2 days ago) and done, `missed` of them missed;
    returns how many there are."""
    when = when or MORNING - timedelta(days=2)
    with Session(app.engine) as s:
        north = s.exec(select(Team).where(Team.key == "north")).one()
        ids = s.exec(select(Contact.id).where(Contact.team_id == north.id)
                     .order_by(Contact.id)).all()
        s.exec(update(Contact).where(col(Contact.id).in_(ids)).values(
            due_start=when, due_end=when + timedelta(hours=1), status="done",
            outcome_at=when + timedelta(minutes=30)))
        s.exec(update(Contact).where(col(Contact.id).in_(ids[:missed])).values(status="missed"))
        others = s.exec(select(Contact.id).where(Contact.team_id != north.id)).all()
        s.exec(update(Contact).where(col(Contact.id).in_(others)).values(
            status="done", outcome_at=MORNING))
        s.commit()
    return len(ids)


def close(app, action="A-1") -> None:
    assert run(app, "amira", f'action evidence {action} audit "MAR audit: 2 late of 140"').ok
    for answer in ("named lead", "weekly MAR audit", "20:30 check", "monthly audit"):
        run(app, "dan", f"action close {action} {answer}")
    with Session(app.engine) as s:
        assert s.get(Action, int(action[2:])).state == "closed"


def test_fields_round_trip_through_versions_card_and_evidence_pack(app):
    run(app, "amira", ADD)
    reply = run(app, "amira", SET)
    assert reply.ok, reply.plain()
    assert reply.plain().startswith("A-1 updated: failure mode set; control set; root cause "
                                    "set; immediate control set; regulation set; control owner "
                                    "ben; metric missed_rate; target 5; priority high.")
    with Session(app.engine) as s:
        action = s.exec(select(Action)).one()
        assert (action.metric, action.target, action.priority) == ("missed_rate", 5.0, "high")
        snap = s.exec(select(ActionVersion).where(ActionVersion.version == 2)).one().snapshot
    assert snap["failure_mode"] == "evening round runs late"
    assert snap["control_owner"] == "ben" and snap["regulation"] == "Reg 12 safe care"
    assert snap["metric"] == "missed_rate" and snap["target"] == 5.0
    card = run(app, "ben", "action A-1").plain()
    assert "Failure mode: evening round runs late" in card
    assert "Control: named lead checks 20:30 (control owner Ben Okafor)" in card
    assert "Root cause: no one owns the round" in card
    assert "Regulation / quality statement: Reg 12 safe care" in card
    assert "Priority: high" in card
    run(app, "amira", 'action milestone A-1 "Named lead on every round" due="in 2 weeks"')
    # the evidence pack's actions table, versions and milestones carry the fields
    with Session(app.engine) as s:
        north = s.exec(select(Team).where(Team.key == "north")).one()
        tables = {t.name: t for t in export.tables(
            s, team_ids=[north.id], start=MORNING - timedelta(days=7), end=MORNING,
            first=MORNING.date() - timedelta(days=7), last=MORNING.date(),
            today=MORNING.date())}
    row = dict(zip(tables["actions"].columns, tables["actions"].values[0]))
    assert (row["failure_mode"], row["control_owner"], row["metric"], row["target"],
            row["regulation"], row["priority"]) == \
        ("evening round runs late", "ben", "missed_rate", 5.0, "Reg 12 safe care", "high")
    versions = pack.shown(tables["action_versions"], ZoneInfo("Europe/London"))
    assert "failure_mode — → evening round runs late" in versions.rows[1][-1]
    assert "metric — → missed_rate" in versions.rows[1][-1]
    milestone = dict(zip(tables["action_milestones"].columns,
                         tables["action_milestones"].values[0]))
    assert (milestone["milestone"], milestone["action"], milestone["state"]) == \
        ("M-1", "A-1", "open")


def test_a_metric_linked_action_shows_the_live_value_against_its_target(app):
    n = contacts_done(app, missed=2)
    run(app, "amira", ADD)
    run(app, "amira", "action set A-1 metric=missed_rate target=5%")
    line = f"Metric: missed-visit rate (28 days) {100 * 2 / n:.1f}% · target ≤ 5%"
    card = run(app, "ben", "action A-1").plain()
    assert line + (" · off target" if 200 / n > 5 else " · on target") in card
    assert line in run(app, "dan", "plan").plain()
    contacts_done(app, missed=0)
    assert "missed-visit rate (28 days) 0.0% · target ≤ 5% · on target" in \
        run(app, "ben", "action A-1").plain()


@pytest.mark.parametrize("line, says", [
    ("action set A-1", "Say which field to set"),
    ("action set A-1 metric=happiness", "Metric 'happiness' must be one of: missed_rate"),
    ("action set A-1 target=five", "Target 'five' is not a number"),
    ("action set A-1 target=5%", "A target needs a metric"),
    ("action set A-1 priority=urgent", "Priority 'urgent' must be one of: high, medium, low"),
    ("action set A-1 control_owner=@zed", "No one called '@zed'"),
    ("action set A-9 priority=high", "No action 'A-9'"),
    ('action milestone A-1 due="in 2 weeks"', "Say what the milestone is"),
    ('action milestone A-1 "Lead named"', "Say the deadline"),
    ('action milestone A-1 "Lead named" due="in 9 weeks"', "can't fall after A-1's deadline"),
    ('action milestone A-1 "Lead named" due="blah"', "can't read 'blah' as a date"),
    ("action milestone done M-7", "No milestone 'M-7'"),
    ("action reopen A-1 slipped", "A-1 is open, so there is nothing to reopen"),
    ("plan exports", "Unknown plan option 'exports'"),
])
def test_bad_input_is_one_line_and_writes_nothing(app, line, says):
    run(app, "amira", ADD)
    before = (count(app.engine, ActionVersion), count(app.engine, ActionMilestone))
    reply = run(app, "dan", line)
    assert not reply.ok and says in reply.plain() and "Example" in reply.plain(), reply.plain()
    assert len(reply.plain().splitlines()) == 1
    assert (count(app.engine, ActionVersion), count(app.engine, ActionMilestone)) == before
    with Session(app.engine) as s:
        action = s.exec(select(Action)).one()
        assert (action.metric, action.target, action.priority, action.state) == \
            (None, None, None, "open")


def test_reopen_needs_a_reason_and_a_manager(app):
    run(app, "amira", ADD)
    close(app)
    refused = run(app, "dan", "action reopen A-1")
    assert not refused.ok and "Say why it reopens" in refused.plain()
    assert not run(app, "amira", "action reopen A-1 slipped").ok
    assert count(app.engine, Action, Action.state == "closed") == 1
    reply = run(app, "dan", "action reopen A-1 late entries back").plain()
    assert reply.startswith("A-1 reopened for review: late entries back.")
    with Session(app.engine) as s:
        action = s.exec(select(Action)).one()
        assert (action.state, action.reopened, action.closure) == ("open", 1, {})
    asyncio.run(app.deliver())
    told = {h for h, r in app.transports[0].dms if "reopened for review" in r.plain()}
    assert told == {"amira", "dan"}


def test_milestones_have_their_own_rag_and_reminders(app):
    run(app, "amira", ADD)
    reply = run(app, "amira", 'action milestone A-1 "Named lead on every round" due="in 8 days"')
    assert reply.ok and "milestone M-1 added" in reply.plain() and "🟢 M-1" in reply.plain()
    assert "🟢 M-1 · Named lead on every round · due Wed 2 Dec 2026 (in 8 days)" in \
        run(app, "dan", "plan").plain()
    start = app.clock.now()
    for n in range(1, 9):
        app.clock.set(start + timedelta(days=n, minutes=-30))
        for _ in range(2):  # a rerun sends nothing new
            asyncio.run(app.run_job("cap_remind", "north"))
    got = [r.plain().splitlines()[1] for h, r in app.transports[0].dms
           if "milestone reminder" in r.plain()]
    assert got == ["M-1 of A-1 · Named lead on every round is due in 7 days (Wed 2 Dec 2026).",
                   "M-1 of A-1 · Named lead on every round is due in 1 day (Wed 2 Dec 2026).",
                   "M-1 of A-1 · Named lead on every round is due today (Wed 2 Dec 2026)."]
    days(app, 1)
    assert "🔴 M-1" in run(app, "ben", "action A-1").plain()
    assert run(app, "amira", "action milestone done M-1").ok
    assert "🔵 M-1 · Named lead on every round · done" in run(app, "ben", "action A-1").plain()
    assert "already done" in run(app, "amira", "action milestone done M-1").plain()


def _pages(app) -> list[str]:
    return [h for h, r in app.transports[0].dms
            if r.plain().startswith("carebot: improvement-plan action past its deadline")]


def test_an_overdue_action_escalates_to_the_manager_then_the_nominated_within_bounds(app):
    contacts_done(app)  # nothing else escalates
    run(app, "amira", 'action add "Rota gaps" owner=@amira due="in 2 days" risk=staffing')
    app.clock.set(MORNING + timedelta(days=2, hours=15))  # the deadline day: not yet overdue
    asyncio.run(app.sweep())
    assert _pages(app) == []
    app.clock.set(MORNING + timedelta(days=3))  # the day after the deadline
    for _ in range(12 * 12):  # every 5 minutes for 12 hours
        asyncio.run(app.sweep())
        days(app, 5 / (24 * 60))
    pages = _pages(app)
    assert pages[:3] == ["dan"] * 3  # the owner's manager first, with its repeats
    assert set(pages[3:]) == {"grace"}  # then the nominated individual
    assert len(pages) == 3 + 3 + 4  # then 4 hourly pages at most: bounded
    with Session(app.engine) as s:
        esc = s.exec(select(Escalation)).one()
        assert esc.trigger == "action_overdue" and esc.ref == "A-1"
        assert esc.exhausted_at is not None and esc.next_fire_at is None
    # a new deadline settles it
    assert run(app, "dan", 'action update A-1 due="in 3 weeks"').ok
    with Session(app.engine) as s:
        assert s.exec(select(Escalation)).one().state == "resolved"


def test_a_slip_found_4_weeks_after_closure_reopens_for_review(app):
    contacts_done(app)
    run(app, "amira", ADD)
    run(app, "amira", "action set A-1 metric=missed_rate target=5%")
    close(app)
    run(app, "dan", 'action add "Falls audit" owner=@amira due="in 6 weeks"')
    run(app, "dan", "action set A-2 metric=missed_rate target=50%")
    close(app, "A-2")
    # three weeks on: no check yet
    app.clock.set(MORNING + timedelta(weeks=3))
    asyncio.run(app.run_job("cap_sustain", "north"))
    assert count(app.engine, AuditEvent, col(AuditEvent.action).in_(
        ["action:reopened", "action:sustained"])) == 0
    # week 4: missed visits are back (a third of the contacts missed in the last 28 days)
    n = contacts_done(app, when=MORNING + timedelta(weeks=3, days=6))
    contacts_done(app, missed=n // 3, when=MORNING + timedelta(weeks=3, days=6))
    app.clock.set(MORNING + timedelta(weeks=4, days=1, minutes=-30))
    for _ in range(2):  # a rerun changes nothing
        asyncio.run(app.run_job("cap_sustain", "north"))
    with Session(app.engine) as s:
        a1, a2 = s.exec(select(Action).order_by(Action.id)).all()
        assert (a1.state, a1.reopened) == ("open", 1)
        assert (a2.state, a2.sustain_checked) == ("closed", 4)  # within its 50% target
        change = s.exec(select(ActionVersion.change).where(ActionVersion.action_id == a1.id)
                        .order_by(col(ActionVersion.version).desc())).first()
    assert change.startswith("reopened: sustained? 4-week check after closure: "
                             "missed-visit rate (28 days)") and change.endswith("slipped")
    told = [h for h, r in app.transports[0].dms if "A-1 reopened for review" in r.plain()]
    assert sorted(told) == ["amira", "dan"]
    with Session(app.engine) as s:
        held = s.exec(select(ActionVersion.change).where(ActionVersion.action_id == a2.id)
                      .order_by(col(ActionVersion.version).desc())).first()
    assert held.startswith("sustained? 4-week check after closure") and held.endswith("— held")
    # the 12-week check follows; no contacts in its 28 days: said so, not judged
    app.clock.set(MORNING + timedelta(weeks=12, days=1, minutes=-30))
    asyncio.run(app.run_job("cap_sustain", "north"))
    with Session(app.engine) as s:
        a2 = s.get(Action, a2.id)
        assert (a2.state, a2.sustain_checked) == ("closed", 12)
        last = s.exec(select(ActionVersion.change).where(ActionVersion.action_id == a2.id)
                      .order_by(col(ActionVersion.version).desc())).first()
    assert last.startswith("sustained? 12-week check") and last.endswith("not judged "
                                                                         "(no data or no target)")


def test_an_overdue_milestone_escalates_and_done_settles_it(app):
    contacts_done(app)
    run(app, "amira", ADD)
    run(app, "amira", 'action milestone A-1 "Named lead on every round" due="in 2 days"')
    app.clock.set(MORNING + timedelta(days=3))
    asyncio.run(app.sweep())
    assert _pages(app) == ["dan"]
    page = next(r for h, r in app.transports[0].dms if h == "dan").plain()
    assert "A-1 · milestone M-1 past its day (26 Nov 2026)" in page
    assert run(app, "amira", "action milestone done M-1").ok
    with Session(app.engine) as s:
        esc = s.exec(select(Escalation)).one()
        assert esc.state == "resolved" and esc.next_fire_at is None


def test_cqc_reminders_fire_at_14_7_3_and_1_days(app):
    assert run(app, "dan", "plan cqc 20 Nov 2026").ok  # due Fri 18 Dec 2026
    start = app.clock.now()
    for n in range(0, 26):
        app.clock.set(start + timedelta(days=n, minutes=-30))
        for team in ("north", "south"):
            asyncio.run(app.run_job("cap_remind", team))
    got = [(h, r.plain().splitlines()[0]) for h, r in app.transports[0].dms
           if "CQC action plan due in" in r.plain()]
    firsts = [line for h, line in got if h == "dan"]
    assert firsts == [f"carebot: CQC action plan due in {d} day{'s' if d > 1 else ''}"
                      for d in (14, 7, 3, 1)]
    assert {h for h, _ in got} == {"dan", "grace"}
    assert len(got) == 8  # once each, whichever team's run came first
    # each reminder is in the audit log (the evidence pack's audit table)
    assert count(app.engine, AuditEvent, AuditEvent.action == "plan:cqc_reminder") == 8


def test_plan_export_is_the_table_cqc_expects(app):
    run(app, "amira", ADD)
    run(app, "amira", 'action evidence A-1 audit "MAR audit week 3: 2 late of 140"')
    run(app, "dan", "plan cqc 20 Nov 2026")
    reply = run(app, "dan", "plan export")
    lines = reply.plain().splitlines()
    assert lines[0] == "All teams: action plan for CQC (1 action)"
    assert lines[1] == "Due to CQC Fri 18 Dec 2026 (in 24 days)"
    assert lines[2] == "Item | Actions | Owner | Deadline | RAG | Evidence"
    assert lines[3] == ("Inspection 2026-10: late evening meds | A-1 Evening meds late | Amira Khan"
                        " | Tue 5 Jan 2027 | green | audit: MAR audit week 3: 2 late of 140")
    # the same table as a CSV file to send on
    (sent,) = reply.files
    assert sent.mime == "text/csv" and sent.filename.startswith("cqc-action-plan-")
    with open(sent.path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["item", "actions", "owner", "deadline", "rag", "evidence"]
    assert rows[1] == ["Inspection 2026-10: late evening meds", "A-1 Evening meds late",
                       "Amira Khan", "Tue 5 Jan 2027", "green",
                       "audit: MAR audit week 3: 2 late of 140"]


def test_doc_defects_shows_the_live_value_from_the_documentation_sample(app, tmp_path):
    """Issue 18 §2's documentation metric: defects per record audited in the last 28 days,
    from the documentation sample (handlers/sampling.py), lower is better."""
    from datetime import date

    from handlers import jobs
    from tests.test_sampling import at, done_week, drawn

    done_week(app, tmp_path, date(2026, 11, 16))  # W47's records, drawn on Monday 23 Nov
    assert jobs.run(app.engine, "sample_draw", "north", at(date(2026, 11, 23), "08:00"))
    run(app, "amira", ADD)
    reply = run(app, "amira", "action set A-1 metric=doc_defects target=10%")
    assert reply.ok, reply.plain()
    label = "Metric: documentation defects per audited record (28 days)"
    assert f"{label} no data yet · target ≤ 10%" in run(app, "ben", "action A-1").plain()
    sample = drawn(app, "2026-W47")
    ben, others = sample["ben"], sample["amira"] + sample["chloe"]
    for line in (f"audit {ben[0]} defect missing_outcome notes thin", f"audit {ben[1]} ok",
                 f"audit {ben[2]} ok", f"audit {ben[3]} ok"):
        assert run(app, "amira", line).ok, line
    line = f"{label} 25.0% · target ≤ 10% · off target"  # 1 defect in 4 audited
    assert line in run(app, "ben", "action A-1").plain()
    assert line in run(app, "dan", "plan").plain()
    for contact_id in [ben[4], *others]:
        assert run(app, "amira", f"audit {contact_id} ok").ok
    assert f"{label} {100 / 13:.1f}% · target ≤ 10% · on target" in \
        run(app, "ben", "action A-1").plain()  # 1 in 13
    app.clock.set(app.clock.now() + timedelta(days=29))  # the audits fall out of the window
    assert f"{label} no data yet · target ≤ 10%" in run(app, "ben", "action A-1").plain()
