"""The command path reads config-derived rows (reason codes, memberships) from a per-process
cache: a config loaded by another process must still be obeyed on the very next command."""
from __future__ import annotations

from sqlalchemy import event
from sqlmodel import select

from handlers.base import Actor, Chat
from handlers.dispatch import dispatch_line
from storage import repo
from storage.db import session_scope
from storage.models import Contact
from tests.conftest import run


def _contact(engine, ref: str) -> Contact:
    from storage.models import Client

    with session_scope(engine) as session:
        return session.exec(select(Contact).join(Client, Client.id == Contact.client_id)
                            .where(Client.ref == ref)).first()


def _sync(app, **changes) -> None:
    """What another process does at start: load its config file into the same database."""
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config.model_copy(update=changes))


def test_a_reason_code_added_by_another_process_is_taken_at_once(app):
    assert run(app, "amira", "missed C-7F3K hospital").ok  # the codes are cached now
    flood = app.config.reason_codes[0].model_copy(update={"code": "flood", "label": "Flooded road"})
    _sync(app, reason_codes=[*app.config.reason_codes, flood])
    reply = run(app, "amira", "missed C-2M9Q flood")
    assert reply.ok, reply.plain()
    assert _contact(app.engine, "C-2M9Q").reason_code == "flood"


def test_a_reason_code_dropped_by_another_process_is_refused_and_nothing_written(app):
    assert run(app, "amira", "missed C-7F3K staffing").ok
    _sync(app, reason_codes=[c for c in app.config.reason_codes if c.code != "hospital"])
    reply = run(app, "amira", "missed C-2M9Q hospital")
    assert not reply.ok and "hospital" in reply.plain()
    assert _contact(app.engine, "C-2M9Q").status == "open"


def test_leaving_a_team_in_another_process_config_ends_access_to_its_channel(app):
    assert run(app, "ben", "done C-2M9Q", chat="north").ok
    people = [p.model_copy(update={"teams": ["south"]}) if p.handle == "ben" else p
              for p in app.config.people]
    _sync(app, people=people)
    reply = run(app, "ben", "done C-7F3K", chat="north")
    assert not reply.ok and "North" in reply.plain()
    assert _contact(app.engine, "C-7F3K").status == "open"
    assert run(app, "ben", "due", chat="south").ok  # and the new team is theirs


def test_a_logged_outcome_resolves_person_team_and_role_in_one_query(app):
    """The ack path's lookups: one SELECT for the person and the chat's team; memberships and
    reason codes come from the cache once it is warm (a counted query, not a timing). A
    low-risk client: no escalation, whose paging reads people on purpose."""
    actor, chat = Actor("console", "amira"), Chat("console", "north")
    assert dispatch_line(app.engine, app.clock, actor, chat, "missed C-4T7P staffing").ok
    seen: list[str] = []

    def note(conn, cursor, statement, params, context, many):
        seen.append(" ".join(statement.split()).lower())

    event.listen(app.engine, "before_cursor_execute", note)
    try:
        reply = dispatch_line(app.engine, app.clock, actor, chat, "missed C-4T7P weather")
    finally:
        event.remove(app.engine, "before_cursor_execute", note)
    assert reply.ok, reply.plain()
    assert len([s for s in seen if s.startswith("select") and "from person" in s]) == 1
    assert not [s for s in seen if "from membership" in s or "from reasoncode" in s]
    assert not [s for s in seen if s.startswith("select") and "from team" in s]
