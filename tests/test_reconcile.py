"""End-of-day reconciliation: counts, open items, the stored log row, who may run it."""
from __future__ import annotations

import asyncio

from sqlmodel import Session, select

from storage.models import AuditEvent, Outbox, Reconciliation
from tests.conftest import count, run


def test_reconcile_counts_lists_open_and_flags_high_risk(app):
    run(app, "ben", "done C-2M9Q")
    run(app, "amira", "missed C-7F3K hospital")
    run(app, "amira", "missed C-4T7P staffing")
    text = run(app, "amira", "reconcile").plain()
    assert text.splitlines()[0] == "North Community Team: end of day Tue 24 Nov"
    assert "Planned 14 · done 1 · missed 2 · open 11" in text
    assert "Missed by reason: hospital 1, staffing 1" in text
    assert "⚠ C-9X2P · referral · 11:00–15:00 · no one assigned · escalated" in text
    assert "C-7F3K" not in text.split("Still open")[1]  # logged, so not open
    with Session(app.engine) as session:
        row = session.exec(select(Reconciliation)).one()
    assert (row.planned, row.completed, row.missed, row.open) == (14, 1, 2, 11)
    assert {i["ref"] for i in row.open_items if i["needs_escalation"]} >= {"C-9X2P"}
    assert row.run_by == "amira"


def test_rerun_updates_the_same_row(app):
    run(app, "amira", "reconcile")
    run(app, "ben", "done C-2M9Q")
    reply = run(app, "amira", "reconcile").plain()
    assert "Today's log updated (re-run)." in reply
    with Session(app.engine) as session:
        rows = session.exec(select(Reconciliation)).all()
    assert len(rows) == 1 and (rows[0].completed, rows[0].runs) == (1, 2)


def test_staff_cannot_reconcile_and_nothing_is_written(app):
    reply = run(app, "ben", "reconcile")
    assert not reply.ok
    assert reply.plain() == "Only supervisors and managers can use `reconcile`; you are staff. Nothing was changed."
    assert count(app.engine, Reconciliation) == 0
    assert count(app.engine, AuditEvent) == 0


def test_all_done_says_so(app):
    from tests.conftest import DAY
    from bot.demo import demo_rows

    for row in demo_rows(DAY):
        if row["team"] == "north":
            run(app, "amira", f"done {row['contact_id']}")
    assert "Every contact has an outcome. ✓" in run(app, "amira", "reconcile").plain()


def test_scheduled_reconciliation_is_stored_and_posted_once(app):
    recorder = app.transports[0]
    assert asyncio.run(app.run_job("reconcile", "north")) is True
    assert asyncio.run(app.run_job("reconcile", "north")) is False  # the job ran twice
    assert len(recorder.posts) == 1 and "end of day" in recorder.posts[0][1].plain()
    with Session(app.engine) as session:
        assert session.exec(select(Reconciliation)).one().run_by == "scheduler"
        keys = session.exec(select(Outbox.key).where(Outbox.key.like("reconcile:%"))).all()
        assert keys == ["reconcile:north:2026-11-24"]
