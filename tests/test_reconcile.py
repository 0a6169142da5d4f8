"""Reconciliation: a check so far during the day, the end-of-day log after it, carried-over
contacts counted apart, who may run it."""
from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.cli import post_reconcile
from bot.console import Console
from handlers.export import build_pack
from storage.importer import import_contacts
from storage.models import AuditEvent, Escalation, Outbox, Reconciliation, Team
from tests.conftest import DAY, count, run, write_csv


def at(app, hhmm: str) -> None:
    """Set the simulated clock on the demo day (London is on GMT in November, so UTC)."""
    hour, minute = map(int, hhmm.split(":"))
    app.clock.set(datetime(2026, 11, 24, hour, minute, tzinfo=UTC))


def advance(app, hhmm: str) -> None:
    """Move the clock as production would: scheduled jobs and escalation sweeps on the way."""
    hour, minute = map(int, hhmm.split(":"))
    asyncio.run(Console(app, "amira").advance(datetime(2026, 11, 24, hour, minute, tzinfo=UTC)))


def escalated_refs(app, team: str = "north") -> list[str]:
    with Session(app.engine) as session:
        return sorted(session.exec(select(Escalation.ref).join(Team).where(Team.key == team)).all())


def logs(app, team: str = "north") -> list[Reconciliation]:
    with Session(app.engine) as session:
        return list(session.exec(select(Reconciliation).join(Team).where(Team.key == team)))


def versions(app, action: str = "reconcile") -> list[dict]:
    with Session(app.engine) as session:
        return [e.detail for e in session.exec(select(AuditEvent).where(
            AuditEvent.action == action, AuditEvent.subject == "north:2026-11-24")
            .order_by(col(AuditEvent.id)))]


def eod_posts(app, team: str = "north") -> list[str]:
    return [r.plain() for key, r in app.transports[0].posts if key == team and "end of day" in r.plain()]


def test_end_of_day_counts_lists_open_and_flags_high_risk(app):
    run(app, "ben", "done C-2M9Q")
    run(app, "amira", "missed C-7F3K hospital")
    run(app, "amira", "missed C-4T7P staffing")
    at(app, "19:00")
    text = run(app, "amira", "reconcile").plain()
    assert text.splitlines()[0] == "North Community Team: end of day Tue 24 Nov"
    assert "Planned 14 · done 1 · missed 2 · open 11" in text
    assert "Missed by reason: hospital 1, staffing 1" in text
    assert "⚠ C-9X2P · referral · 11:00–15:00 · no one assigned · escalated" in text
    assert "C-7F3K" not in text.split("Still open")[1]  # logged, so not open
    assert "Carried over" not in text
    [row] = logs(app)
    assert (row.planned, row.completed, row.missed, row.open) == (14, 1, 2, 11)
    assert {i["ref"] for i in row.open_items if i["needs_escalation"]} >= {"C-9X2P"}
    assert row.run_by == "amira"


def test_a_check_at_0800_pages_nobody_and_stores_nothing(app):
    run(app, "ben", "done C-2M9Q")
    reply = run(app, "amira", "reconcile")
    text = reply.plain()
    assert text.splitlines()[0] == "North Community Team: so far at 08:00, Tue 24 Nov"
    assert "Planned 14 · done 1 · missed 0 · open 13" in text
    assert "Nothing escalated: no high-risk contact is past its window yet." in text
    assert "A check so far: nothing stored. The day's log is made at 17:30." in text
    assert "⚠ C-HTYF · review · 08:00–10:00 · Ben Okafor" in text  # listed, not escalated
    assert "escalated" not in text.replace("Nothing escalated", "")
    asyncio.run(app.deliver())
    assert escalated_refs(app) == [] and app.transports[0].dms == []
    assert logs(app) == []
    assert count(app.engine, Outbox, col(Outbox.key).like("reconcile:%")) == 0
    [check] = versions(app, "reconcile:so_far")  # the check itself is on the record
    assert (check["planned"], check["completed"], check["escalated"]) == (14, 1, [])


