"""due / done / missed through the real dispatcher, on SQLite and PostgreSQL."""
from __future__ import annotations

import json

from sqlmodel import Session, select

from storage.models import AuditEvent, Contact, Outbox
from tests.conftest import count, run


def contact(engine, source_id: str) -> Contact:
    with Session(engine) as session:
        return session.exec(select(Contact).where(Contact.source_id == source_id)).one()


def test_due_groups_by_assignee_with_high_risk_first_and_gaps_flagged(app):
    text = run(app, "amira", "due").plain()
    lines = text.splitlines()
    assert lines[0] == "North Community Team: contacts due Tue 24 Nov"
    assert "14 due · 0 done · 0 missed · 14 open" in text
    amira = lines.index(next(line for line in lines if line.startswith("Amira Khan (")))
    assert lines[amira + 1].startswith("⚠ C-7F3K · discharge · 09:00–12:00 · open")
    gaps = lines.index(next(line for line in lines if line.startswith("Needs cover")))
    assert "C-9X2P" in "\n".join(lines[gaps:]) and "C-4T7P" in "\n".join(lines[gaps:])
    # Two teams, separate lists: South's refs never appear on North's.
    assert "C-5H2D" not in text


def test_due_for_another_team_and_unknown_team(app):
    assert run(app, "dan", "due south").plain().startswith("South Community Team: contacts due")
    reply = run(app, "amira", "due south")  # not her team
    assert not reply.ok and "You are not in South Community Team" in reply.plain()
    reply = run(app, "amira", "due west")
    assert not reply.ok and "Unknown team 'west'" in reply.plain() and "due north" in reply.plain()


def test_slash_and_umbrella_forms_are_the_same_command(app):
    plain = run(app, "amira", "due").plain()
    assert run(app, "amira", "/care due").plain() == plain
    assert run(app, "amira", "/due").plain() == plain
    assert run(app, "amira", "/due@carebot_bot").plain() == plain


def test_done_records_outcome_who_and_when_and_audits(app):
    reply = run(app, "ben", "done C-2M9Q visited, all well")
    assert reply.ok and reply.plain() == "✓ C-2M9Q done at 08:00."
    row = contact(app.engine, "N-20261124-002")
    assert (row.status, row.note, row.logged_via) == ("done", "visited, all well", "console")
    assert row.outcome_at == app.clock.now()
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:done") == 1


def test_missed_with_reason_and_logging_twice_updates_and_says_so(app):
    assert run(app, "amira", "missed C-7F3K hospital").plain() == \
        "C-7F3K logged missed: Hospitalisation."
    again = run(app, "amira", "missed C-7F3K unavailable").plain()
    # High risk: unavailable does not account for the client, so it escalates; amira is on
    # call and logged it, so she owns it rather than being paged.
    assert again.splitlines() == [
        "C-7F3K updated: missed, Client unavailable (was missed, hospital).",
        "You are on call, so you own E-1 (nobody was paged; the channel was told). "
        "Close it with: resolve 1 what was done"]
    row = contact(app.engine, "N-20261124-001")
    assert (row.status, row.reason_code) == ("missed", "unavailable")
    assert count(app.engine, Contact, Contact.status != "open") == 1


def test_missed_without_reason_offers_the_codes_and_writes_nothing(app):
    reply = run(app, "amira", "missed C-7F3K")
    assert "Why was C-7F3K missed?" in reply.plain()
    actions = [o.action for o in reply.blocks[0].select.options]
    assert "missed:C-7F3K:hospital" in actions and len(actions) == 9
    assert count(app.engine, AuditEvent) == 0 or count(
        app.engine, AuditEvent, AuditEvent.action.like("contact:%")) == 0
    assert contact(app.engine, "N-20261124-001").status == "open"


def test_other_needs_a_note_and_notes_are_masked(app):
    reply = run(app, "amira", "missed C-9X2P other")
    assert not reply.ok and "needs a short note" in reply.plain()
    assert contact(app.engine, "N-20261124-003").status == "open"
    run(app, "amira", "missed C-9X2P other family say NHS 943 476 5919, DOB 12/03/1954")
    note = contact(app.engine, "N-20261124-003").note
    assert "943" not in note and "1954" not in note
    assert note == "family say NHS [NHS no. removed], DOB [date removed]"


