"""A team taken out of the config: its chats no longer map to it (commands there are refused
as an unknown chat), the scheduler has no jobs for it, and its records stay."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from bot.config import Config
from handlers import jobs
from handlers.base import Chat
from messages import catalog
from storage import repo
from storage.db import session_scope
from storage.models import AuditEvent, Contact, Reconciliation, Team
from tests.conftest import MORNING, count, link, run


def apply(app, config: Config) -> None:
    with session_scope(app.engine) as s:
        repo.sync_config(s, config)


def without_south(config: Config) -> Config:
    data = config.model_dump()
    data["teams"] = [t for t in data["teams"] if t["key"] != "south"]
    for person in data["people"]:
        person["teams"] = [k for k in person["teams"] if k != "south"]
    return Config.model_validate(data)


def bound(config: Config) -> Config:
    data = config.model_dump()
    for team in data["teams"]:
        team["slack_channel"] = {"north": "C0NORTH01", "south": "C0SOUTH01"}[team["key"]]
        team["telegram_chat"] = {"north": -1001, "south": -1002}[team["key"]]
    for person in data["people"]:
        person["slack_user"] = f"U{person['handle'].upper()}"
    return Config.model_validate(data)


def team(app, key: str) -> Team:
    with Session(app.engine) as s:
        return s.exec(select(Team).where(Team.key == key)).one()


def test_a_removed_team_is_unbound_and_has_no_jobs_but_keeps_its_records(app):
    config = bound(app.config)
    apply(app, config)
    assert run(app, "UERIN", "done C-5H2D", transport="slack", chat="C0SOUTH01").ok
    app.clock.set(MORNING + timedelta(hours=10))  # after 17:30: the day's log is stored
    assert run(app, "erin", "reconcile").ok
    south = team(app, "south")
    contacts = count(app.engine, Contact, Contact.team_id == south.id)
    assert contacts == 14
    assert {t.key for _, t, _ in jobs.schedule(app.engine)} == {"north", "south"}

    apply(app, without_south(config))

    # Its Slack channel, Telegram chat and console key map to nothing: refused, nothing written.
    audit_rows = count(app.engine, AuditEvent)
    reply = run(app, "UDAN", "due", transport="slack", chat="C0SOUTH01")
    assert not reply.ok and reply.plain() == catalog.unbound_chat(Chat("slack", "C0SOUTH01"))
    assert not run(app, "UDAN", "done C-5H2D", transport="slack", chat="C0SOUTH01").ok
    link(app.engine, team={}, people={"dan": {"telegram_user": 7001}})
    reply = run(app, "7001", "due", transport="telegram", chat="-1002")
    assert reply.plain() == catalog.unbound_chat(Chat("telegram", "-1002"))
    assert not run(app, "dan", "due", chat="south").ok
    # Nor can it be named: `due south` and `reconcile south` are refused like an unknown team.
    assert run(app, "dan", "due south").plain().startswith("Unknown team 'south'. Teams: north.")
    assert run(app, "dan", "reconcile south").plain().startswith("Unknown team 'south'. Teams: north.")
    assert count(app.engine, AuditEvent) == audit_rows
    # The team that stayed still works in its own channel.
    assert run(app, "UAMIRA", "done C-2M9Q", transport="slack", chat="C0NORTH01").ok

    # No jobs for it at the next start; its records stay, and the row is kept, inactive.
    assert {t.key for _, t, _ in jobs.schedule(app.engine)} == {"north"}
    south = team(app, "south")
    assert (south.active, south.slack_channel, south.telegram_chat) == (False, None, None)
    assert count(app.engine, Contact, Contact.team_id == south.id) == contacts
    assert count(app.engine, Contact, Contact.team_id == south.id, Contact.status == "done") == 1
    assert count(app.engine, Reconciliation, Reconciliation.team_id == south.id) == 1
    assert count(app.engine, AuditEvent, AuditEvent.team == "south") >= 2
    with Session(app.engine) as s:
        assert [t.key for t in repo.all_teams(s)] == ["north"]
        assert [t.key for t in repo.all_teams(s, removed=True)] == ["north", "south"]

    # Put back in the file, it is bound again.
    apply(app, config)
    assert team(app, "south").active
    assert run(app, "UERIN", "due", transport="slack", chat="C0SOUTH01").ok


def test_a_removed_teams_open_escalation_stops_paging_and_pages_again_when_put_back(app):
    """Nobody can act on a team no longer in the config, so paging it would never end."""
    from handlers import sweep
    from storage.models import EscalationEvent

    config = bound(app.config)
    apply(app, config)
    assert "Escalated" in run(app, "femi", "missed C-5H2D safety").plain()
    pages = lambda: count(app.engine, EscalationEvent, EscalationEvent.kind == "paged")  # noqa: E731
    first = pages()
    assert first >= 1

    apply(app, without_south(config))
    assert sweep.sweep(app.engine, MORNING + timedelta(hours=3)) == 0
    assert pages() == first

    apply(app, config)
    assert sweep.sweep(app.engine, MORNING + timedelta(hours=3)) == 1
    assert pages() > first
