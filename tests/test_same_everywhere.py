"""One scripted day gives the same database through the console, Slack and Telegram."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from storage.models import AuditEvent, Contact, Escalation, Person, Reconciliation
from tests.conftest import command, count, deliver, post, pressed, run, tapped, typed
from tests.conftest import TG_USERS as USERS
from tests.fakes.servers import wait_for

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
        driver = request.getfixturevalue("bot")
        app, say = driver.app, lambda line: driver.say("amira", line)  # noqa: E731
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


@pytest.mark.parametrize("transport", ["console", "slack", "telegram"])
def test_ack_all_is_the_same_everywhere(request, engine, transport):
    """Three concerns paged to amira, then dan; her Acknowledge all (or `ack all`) owns all
    three wherever she taps it, and dan is told once."""
    from datetime import timedelta

    from handlers import sweep
    from storage.models import Outbox

    if transport == "console":
        driver = request.getfixturevalue("bot")
        app, ack_all = driver.app, lambda: driver.say("amira", "ack all")  # noqa: E731
    elif transport == "slack":
        app, fake, api, bot = request.getfixturevalue("slack_env")
        ack_all = lambda: post(bot, pressed(api, "ack:all", trigger="s-ack-all"))  # noqa: E731
    else:
        app, fake, bot = request.getfixturevalue("tg")
        ack_all = lambda: deliver(bot, tapped("ack:all", chat_id=USERS["amira"]))  # noqa: E731
    for ref in ("C-9X2P", "C-7F3K", "C-V7QZ"):
        run(app, "ben", f"missed {ref} safety")
    for _ in range(3):  # the sweeps at 08:15, 08:30 and 08:45, when dan is paged too
        app.clock.set(app.clock.now() + timedelta(minutes=15))
        sweep.sweep(app.engine, app.clock.now())
    ack_all()
    if transport != "console":  # let the background delivery finish before the bot stops
        wait_for(lambda: count(app.engine, Outbox, Outbox.status == "pending") == 0, "delivery")
    with Session(app.engine) as session:
        people = {p.id: p.handle for p in session.exec(select(Person))}
        owned = sorted((e.id, e.state, people.get(e.acked_by_id))
                       for e in session.exec(select(Escalation)))
        told = [o.payload["blocks"][0]["text"].splitlines()[1]
                for o in session.exec(select(Outbox).where(Outbox.target == "person:dan",
                                                           Outbox.key.like("esc:%:owned:%")))]
    assert owned == [(1, "acknowledged", "amira"), (2, "acknowledged", "amira"),
                     (3, "acknowledged", "amira")]
    assert len(told) == 1 and told[0].startswith("E-1, E-2, E-3 acknowledged by Amira Khan")


@pytest.mark.parametrize("transport", ["console", "slack", "telegram"])
def test_the_same_buttons_through_every_transport(request, engine, transport):
    """The list's buttons and the reason picker, pressed, give the day's rows; a reason that
    needs a note asks for it wherever it is tapped, and nothing is logged until it comes."""
    from handlers.base import Actor, Chat, Command
    from handlers.dispatch import dispatch
    from handlers.grammar import split_action
    from storage.models import Outbox
    from tests.test_slack import interaction

    asked: list = []
    if transport == "console":
        app = request.getfixturevalue("app")

        def press(action: str, picker: bool = False) -> None:
            verb, *args = split_action(action)
            reply = dispatch(app.engine, app.clock, Command(Actor("console", "amira"),
                                                            Chat("console", None), verb, args,
                                                            from_button=True))
            asked.extend([reply.ask_note] if reply.ask_note else [])

        note = lambda text: run(app, "amira", f"missed C-4T7P other {text}")  # noqa: E731
    elif transport == "slack":
        app, fake, api, bot = request.getfixturevalue("slack_env")

        def press(action: str, picker: bool = False) -> None:
            post(bot, pressed(api, action, ephemeral=picker, trigger=f"s-{next(_triggers)}"))
            asked[:] = fake.named("views.open")

        def note(text: str) -> None:
            view = asked[0]["view"]
            post(bot, interaction(api, {"type": "view_submission", "view": {
                "id": "V9", "type": "modal", "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": {"note": {"note": {"value": text}}}}}}))
    else:
        app, fake, bot = request.getfixturevalue("tg")

        def press(action: str, picker: bool = False) -> None:
            deliver(bot, tapped(action, reply_to=500 if picker else None))
            asked[:] = [m for m in fake.named("sendMessage") if "needs a short note" in m["text"]]

        note = lambda text: deliver(bot, typed(f"/missed C-4T7P other {text}"))  # noqa: E731
    press("done:C-2M9Q")
    press("missed:C-7F3K")
    press("missed:C-7F3K:hospital", picker=True)
    press("missed:C-4T7P:other", picker=True)
    assert len(asked) == 1 and "N-20261124-004" not in snapshot(app.engine)["contacts"]
    note("family visiting")
    assert snapshot(app.engine)["contacts"] == EXPECTED_CONTACTS
    if transport != "console":  # let the background delivery finish before the bot stops
        wait_for(lambda: count(app.engine, Outbox, Outbox.status == "pending") == 0, "delivery")


COVER_SCRIPT = ["routes ok two cars, Jo covers the east", "cover C-9X2P @ben",
                "cover C-V7QZ chloe", "done C-9X2P"]


def cover_snapshot(engine) -> dict:
    from storage.models import RouteCheck

    with Session(engine) as session:
        people = {p.id: p.handle for p in session.exec(select(Person))}
        routes = [(r.team_id, r.day.isoformat(), people[r.by_id], r.note, r.at.isoformat())
                  for r in session.exec(select(RouteCheck))]
        assigned = {c.source_id: (people.get(c.assignee_id), c.status)
                    for c in session.exec(select(Contact))}
        audit = [(e.action, e.actor, e.team, e.subject, e.detail.get("to"),
                  e.detail.get("previous"))
                 for e in session.exec(select(AuditEvent).where(
                     AuditEvent.action.in_(["routes:ok", "contact:cover", "contact:done"]))
                     .order_by(AuditEvent.seq))]
    return {"routes": routes, "assigned": assigned, "audit": audit}


@pytest.mark.parametrize("transport", ["console", "slack", "telegram"])
def test_a_day_with_cover_and_routes_is_the_same_everywhere(request, engine, transport):
    """Routes confirmed, two gaps covered (typed with and without @), one covered visit done:
    the same rows and audit whichever transport it was typed in."""
    if transport == "console":
        driver = request.getfixturevalue("bot")
        app, say = driver.app, lambda line: driver.say("amira", line)  # noqa: E731
    elif transport == "slack":
        app, fake, api, bot = request.getfixturevalue("slack_env")
        say = lambda line: post(bot, command(api, line, trigger=f"s-{next(_triggers)}"))  # noqa: E731
    else:
        app, fake, bot = request.getfixturevalue("tg")
        say = lambda line: deliver(bot, typed("/" + line))  # noqa: E731
    before = cover_snapshot(app.engine)["assigned"]
    for line in COVER_SCRIPT:
        say(line)
    state = cover_snapshot(app.engine)
    assert state["routes"] == [(1, "2026-11-24", "amira", "two cars, Jo covers the east",
                                "2026-11-24T08:00:00+00:00")]
    changed = {k: v for k, v in state["assigned"].items() if before[k] != v}
    assert changed == {"N-20261124-003": ("ben", "done"), "N-20261124-006": ("chloe", "open")}
    assert state["audit"] == [
        ("routes:ok", "amira", "north", "north", None, None),
        ("contact:cover", "amira", "north", "N-20261124-003", "ben", None),
        ("contact:cover", "amira", "north", "N-20261124-006", "chloe", None),
        ("contact:done", "amira", "north", "N-20261124-003", None, "open")]


# A day at the front door and of documentation sampling (issue 17): amira records three
# referrals, dan (a second person) decides two and validates the one amira accepted, amira
# judges dan's basis wrong; amira reads and audits the sample the Monday job drew.
REFERRAL_SCRIPT = [("amira", "referral add C-8K2W source=gp basis=gp_referral"),
                   ("amira", "referral add C-3J7V source=ward7"),
                   ("amira", "referral add C-5H4N source=self"),
                   ("dan", "referral authorise C-3J7V basis=social_worker"),
                   ("dan", "referral decline C-5H4N lives out of area"),
                   ("dan", "referral validate C-8K2W ok"),
                   ("amira", "referral validate C-3J7V wrong should be continuing_care")]


def front_door_snapshot(engine) -> dict:
    from storage.models import DocSample, Outbox, Referral

    def at(when):
        return when.isoformat() if when else None

    with Session(engine) as session:
        people = {p.id: p.handle for p in session.exec(select(Person))}
        referrals = [(r.ref, r.status, r.basis, r.source, people.get(r.added_by_id),
                      people.get(r.authorised_by_id), at(r.authorised_at),
                      people.get(r.declined_by_id), r.declined_reason, at(r.declined_at),
                      people.get(r.validated_by_id), r.result, r.note, at(r.validated_at))
                     for r in session.exec(select(Referral).order_by(Referral.ref))]
        audited = sorted((source, people[s.person_id], s.result, s.defect_code, s.note,
                          people.get(s.audited_by_id), at(s.audited_at))
                         for s, source in session.exec(
                             select(DocSample, Contact.source_id)
                             .join(Contact, Contact.id == DocSample.contact_id)
                             .where(DocSample.result.is_not(None))))
        events = session.exec(select(AuditEvent).where(
            AuditEvent.action.like("referral:%") | AuditEvent.action.like("sample:%"))
            .order_by(AuditEvent.seq)).all()
        audit = [(e.action, e.actor, e.team, e.subject,
                  {k: v for k, v in e.detail.items() if k != "chat"}) for e in events]
        transports = {e.transport for e in events if e.actor != "scheduler"}
        told = sorted((o.key, o.target) for o in session.exec(
            select(Outbox).where(Outbox.key.like("referral-wrong:%"))))
        ids = {r.ref: r.id for r in session.exec(select(Referral))}
    return {"referrals": referrals, "audited": audited, "audit": audit,
            "transports": transports, "told": told, "ids": ids}


@pytest.mark.parametrize("transport", ["console", "slack", "telegram"])
def test_a_day_of_referrals_and_documentation_audit_is_the_same_everywhere(
        request, engine, tmp_path, transport):
    """Referrals added, authorised, declined and validated by a second person, and the
    documentation sample read and audited: the same rows, audit and DMs from every transport."""
    from datetime import date

    from handlers import jobs
    from storage.models import Outbox
    from tests.test_sampling import at, done_week, drawn

    if transport == "console":
        driver = request.getfixturevalue("bot")
        app, say = driver.app, driver.say
    elif transport == "slack":
        from tests.conftest import SLACK_USERS

        app, fake, api, bot = request.getfixturevalue("slack_env")
        say = lambda who, line: post(bot, command(  # noqa: E731
            api, line, user=SLACK_USERS[who], trigger=f"s-{next(_triggers)}"))
    else:
        app, fake, bot = request.getfixturevalue("tg")
        say = lambda who, line: deliver(bot, typed("/" + line, handle=who))  # noqa: E731
    done_week(app, tmp_path, date(2026, 11, 16))  # last week's records, drawn Monday 08:00
    assert jobs.run(app.engine, "sample_draw", "north", at(date(2026, 11, 23), "08:00"))
    sample = drawn(app, "2026-W47")
    ben, chloe = sample["ben"], sample["chloe"]
    for who, line in [*REFERRAL_SCRIPT, ("amira", "sample"), ("amira", f"audit {ben[0]} ok"),
                      ("amira", f"audit {ben[1]} defect late_entry notes thin"),
                      ("amira", f"audit {chloe[0]} ok checked with Jo")]:
        say(who, line)
    if transport != "console":  # let the background delivery finish before the bot stops
        wait_for(lambda: count(app.engine, Outbox, Outbox.status == "pending") == 0, "delivery")
    state = front_door_snapshot(app.engine)
    eight = "2026-11-24T08:00:00+00:00"
    assert state["referrals"] == [
        ("C-3J7V", "authorised", "social_worker", "ward7", "amira", "dan", eight, None, None,
         None, "amira", "wrong", "should be continuing_care", eight),
        ("C-5H4N", "declined", None, "self", "amira", None, None, "dan", "lives out of area",
         eight, None, None, None, None),
        ("C-8K2W", "authorised", "gp_referral", "gp", "amira", "amira", eight, None, None, None,
         "dan", "ok", None, eight)]
    assert state["audited"] == sorted([
        (ben[0], "ben", "ok", None, None, "amira", eight),
        (ben[1], "ben", "defect", "late_entry", "notes thin", "amira", eight),
        (chloe[0], "chloe", "ok", None, "checked with Jo", "amira", eight)])
    refs = {source: ref for source, ref in _client_refs(app.engine, [ben[0], ben[1], chloe[0]])}
    assert state["audit"] == [
        ("sample:draw", "scheduler", "north", "north:2026-W47",
         {"records": 13, "people": 3, "increased": []}),
        ("referral:add", "amira", "north", "C-8K2W",
         {"source": "gp", "basis": "gp_referral", "status": "authorised", "button": False}),
        ("referral:add", "amira", "north", "C-3J7V",
         {"source": "ward7", "basis": None, "status": "pending", "button": False}),
        ("referral:add", "amira", "north", "C-5H4N",
         {"source": "self", "basis": None, "status": "pending", "button": False}),
        ("referral:authorise", "dan", "north", "C-3J7V",
         {"basis": "social_worker", "button": False}),
        ("referral:decline", "dan", "north", "C-5H4N",
         {"reason": "lives out of area", "button": False}),
        ("referral:validate", "dan", "north", "C-8K2W",
         {"result": "ok", "sampled": False, "button": False}),
        ("referral:validate", "amira", "north", "C-3J7V",
         {"result": "wrong", "sampled": False, "button": False}),
        ("sample:ok", "amira", "north", ben[0], {"week": "2026-W47", "ref": refs[ben[0]],
                                                  "code": None, "note": None, "button": False}),
        ("sample:defect", "amira", "north", ben[1],
         {"week": "2026-W47", "ref": refs[ben[1]], "code": "late_entry", "note": "notes thin",
          "button": False}),
        ("sample:ok", "amira", "north", chloe[0],
         {"week": "2026-W47", "ref": refs[chloe[0]], "code": None, "note": "checked with Jo",
          "button": False})]
    assert state["transports"] == {transport}
    # The basis judged wrong: dan, who authorised it and is North's manager, hears once.
    assert state["told"] == [(f"referral-wrong:{state['ids']['C-3J7V']}:dan", "person:dan")]


def _client_refs(engine, contact_ids: list[str]) -> list[tuple[str, str]]:
    from storage.models import Client

    with Session(engine) as session:
        return list(session.exec(select(Contact.source_id, Client.ref)
                                 .join(Client, Client.id == Contact.client_id)
                                 .where(Contact.source_id.in_(contact_ids))))