def test_escalating_reasons_say_so(app):
    assert "Escalated as E-1: the on-call lead is being paged." in \
        run(app, "ben", "missed C-9X2P safety").plain()
    assert "Escalated as E-2" in run(app, "ben", "missed C-7F3K no_reply").plain()  # high risk
    assert "Escalated" not in run(app, "ben", "missed C-2M9Q no_reply").plain()  # medium risk


def test_bad_input_gets_one_clear_line_and_writes_nothing(app):
    before = count(app.engine, AuditEvent)
    cases = {
        "done C-NOPE": "No contact 'C-NOPE'",
        "missed C-7F3K hosp": "Unknown reason code 'hosp'",
        "done": "Missing REF",
        "missed": "Missing REF",
        "frobnicate": "Unknown command 'frobnicate'",
        'done "C-NOPE': "No contact 'C-NOPE'",  # a quote typed around a ref is dropped
    }
    for line, expected in cases.items():
        reply = run(app, "amira", line)
        assert not reply.ok, line
        text = reply.plain()
        assert expected in text, (line, text)
        assert len(text.splitlines()) == 1 and "Example" in text, text
    assert count(app.engine, AuditEvent) == before
    assert count(app.engine, Contact, Contact.status != "open") == 0


def test_unknown_user_is_refused_and_nothing_written(app):
    for transport, user in (("console", "mallory"), ("slack", "U0NOBODY"), ("telegram", "999")):
        reply = run(app, user, "done C-2M9Q", transport=transport, chat="C0NORTH01"
                    if transport == "slack" else None)
        assert not reply.ok and "doesn't know you" in reply.plain()
    assert count(app.engine, Contact, Contact.status != "open") == 0
    assert count(app.engine, AuditEvent, AuditEvent.action.like("contact:%")) == 0


def test_staff_cannot_log_another_teams_contact(app):
    reply = run(app, "femi", "done C-7F3K")  # South staff, North client
    assert not reply.ok and "No contact 'C-7F3K'" in reply.plain()


def test_done_refreshes_todays_channel_list(app):
    import asyncio

    asyncio.run(app.run_job("morning", "north"))
    recorder = app.transports[0]
    assert len(recorder.posts) == 2 - 1  # north only
    run(app, "ben", "done C-2M9Q")
    asyncio.run(app.deliver())
    assert len(recorder.edits) == 1
    assert "C-2M9Q · home visit · 10:00–11:00 · done ✓" in recorder.edits[0][1].plain()
    with Session(app.engine) as session:
        row = session.exec(select(Outbox)).one()
        assert (row.status, row.revision, row.receipts["recorder"]["rev"]) == ("sent", 1, 1)


def test_logging_the_same_outcome_twice_records_once(app):
    run(app, "ben", "done C-2M9Q")
    assert run(app, "ben", "done C-2M9Q").plain() == "C-2M9Q is already logged done; nothing changed."
    run(app, "amira", "missed C-7F3K hospital")
    assert run(app, "amira", "missed C-7F3K hospital").plain() == \
        "C-7F3K is already logged missed: Hospitalisation; nothing changed."
    assert count(app.engine, AuditEvent, AuditEvent.action.like("contact:%")) == 2


def test_help_explains_every_command_with_an_example(app):
    text = run(app, "amira", "help").plain()
    for usage, example in [("due [TEAM]", "due north"), ("done REF [NOTE…]", "done C-2M9Q"),
                           ("missed REF [REASON] [NOTE…]", "missed C-7F3K hospital"),
                           ("reconcile [TEAM]", "reconcile"), ("whoami", "whoami")]:
        assert usage in text and f"e.g. {example}" in text
    assert "reconcile" not in run(app, "ben", "help").plain()  # staff see what they can use


def test_mine_lists_only_the_callers_contacts_and_the_pages_they_hold(app):
    run(app, "ben", "missed C-9X2P safety")  # pages amira, the on-call lead
    text = run(app, "amira", "mine").plain()
    assert text.startswith("Your day · Tue 24 Nov")
    assert "C-7F3K" in text and "C-2M9Q" not in text  # hers, not ben's
    assert "E-1 · C-9X2P · missed: Safety concern · paging you" in text
    assert run(app, "amira", "due mine").plain() == text
    run(app, "amira", "ack 1")
    assert "E-1 · C-9X2P · missed: Safety concern · yours" in run(app, "amira", "mine").plain()
    bens = run(app, "ben", "mine").plain()
    assert "C-2M9Q" in bens and "C-7F3K" not in bens and "Pages you hold" not in bens


