"""The front-door gate (issue 17 §3): referrals accepted on a recorded eligibility basis or pending
authorisation; a pending or declined client never becomes a contact; a second person validates
a reproducible sample of each day's accepted referrals; the late ones are chased."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.demo import demo_rows
from handlers import jobs
from handlers.referrals import pick, sample_size
from storage.importer import ImportRejected, import_contacts
from storage.models import AuditEvent, Contact, Outbox, Person, Referral, Team
from storage.referrals import import_referrals
from tests.conftest import DAY, MORNING, count, run, write_csv
from tests.test_cli import carebot, demo  # noqa: F401 - demo is a fixture
from tests.test_access import snapshot

YESTERDAY = MORNING - timedelta(days=1)
REF_COLUMNS = ["client_ref", "team", "source", "received_at", "basis"]


def referral(engine, ref: str) -> Referral:
    with Session(engine) as s:
        return s.exec(select(Referral).where(Referral.ref == ref)).one()


def outbox_keys(engine, prefix: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return sorted((o.key, o.target) for o in s.exec(
            select(Outbox).where(Outbox.key.like(f"{prefix}%"))))


def make_authoriser(engine, handle: str) -> None:
    with Session(engine) as s:
        person = s.exec(select(Person).where(Person.handle == handle)).one()
        person.authoriser = True
        s.add(person)
        s.commit()


def contact_row(ref: str, contact_id: str = "N-REF-1") -> dict:
    return dict(demo_rows(DAY)[0], contact_id=contact_id, client_ref=ref)


# ---------------------------------------------------------------- the gate


def test_a_pending_or_declined_referral_cannot_become_a_contact(app, tmp_path):
    assert run(app, "amira", "referral add C-8K2W source=gp").ok  # no basis: pending
    assert run(app, "amira", "referral add C-3J7V source=ward").ok
    assert run(app, "dan", "referral decline C-3J7V out of area").ok
    before = count(app.engine, Contact)
    rows = [contact_row("C-NEW1", "N-REF-0"), contact_row("C-8K2W", "N-REF-1"),
            contact_row("C-3J7V", "N-REF-2")]
    with pytest.raises(ImportRejected) as refused:
        import_contacts(app.engine, write_csv(tmp_path / "c.csv", rows))
    assert refused.value.problems == [
        "c.csv: line 3: client_ref C-8K2W has a pending referral: authorise it first "
        "(referral authorise REF basis=…)",
        "c.csv: line 4: client_ref C-3J7V has a declined referral: it was declined, so no contacts"]
    assert count(app.engine, Contact) == before  # nothing written, not even the good line
    # Authorised, it imports; a client with no referral at all imports as it always did.
    assert run(app, "dan", "referral authorise C-8K2W basis=gp_referral").ok
    result = import_contacts(app.engine, write_csv(tmp_path / "ok.csv", rows[:2]))
    assert result.inserted == 2


def test_add_with_a_basis_accepts_and_without_one_is_pending(app):
    said = run(app, "amira", "referral add c-8k2w source=gp basis=hospital_discharge").plain()
    assert said.startswith("C-8K2W accepted for North Community Team on basis hospital_discharge")
    row = referral(app.engine, "C-8K2W")
    assert (row.status, row.basis, row.source) == ("authorised", "hospital_discharge", "gp")
    said = run(app, "amira", "referral add C-3J7V source=self").plain()
    assert said.startswith("C-3J7V is pending authorisation (North Community Team)")
    assert referral(app.engine, "C-3J7V").status == "pending"
    listed = run(app, "ben", "referrals").plain()
    assert "1 referral pending authorisation" in listed and "C-3J7V" in listed
    assert "C-8K2W" not in listed
    assert run(app, "ben", "referral").plain() == listed
    assert count(app.engine, AuditEvent, AuditEvent.action == "referral:add") == 2


# ---------------------------------------------------------------- decisions and roles


def test_authorise_and_decline_are_for_managers_and_named_authorisers(app):
    assert run(app, "amira", "referral add C-8K2W source=gp").ok
    assert run(app, "amira", "referral add C-3J7V source=gp").ok
    before = snapshot(app.engine)
    for handle, line in (("amira", "referral authorise C-8K2W basis=gp_referral"),
                         ("ben", "referral authorise C-8K2W basis=gp_referral"),
                         ("amira", "referral decline C-8K2W not eligible"),
                         ("ben", "referral add C-9Z9Z source=gp"),
                         ("erin", "referral authorise C-8K2W basis=gp_referral")):  # South
        reply = run(app, handle, line)
        assert not reply.ok and "\n" not in reply.plain(), line
    assert snapshot(app.engine) == before
    make_authoriser(app.engine, "amira")  # config `authoriser = true`
    said = run(app, "amira", "referral authorise C-8K2W basis=gp_referral").plain()
    assert said.startswith("C-8K2W authorised on basis gp_referral by Amira Khan at 08:00")
    said = run(app, "dan", "referral decline C-3J7V lives out of area").plain()
    assert said.startswith("C-3J7V declined by Dan Morgan at 08:00")
    row = referral(app.engine, "C-3J7V")
    assert (row.status, row.declined_reason) == ("declined", "lives out of area")
    assert not run(app, "dan", "referral authorise C-3J7V basis=gp_referral").ok


def test_the_validator_is_never_the_one_who_accepted_it(app):
    assert run(app, "amira", "referral add C-8K2W source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-3J7V source=gp").ok
    assert run(app, "dan", "referral authorise C-3J7V basis=social_worker").ok
    own = run(app, "amira", "referral validate C-8K2W ok")
    assert not own.ok and own.plain().startswith("You accepted C-8K2W yourself")
    assert not run(app, "dan", "referral validate C-3J7V ok").ok
    assert not run(app, "ben", "referral validate C-3J7V ok").ok  # staff do not validate
    assert run(app, "dan", "referral validate C-8K2W ok").ok
    said = run(app, "amira", "referral validate C-3J7V wrong should be continuing_care").plain()
    assert "the basis is WRONG" in said
    row = referral(app.engine, "C-3J7V")
    assert (row.result, row.note, row.validated_at) == ("wrong", "should be continuing_care",
                                                        MORNING)
    again = run(app, "grace", "referral validate C-3J7V ok")
    assert not again.ok and "already validated (wrong) by Amira Khan" in again.plain()


BAD = [
    ("amira", "referral add C-8K2W", "Say who referred"),
    ("amira", "referral add C-8K2W source=gp basis=whim", "'whim' is not an eligibility basis. "
     "Use one of: hospital_discharge, gp_referral, social_worker, continuing_care, self_referral"),
    ("amira", "referral add 9434765919 source=gp", "That ref looks like an NHS number"),
    ("amira", "referral add C-AUTH source=gp", "C-AUTH is already referred"),
    ("dan", "referral authorise C-NOPE basis=gp_referral", "No referral 'C-NOPE'"),
    ("dan", "referral authorise C-PEND", "C-PEND has no eligibility basis yet"),
    ("dan", "referral authorise C-PEND basis=whim", "'whim' is not an eligibility basis"),
    ("dan", "referral authorise C-AUTH basis=gp_referral", "C-AUTH is already authorised"),
    ("dan", "referral decline C-PEND", "Say why it is declined"),
    ("dan", "referral validate C-AUTH", "Validate with ok or wrong"),
    ("dan", "referral validate C-AUTH maybe", "Validate with ok or wrong"),
    ("dan", "referral validate C-AUTH wrong", "Validate with ok or wrong"),
    ("dan", "referral validate C-PEND ok", "C-PEND is pending: only an accepted"),
    ("erin", "referral validate C-AUTH ok", "No referral 'C-AUTH'"),  # North's, not South's
    ("amira", "referral C-AUTH", "Unexpected"),
]


def test_bad_input_for_every_new_command_is_one_line_and_writes_nothing(app):
    assert run(app, "amira", "referral add C-AUTH source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-PEND source=gp").ok
    before = snapshot(app.engine)
    for handle, line, says in BAD:
        reply = run(app, handle, line)
        text = reply.plain()
        assert not reply.ok and "\n" not in text and says in text, (line, text)
    assert snapshot(app.engine) == before


# ---------------------------------------------------------------- the daily sample


def _accepted_yesterday(app, n: int, team: str = "north", who: str = "amira") -> list[str]:
    app.clock.set(YESTERDAY + timedelta(hours=2))
    refs = [f"C-{team[0].upper()}{i:03d}" for i in range(n)]
    for ref in refs:
        assert run(app, who, f"referral add {ref} source=gp basis=gp_referral", chat=team).ok
    app.clock.set(MORNING)
    return refs


def sampled(engine) -> list[str]:
    with Session(engine) as s:
        return [r.ref for r in s.exec(select(Referral).where(Referral.sampled == True)  # noqa: E712
                                      .order_by(Referral.ref))]


def test_each_morning_samples_twenty_percent_at_least_one_the_same_on_a_rerun(app):
    assert [sample_size(n, 20) for n in (0, 1, 3, 5, 6, 10, 11)] == [0, 1, 1, 1, 2, 2, 3]
    _accepted_yesterday(app, 10)
    _accepted_yesterday(app, 2, team="south", who="erin")
    run(app, "amira", "referral add C-TODAY source=gp basis=gp_referral")  # today: not yet
    seven_thirty = MORNING.replace(hour=7, minute=30)
    assert jobs.run(app.engine, "referrals", "north", seven_thirty) is True
    assert jobs.run(app.engine, "referrals", "south", seven_thirty) is True
    first = sampled(app.engine)
    assert len([r for r in first if r.startswith("C-N")]) == 2
    assert len([r for r in first if r.startswith("C-S")]) == 1
    assert "C-TODAY" not in first
    # A re-run posts nothing new and picks nothing new; from scratch it picks the same.
    assert jobs.run(app.engine, "referrals", "north", seven_thirty) is False
    assert sampled(app.engine) == first
    with Session(app.engine) as s:
        team = s.exec(select(Team).where(Team.key == "north")).one()
        rows = s.exec(select(Referral).where(Referral.ref.like("C-N%"))).all()
        assert [r.ref for r in pick(team, DAY, rows, 20)] == [r for r in first if r.startswith("C-N")]
    [(key, target)] = outbox_keys(app.engine, "referral-sample:north")
    assert (key, target) == ("referral-sample:north:2026-11-24", "team:north")
    with Session(app.engine) as s:
        post = s.exec(select(Outbox).where(Outbox.key == key)).one()
    text = "\n".join(b["text"] for b in post.payload["blocks"])
    assert text.startswith("carebot: referrals to validate today — North Community Team")
    assert "2 of 10 referrals accepted Mon 23 Nov sampled" in text


def test_an_unvalidated_sample_reminds_validators_then_the_manager(app):
    _accepted_yesterday(app, 1, who="dan")
    assert jobs.run(app.engine, "referrals", "north", MORNING.replace(hour=7, minute=30))
    next_day = MORNING + timedelta(days=1)
    assert jobs.run(app.engine, "referrals", "north", MORNING) is False  # still its day
    assert jobs.run(app.engine, "referrals", "north", next_day) is True
    assert outbox_keys(app.engine, "referral-chase:") == [
        ("referral-chase:north:2026-11-25:amira", "person:amira")]
    assert jobs.run(app.engine, "referrals", "north", next_day) is False  # once a day
    assert jobs.run(app.engine, "referrals", "north", next_day + timedelta(days=1)) is True
    assert [t for k, t in outbox_keys(app.engine, "referral-chase:north:2026-11-26")] == [
        "person:amira", "person:dan"]
    app.clock.set(next_day + timedelta(days=2))
    assert run(app, "amira", "referral validate C-N000 ok").ok
    assert jobs.run(app.engine, "referrals", "north", next_day + timedelta(days=2)) is False


def test_a_referral_pending_too_long_reminds_the_authorisers_once(app):
    from handlers.sweep import next_due, sweep

    assert run(app, "amira", "referral add C-8K2W source=gp").ok
    due = MORNING + timedelta(hours=24)
    assert next_due(app.engine, MORNING + timedelta(hours=23)) <= due  # the console stops there
    sweep(app.engine, MORNING + timedelta(hours=23))
    assert outbox_keys(app.engine, "referral-pending:") == []
    sweep(app.engine, due + timedelta(minutes=1))
    sweep(app.engine, due + timedelta(hours=2))  # once per referral
    row = referral(app.engine, "C-8K2W")
    assert outbox_keys(app.engine, "referral-pending:") == [(f"referral-pending:{row.id}:dan",
                                                             "person:dan")]
    assert row.reminded_at == due + timedelta(minutes=1)


# ---------------------------------------------------------------- `carebot import referrals`


def test_import_lists_every_bad_row_writes_nothing_and_is_idempotent(app, tmp_path):
    good = [{"client_ref": "C-8K2W", "team": "north", "source": "gp",
             "received_at": "2026-11-24T09:00", "basis": "gp_referral"},
            {"client_ref": "C-3J7V", "team": "south", "source": "ward 7",
             "received_at": "2026-11-24T10:00", "basis": ""}]
    bad = good + [{"client_ref": "", "team": "east", "source": "", "received_at": "soon",
                   "basis": "whim"},
                  {"client_ref": "C-8K2W", "team": "north", "source": "gp",
                   "received_at": "2026-11-24T09:00", "basis": ""}]
    with pytest.raises(ImportRejected) as refused:
        import_referrals(app.engine, write_csv(tmp_path / "bad.csv", bad, REF_COLUMNS), now=MORNING)
    assert refused.value.total_bad == 2
    assert [p.split(":")[1].strip() for p in refused.value.problems] == ["line 4", "line 5"]
    assert "client_ref is empty; unknown team 'east'; source is empty" in refused.value.problems[0]
    assert "appears twice in the file" in refused.value.problems[1]
    assert count(app.engine, Referral) == 0
    path = write_csv(tmp_path / "good.csv", good, REF_COLUMNS)
    result = import_referrals(app.engine, path, now=MORNING)
    assert (result.rows, result.inserted, result.updated) == (2, 2, 0)
    assert referral(app.engine, "C-8K2W").status == "authorised"
    assert referral(app.engine, "C-3J7V").status == "pending"
    again = import_referrals(app.engine, path, now=MORNING)
    assert (again.written, again.unchanged) == (0, 2)
    # A decision is never undone by a re-import.
    assert run(app, "dan", "referral decline C-3J7V out of area").ok
    import_referrals(app.engine, path, now=MORNING)
    assert referral(app.engine, "C-3J7V").status == "declined"


def test_status_has_a_front_door_line(app):
    assert run(app, "amira", "referral add C-8K2W source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-3J7V source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-4Q8R source=gp").ok
    assert run(app, "dan", "referral validate C-3J7V wrong should be continuing_care").ok
    text = run(app, "dan", "status team north").plain()
    assert ("Front door: 3 referrals · 1 pending · 2 authorised · 0 declined · 0 sampled, "
            "1 validated, 1 wrong basis (100 %)") in text


# ---------------------------------------------------------------- config and the command line


def test_config_keys_reach_the_team_and_the_person(app, tmp_path):
    from bot.config import load_config
    from storage import repo
    from storage.db import session_scope

    text = Path(app.settings.config_path).read_text(encoding="utf-8")
    text = text.replace('timezone = "Europe/London"\n',
                        'timezone = "Europe/London"\neligibility_bases = ["gp_referral", "ward"]\n'
                        'referral_sample_pct = 50\n', 1)
    text = text.replace('role = "supervisor"\nteams = ["north"]\n',
                        'role = "supervisor"\nteams = ["north"]\nauthoriser = true\n', 1)
    path = tmp_path / "front.toml"
    path.write_text(text, encoding="utf-8")
    with session_scope(app.engine) as session:
        repo.sync_config(session, load_config(path))
    assert run(app, "amira", "referral add C-8K2W source=gp basis=ward").ok
    assert not run(app, "amira", "referral add C-3J7V source=gp basis=self_referral").ok
    assert run(app, "amira", "referral add C-3J7V source=gp").ok
    assert run(app, "amira", "referral authorise C-3J7V basis=gp_referral").ok  # a named authoriser
    with Session(app.engine) as s:
        team = s.exec(select(Team).where(Team.key == "north")).one()
        assert team.referrals == {"bases": ["gp_referral", "ward"], "pending_hours": 24,
                                  "sample_pct": 50}


def test_carebot_import_referrals_on_the_command_line(demo, tmp_path):
    path = write_csv(tmp_path / "referrals.csv", [
        {"client_ref": "C-6P4T", "team": "north", "source": "gp",
         "received_at": "2026-11-24T09:10", "basis": "gp_referral"},
        {"client_ref": "C-7R2M", "team": "north", "source": "ward 7",
         "received_at": "2026-11-24T11:30", "basis": ""}], REF_COLUMNS)
    first = carebot("import", "referrals", str(path), env=demo)
    assert (first.returncode, first.stdout.strip()) == (0, "2 rows: 2 new, 0 updated, 0 unchanged")
    again = carebot("import", "referrals", str(path), env=demo)
    assert again.stdout.strip() == "2 rows: 0 new, 0 updated, 2 unchanged"
    bad = write_csv(tmp_path / "bad.csv", [{"client_ref": "C-1", "team": "east", "source": "gp",
                                            "received_at": "2026-11-24T09:10", "basis": ""}],
                    REF_COLUMNS)
    refused = carebot("import", "referrals", str(bad), env=demo)
    assert refused.returncode == 1
    assert "bad.csv: line 2: unknown team 'east'" in refused.stderr


def test_the_evidence_pack_holds_every_referral_decision(app, tmp_path):
    import csv
    from zoneinfo import ZoneInfo

    from handlers.export import build_pack
    from storage import repo
    from storage.db import session_scope

    assert run(app, "amira", "referral add C-8K2W source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-3J7V source=ward").ok
    assert run(app, "dan", "referral decline C-3J7V out of area").ok
    assert run(app, "dan", "referral validate C-8K2W ok").ok
    with session_scope(app.engine) as session:
        build_pack(session, repo.all_teams(session), DAY, DAY, MORNING,
                   ZoneInfo("Europe/London"), tmp_path / "pack")
    with (tmp_path / "pack" / "referrals.csv").open(newline="", encoding="utf-8") as fh:
        rows = {r["client_ref"]: r for r in csv.DictReader(fh)}
    assert (rows["C-8K2W"]["status"], rows["C-8K2W"]["authorised_by"],
            rows["C-8K2W"]["validated_by"], rows["C-8K2W"]["result"]) == (
        "authorised", "amira", "dan", "ok")
    assert (rows["C-3J7V"]["status"], rows["C-3J7V"]["declined_by"],
            rows["C-3J7V"]["declined_reason"]) == ("declined", "dan", "out of area")
    html = (tmp_path / "pack" / "report.html").read_text(encoding="utf-8")
    assert "Front door: referrals" in html and "C-8K2W" in html


# ---------------------------------------------------------------- a basis judged wrong


def wrong_dms(engine) -> dict[str, list[str]]:
    """{outbox key: the DM's lines} of every referral-wrong DM, with its target."""
    with Session(engine) as s:
        return {f"{o.key} → {o.target}": "\n".join(b["text"] for b in o.payload["blocks"])
                .splitlines()
                for o in s.exec(select(Outbox).where(Outbox.key.like("referral-wrong:%"))
                                .order_by(Outbox.key))}


def test_a_basis_judged_wrong_tells_the_authoriser_and_the_managers_by_dm(app):
    assert run(app, "amira", "referral add C-8K2W source=gp basis=gp_referral").ok
    assert run(app, "amira", "referral add C-3J7V source=gp").ok
    assert run(app, "dan", "referral authorise C-3J7V basis=social_worker").ok
    assert run(app, "amira", "referral add C-5H4N source=gp basis=self_referral").ok
    # An ok check tells nobody.
    assert run(app, "dan", "referral validate C-5H4N ok").ok
    assert wrong_dms(app.engine) == {}

    # Wrong: amira (who accepted it) and dan (North's manager) hear; grace, who judged it, not.
    reply = run(app, "grace", "referral validate C-8K2W wrong NHS 943 476 5919 on the form; "
                              "should be continuing_care")
    assert reply.ok and reply.queued
    first = referral(app.engine, "C-8K2W").id
    dms = wrong_dms(app.engine)
    assert sorted(dms) == [f"referral-wrong:{first}:amira → person:amira",
                           f"referral-wrong:{first}:dan → person:dan"]
    lines = dms[f"referral-wrong:{first}:amira → person:amira"]
    assert dms[f"referral-wrong:{first}:dan → person:dan"] == lines
    assert lines[0] == ("carebot: a referral's eligibility basis was judged wrong — "
                        "North Community Team")  # no client on a locked phone
    assert lines[1] == ("C-8K2W: basis gp_referral judged wrong by Grace Liu at 08:00 "
                        "(Tue 24 Nov). Note: NHS [NHS no. removed] on the form; should be "
                        "continuing_care")
    assert "943" not in " ".join(lines) and "referral decline C-8K2W" in lines[2]

    # Dan authorised it and is the manager: one DM; amira, who judged it, none.
    assert run(app, "amira", "referral validate C-3J7V wrong should be continuing_care").ok
    second = referral(app.engine, "C-3J7V").id
    assert sorted(k for k in wrong_dms(app.engine) if f":{second}:" in k) == [
        f"referral-wrong:{second}:dan → person:dan"]
    # Each is audited once; a second judgement is refused and tells nobody again.
    assert not run(app, "dan", "referral validate C-8K2W ok").ok
    assert len(wrong_dms(app.engine)) == 3
    assert count(app.engine, AuditEvent, AuditEvent.action == "referral:validate") == 3