def test_a_check_escalates_only_high_risk_contacts_past_their_window_and_grace(app):
    # North's high-risk contacts end 10:00 (C-HTYF), 12:00 (C-7F3K), 13:00 (C-V7QZ, C-W8UW)
    # and 15:00 (C-9X2P). The team's grace is 60 minutes, so at 13:30 two are past it.
    with Session(app.engine) as session:
        team = session.exec(select(Team).where(Team.key == "north")).one()
        team.escalation = {**team.escalation, "time_critical_grace_minutes": 60}
        session.add(team)
        session.commit()
    at(app, "13:30")
    text = run(app, "amira", "reconcile").plain()
    assert escalated_refs(app) == ["C-7F3K", "C-HTYF"]
    assert "⚠ 2 high-risk past their window with no outcome: escalated to the on-call lead " \
           "(E-1, E-2)." in text
    assert "⚠ C-HTYF · review · 08:00–10:00 · Ben Okafor · window ended · escalated" in text
    assert "⚠ C-W8UW · discharge · 11:00–13:00 · no one assigned\n" in text  # within grace
    assert "C-X3Z6 · home visit · 08:00–11:00 · Chloe Price · window ended\n" in text
    at(app, "14:05")
    run(app, "amira", "reconcile")
    assert escalated_refs(app) == ["C-7F3K", "C-HTYF", "C-V7QZ", "C-W8UW"]  # none twice
    assert logs(app) == []


def test_the_day_a_check_the_scheduled_log_and_a_later_update(app):
    run(app, "amira", "reconcile")  # 08:00: a check so far
    at(app, "10:30")
    run(app, "ben", "done C-2M9Q")
    run(app, "amira", "missed C-4T7P staffing")
    advance(app, "17:31")  # the 17:30 run happens even though `reconcile` ran at 08:00
    [row] = logs(app)
    assert (row.planned, row.completed, row.missed, row.open, row.runs, row.run_by) == \
        (14, 1, 1, 12, 1, "scheduler")
    [post] = eod_posts(app)
    assert "Planned 14 · done 1 · missed 1 · open 12" in post
    assert escalated_refs(app) == ["C-7F3K", "C-9X2P", "C-HTYF", "C-V7QZ", "C-W8UW"]

    at(app, "18:00")
    run(app, "amira", "done C-X4F7")  # logged after the log was made
    at(app, "19:00")
    text = run(app, "amira", "reconcile").plain()
    assert text.splitlines()[0] == "North Community Team: end of day Tue 24 Nov"
    assert "Today's log updated at 19:00 (run 2); every version is kept in the audit." in text
    [row] = logs(app)
    assert (row.completed, row.open, row.runs, row.run_by) == (2, 11, 2, "amira")
    assert [(v["completed"], v["runs"]) for v in versions(app)] == [(1, 1), (2, 2)]
    asyncio.run(app.deliver())
    assert len(eod_posts(app)) == 1  # posted once; the channel's copy is edited in place
    [edit] = [r.plain() for key, r in app.transports[0].edits if "end of day" in r.plain()]
    assert "Planned 14 · done 2 · missed 1 · open 11" in edit


def test_scheduled_reconciliation_is_stored_and_posted_once(app):
    recorder = app.transports[0]
    assert asyncio.run(app.run_job("reconcile", "north")) is False  # 08:00: not the day's log yet
    assert logs(app) == []
    at(app, "17:30")
    assert asyncio.run(app.run_job("reconcile", "north")) is True
    assert asyncio.run(app.run_job("reconcile", "north")) is False  # the job ran twice
    assert len(recorder.posts) == 1 and "end of day" in recorder.posts[0][1].plain()
    [row] = logs(app)
    assert (row.run_by, row.runs) == ("scheduler", 1)
    with Session(app.engine) as session:
        keys = session.exec(select(Outbox.key).where(col(Outbox.key).like("reconcile:%"))).all()
    assert keys == ["reconcile:north:2026-11-24"]