def test_cover_gives_a_gap_to_a_colleague_updates_the_list_and_dms_them(app):
    from storage.models import Outbox

    run(app, "amira", "due")  # nothing posted yet: the morning list is queued by the job
    assert run(app, "amira", "cover C-9X2P").plain().startswith("Who covers C-9X2P? Pick")
    reply = run(app, "amira", "cover C-9X2P @ben")
    assert reply.ok and reply.plain().startswith("C-9X2P is now covered by Ben Okafor")
    assert "C-9X2P" in run(app, "ben", "mine").plain()
    with Session(app.engine) as s:
        dm = s.exec(select(Outbox).where(Outbox.key.like("cover:%"))).one()
        assert dm.target == "person:ben" and "C-9X2P" in json.dumps(dm.payload)
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:cover") == 1
    # Refused, nothing written: staff, someone outside the team, a contact already logged.
    assert "supervisor" in run(app, "ben", "cover C-4T7P @chloe").plain()
    assert run(app, "amira", "cover C-4T7P @femi").plain().startswith(
        "No one '@femi' in North Community Team to cover it.")
    run(app, "amira", "done C-4T7P")
    assert "cover is for open contacts" in run(app, "amira", "cover C-4T7P @ben").plain()
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:cover") == 1


def test_done_at_records_when_the_visit_happened_and_refuses_a_time_to_come(app):
    reply = run(app, "amira", "done C-2M9Q at=7:40 seen early, by arrangement")
    assert reply.ok and reply.plain().startswith("✓ C-2M9Q done at 07:40")
    with Session(app.engine) as s:
        row = s.exec(select(Contact).where(Contact.source_id == "N-20261124-002")).one()
        assert row.outcome_at.strftime("%H:%M") == "07:40" and row.note == "seen early, by arrangement"
    before = count(app.engine, AuditEvent)
    for line, said in (("done C-7F3K at=09:40", "at=09:40 is later than now (08:00)"),
                       ("done C-7F3K at=9h", "Can't read at='9h' as a time today (HH:MM).")):
        text = run(app, "amira", line).plain()
        assert text.startswith(said) and text.endswith("Example: done C-7F3K at=09:40"), text
    assert count(app.engine, AuditEvent) == before


def test_a_tapped_reason_is_nine_statements_and_settles_from_the_contact_query(app):
    """The reason tap's unit of work, counted (not timed): the caller, the event id, the contact
    with its live escalation (no query of its own), the outcome UPDATE, the list's stale mark,
    the refreshed list, the audit chain's three. A live escalation is still settled."""
    from sqlalchemy import event

    from handlers.base import Actor, Chat, Command
    from handlers.dispatch import dispatch
    from storage.models import Escalation

    def tap(reason: str, n: int):
        return dispatch(app.engine, app.clock, Command(
            Actor("console", "amira"), Chat("console", "north"), "missed", ["C-7F3K", reason],
            from_button=True, event_id=f"test:tap:{n}"))

    assert tap("unavailable", 1).ok  # high risk: an escalation opens, amira owns it
    with Session(app.engine) as session:
        [esc] = session.exec(select(Escalation)).all()
    assert esc.state != "resolved"
    seen: list[str] = []

    def note(conn, cursor, statement, params, context, many):
        seen.append(" ".join(statement.split()).lower())

    assert tap("hospital", 2).ok  # settles it (more statements: the close, its audit)
    with Session(app.engine) as session:
        assert session.get(Escalation, esc.id).state == "resolved"
    event.listen(app.engine, "before_cursor_execute", note)
    try:
        assert tap("unavailable", 3).ok  # none live now: the escalation stays resolved
        seen.clear()
        reply = tap("hospital", 4)
    finally:
        event.remove(app.engine, "before_cursor_execute", note)
    assert reply.ok and reply.refreshed is not None
    assert not [s for s in seen if "from escalation" in s], seen
    assert len([s for s in seen if s.startswith("update contact set")]) == 1
    assert len(seen) == 9, seen
