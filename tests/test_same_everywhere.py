"""One scripted day gives the same database through the console, Slack and Telegram."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from storage.models import AuditEvent, Contact, Escalation, Person, Reconciliation
from tests.conftest import run
from tests.test_slack import command, post, slack_env  # noqa: F401  (fixture)
from tests.test_telegram import deliver, tg, typed  # noqa: F401  (fixture)

SCRIPT = ["done C-2M9Q", "missed C-7F3K hospital", "missed C-4T7P other family visiting", "reconcile"]
_triggers = itertools.count()


def snapshot(engine) -> dict:
    with Session(engine) as session:
        people = {p.id: p.handle for p in session.exec(select(Person))}
        contacts = {c.source_id: (c.status, c.reason_code, c.note, people.get(c.logged_by_id))
                    for c in session.exec(select(Contact)) if c.status != "open"}
        recs = session.exec(select(Reconciliation)).all()
        escalated = sorted(e.ref for e in session.exec(select(Escalation)))
        checks = [(e.actor, e.detail["planned"], e.detail["open"], len(e.detail["escalated"]))
                  for e in session.exec(select(AuditEvent).where(AuditEvent.action == "reconcile:so_far")
                                            .order_by(AuditEvent.id))]
    return {"contacts": contacts, "escalated": escalated, "checks": checks,
            "reconciliation": [(rec.planned, rec.completed, rec.missed, rec.open, rec.run_by,
                                sorted(i["ref"] for i in rec.open_items)) for rec in recs]}


EXPECTED_CONTACTS = {
    "N-20261124-001": ("missed", "hospital", None, "amira"),
    "N-20261124-002": ("done", None, None, "amira"),
    "N-20261124-004": ("missed", "other", "family visiting", "amira"),
}


@pytest.mark.parametrize("transport", ["console", "slack", "telegram"])
def test_the_same_day_through_every_transport(request, engine, transport):
    if transport == "console":
        app = request.getfixturevalue("app")
        say = lambda line: run(app, "amira", line)  # noqa: E731
    elif transport == "slack":
        app, fake, api, bot = request.getfixturevalue("slack_env")
        say = lambda line: post(bot, command(api, line, trigger=f"s-{next(_triggers)}"))  # noqa: E731
    else:
        app, fake, bot = request.getfixturevalue("tg")
        say = lambda line: deliver(bot, typed("/" + line))  # noqa: E731
    for line in SCRIPT:
        say(line)
    # 08:00 and 13:45: checks so far store no log and escalate only what is past its window.
    state = snapshot(app.engine)
    assert (state["reconciliation"], state["escalated"]) == ([], [])
    app.clock.set(datetime(2026, 11, 24, 13, 45, tzinfo=UTC))
    say("reconcile")
    state = snapshot(app.engine)
    assert (state["reconciliation"], state["escalated"]) == ([], ["C-HTYF", "C-V7QZ", "C-W8UW"])
    assert state["checks"] == [("amira", 14, 11, 0), ("amira", 14, 11, 3)]
    app.clock.set(datetime(2026, 11, 24, 19, 0, tzinfo=UTC))  # after 17:30: the day's log
    say("reconcile")
    state = snapshot(app.engine)
    assert state["contacts"] == EXPECTED_CONTACTS
    [(planned, completed, missed, still_open, run_by, open_refs)] = state["reconciliation"]
    assert (planned, completed, missed, still_open, run_by) == (14, 1, 2, 11, "amira")
    assert "C-2M9Q" not in open_refs and "C-9X2P" in open_refs
    assert state["escalated"] == ["C-9X2P", "C-HTYF", "C-V7QZ", "C-W8UW"]