def test_contacts_carried_over_are_listed_apart_never_planned(app, tmp_path):
    yesterday = DAY - timedelta(days=1)
    rows = [{"contact_id": f"N-OLD-{n}", "client_ref": ref, "team": "north", "kind": "review",
             "due_start": f"{yesterday}T09:00", "due_end": f"{yesterday}T11:00", "assignee": "",
             "risk": risk, "time_critical": "false"}
            for n, (ref, risk) in enumerate([("C-OLD1", "high"), ("C-OLD2", "low"),
                                             ("C-OLD3", "medium")], 1)]
    import_contacts(app.engine, write_csv(tmp_path / "old.csv", rows))
    run(app, "amira", "done N-OLD-3")  # a late outcome: no longer open, not carried
    text = run(app, "amira", "reconcile").plain()
    assert "Planned 14 · done 0 · missed 0 · open 14\n" \
           "Carried over 2: still open from earlier days, not in Planned." in text
    carried = text.split("Carried over (2): open from earlier days.\n")[1].splitlines()
    assert carried[:2] == ["⚠ C-OLD1 · review · overdue since Mon 23 Nov · no one assigned · escalated",
                           "C-OLD2 · review · overdue since Mon 23 Nov · no one assigned"]
    assert escalated_refs(app) == ["C-OLD1"]  # its window ended yesterday; today's have not
    at(app, "17:30")
    asyncio.run(app.run_job("reconcile", "north"))
    [row] = logs(app)
    assert (row.planned, row.open) == (14, 14)
    assert sorted(i["ref"] for i in row.open_items if i["carried_over"]) == ["C-OLD1", "C-OLD2"]
    assert versions(app)[-1]["carried_over"] == 2
    assert "Carried over 2" in eod_posts(app)[0]
    with Session(app.engine) as session:  # the evidence pack keeps them apart too
        north = session.exec(select(Team).where(Team.key == "north")).one()
        build_pack(session, [north], DAY, DAY, app.clock.now(), ZoneInfo("Europe/London"),
                   tmp_path / "pack")
    with (tmp_path / "pack" / "reconciliations.csv").open(newline="", encoding="utf-8") as fh:
        [log] = list(csv.DictReader(fh))
    assert (log["planned"], log["carried_over"], log["carried_over_refs"]) == ("14", "2", "C-OLD1 C-OLD2")
    assert "C-OLD1" not in log["open_refs"]


def test_cli_post_says_what_it_stored_and_escalated(app):
    out = post_reconcile(app, "north")
    assert out.splitlines()[0] == ("reconcile for north: a check so far at 08:00, before the "
                                   "end-of-day time 17:30; nothing stored or posted (the day's "
                                   "log is made at 17:30).")
    assert out.splitlines()[2] == "escalated: none"
    assert logs(app) == [] and app.transports[0].posts == []
    at(app, "17:30")
    out = post_reconcile(app, "north").splitlines()
    assert out[0] == "reconcile for north: stored the log for Tue 24 Nov (run 1); post queued."
    assert out[1] == "planned 14 · done 0 · missed 0 · open 14 · carried over 0"
    assert out[2] == "escalated: E-1 C-HTYF, E-2 C-7F3K, E-3 C-V7QZ, E-4 C-9X2P, E-5 C-W8UW"
    at(app, "19:00")
    out = post_reconcile(app, "north").splitlines()
    assert out[0] == ("reconcile for north: stored the log for Tue 24 Nov (run 2); "
                      "already posted today: the post is updated in place.")
    assert len(eod_posts(app)) == 1 and logs(app)[0].runs == 2


def test_staff_cannot_reconcile_and_nothing_is_written(app):
    reply = run(app, "ben", "reconcile")
    assert not reply.ok
    assert reply.plain() == "Only supervisors and managers can use `reconcile`; you are staff. Nothing was changed."
    assert count(app.engine, Reconciliation) == 0
    assert count(app.engine, AuditEvent) == 0


def test_all_done_says_so(app):
    from bot.demo import demo_rows

    for row in demo_rows(DAY):
        if row["team"] == "north":
            run(app, "amira", f"done {row['contact_id']}")
    at(app, "17:45")
    assert "Every contact has an outcome. ✓" in run(app, "amira", "reconcile").plain()
