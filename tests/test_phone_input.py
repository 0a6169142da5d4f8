"""What staff type on a phone, through the real dispatcher: each variant either runs the
command meant (the row written says so) or gets one did-you-mean line and writes nothing."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from storage.models import AuditEvent, Client, Contact
from tests.conftest import count, run


def _contact(app, ref: str) -> Contact:
    with Session(app.engine) as s:
        return s.exec(select(Contact).join(Client).where(Client.ref == ref)).one()


@pytest.mark.parametrize("typed", [
    "missed C-2M9Q no reply", "missed C-2M9Q noreply", "missed C-2M9Q no-reply",
    "missed C-2M9Q No_Reply", "missed C-2M9Q NO REPLY", "missed C-2M9Q no answer",
    "missed c2m9q no_reply", "missed C-2M9Q. no_reply", "missed C\u20132M9Q no_reply",
    "missed C\u20112M9Q no_reply", "missed \u201cC-2M9Q\u201d no_reply", "missed c-2m9q, noreply",
])
def test_each_spelling_logs_the_reason_meant(app, typed):
    reply = run(app, "amira", typed)
    assert reply.ok, reply.plain()
    contact = _contact(app, "C-2M9Q")
    assert (contact.status, contact.reason_code, contact.note) == ("missed", "no_reply", None)


def test_a_two_word_reason_keeps_the_rest_as_the_note(app):
    assert run(app, "amira", "missed C-2M9Q no reply rang twice, no answer").ok
    contact = _contact(app, "C-2M9Q")
    assert (contact.reason_code, contact.note) == ("no_reply", "rang twice, no answer")


@pytest.mark.parametrize("typed, line", [
    ("mised C-2M9Q hospital", "Unknown command 'mised'. Did you mean missed"),
    ("dne C-2M9Q", "Unknown command 'dne'. Did you mean done"),
    ("missed C-2M9Q hosptal",
     "Unknown reason code 'hosptal'. Did you mean hospital? Use one of: unavailable, hospital"),
    ("done C-2M9O", "No contact 'C-2M9O' on your teams' list for Tue 24 Nov. Did you mean C-2M9Q? "
                    "Example: done C-2M9Q"),
    ("help mised", "No command 'mised'. Did you mean missed"),
])
def test_a_near_miss_gets_a_did_you_mean_and_writes_nothing(app, typed, line):
    reply = run(app, "amira", typed)
    assert not reply.ok and reply.plain().startswith(line), reply.plain()
    assert _contact(app, "C-2M9Q").status == "open"
    assert count(app.engine, AuditEvent) == 0


def test_a_far_miss_suggests_nothing(app):
    assert run(app, "amira", "xyzzy").plain() == ("Unknown command 'xyzzy'. Type `help` for "
                                                  "the list. Example: due")


def test_help_for_one_command_gives_its_use_and_example(app):
    text = run(app, "ben", "help missed").plain()
    assert "Log a contact missed, with a reason code." in text
    assert "Use: missed REF [REASON] [NOTE…]" in text and "e.g. missed C-7F3K hospital" in text
    assert "Only a manager" in run(app, "ben", "help action close").plain()


def test_help_shows_a_person_their_everyday_commands_first(app):
    staff = run(app, "ben", "help").plain()
    assert staff.startswith("Your everyday commands") and "More: help all" in staff
    assert "done REF" in staff and "missed REF" in staff
    assert "resolve ID" not in staff and "action add" not in staff
    assert len(staff.splitlines()) < 30
    everything = run(app, "ben", "help all").plain()
    assert "resolve ID" in everything and "action add" not in everything  # not a supervisor's
    assert "reconcile" in run(app, "amira", "help").plain()


@pytest.mark.parametrize("period", ["last week", "lastweek", "last-week", "Last Week",
                                    "last\u2013week"])
def test_last_week_however_it_is_typed(app, period):
    reply = run(app, "amira", f"status {period}")
    assert reply.ok, reply.plain()
    assert "16 Nov" in reply.plain()  # the Monday of the week before 24 Nov 2026
