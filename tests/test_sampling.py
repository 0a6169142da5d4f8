"""Documentation sampling: the Monday draw (N per person, the same on a re-run, doubled after a
repeat defect), `sample` and `audit`, the Friday reminders, the status line and the pack's
table, and an OK pressed in Telegram."""
from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from handlers import jobs
from handlers.export import build_pack
from handlers.sampling import draw, iso_week, pick
from storage.db import session_scope
from storage.importer import import_contacts
from storage.models import AuditEvent, Contact, DocSample, Person, Team
from tests.conftest import count, deliver, run, tapped, write_csv

W48, W49, W50 = date(2026, 11, 23), date(2026, 11, 30), date(2026, 12, 7)  # Mondays
PER_WEEK = {"amira": 6, "ben": 12, "chloe": 3}  # done contacts per person per week (North)


def at(day: date, hhmm: str) -> datetime:
    """A London wall-clock time in winter (GMT: the same in UTC)."""
    h, m = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)


def done_week(app, tmp_path, monday: date, per_person: dict[str, int] = PER_WEEK) -> None:
    """North contacts across the week, all logged done by whoever they were assigned to, plus
    one missed (never sampled)."""
    rows = []
    for handle, n in per_person.items():
        for i in range(n):
            start = datetime.combine(monday + timedelta(days=i % 5), datetime.min.time()) \
                + timedelta(hours=9 + i % 6)
            rows.append({"contact_id": f"DOC-{monday:%m%d}-{handle}-{i:02d}",
                         "client_ref": f"C-{handle[0].upper()}{monday:%d}{i:02d}".replace("0", "Q"),
                         "team": "north", "kind": "home_visit",
                         "due_start": start.strftime("%Y-%m-%dT%H:%M"),
                         "due_end": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                         "assignee": handle, "risk": "low", "time_critical": "false"})
    rows.append({**rows[0], "contact_id": f"DOC-{monday:%m%d}-missed", "client_ref": "C-MISS"})
    import_contacts(app.engine, write_csv(tmp_path / f"week-{monday}.csv", rows))
    with Session(app.engine) as s:
        for c in s.exec(select(Contact).where(Contact.source_id.like(f"DOC-{monday:%m%d}-%"))):
            c.status = "missed" if c.source_id.endswith("missed") else "done"
            c.reason_code = "hospital" if c.status == "missed" else None
            c.outcome_at, c.logged_by_id = c.due_start + timedelta(minutes=20), c.assignee_id
            s.add(c)
        s.commit()


def drawn(app, week: str) -> dict[str, list[str]]:
    """{handle: [contact ids]} of a week's sample, and each row's reason."""
    with Session(app.engine) as s:
        rows = s.exec(select(DocSample, Person.handle, Contact.source_id)
                      .join(Person, Person.id == DocSample.person_id)
                      .join(Contact, Contact.id == DocSample.contact_id)
                      .where(DocSample.week == week)).all()
    out: dict[str, list[str]] = {}
    for _, handle, source in rows:
        out.setdefault(handle, []).append(source)
    return {h: sorted(v) for h, v in out.items()}


def reasons(app, week: str) -> dict[str, set[str]]:
    with Session(app.engine) as s:
        rows = s.exec(select(Person.handle, DocSample.reason)
                      .join(Person, Person.id == DocSample.person_id)
                      .where(DocSample.week == week)).all()
    out: dict[str, set[str]] = {}
    for handle, reason in rows:
        out.setdefault(handle, set()).add(reason)
    return out


def monday_draw(bot, monday: date) -> None:
    """The scheduler's 08:00 Monday run, through the console clock."""
    bot.set_clock(at(monday, "07:59"))
    bot.advance(minutes=2)


def audited_rows(app) -> int:
    return count(app.engine, DocSample, DocSample.result.is_not(None))


def audit_all(app, handle: str, week: str, who: str, *, defects: dict[int, str] | None = None):
    """Audit every record of `who` in the week: ok, or the defect code at that position."""
    for i, contact_id in enumerate(drawn(app, week)[who]):
        code = (defects or {}).get(i)
        line = f"audit {contact_id} " + (f"defect {code} notes thin" if code else "ok")
        assert run(app, handle, line).ok, line


# ---------------------------------------------------------------- the draw over three weeks


def test_three_weeks_of_draws_n_each_same_on_rerun_doubled_after_a_repeat_defect(bot, app,
                                                                                 tmp_path):
    for monday in (W48, W49, W50):
        done_week(app, tmp_path, monday)

    # Week 1: Monday 30 Nov draws 23–29 Nov: 5 each, all a person has when fewer.
    monday_draw(bot, W49)
    first = drawn(app, "2026-W48")
    assert {h: len(v) for h, v in first.items()} == {"amira": 5, "ben": 5, "chloe": 3}
    assert reasons(app, "2026-W48") == {"amira": {"standard"}, "ben": {"standard"},
                                        "chloe": {"standard"}}
    assert not any("missed" in c for v in first.values() for c in v)
    [(to, dm)] = bot.dms()  # North's supervisor; South had nothing done, so no DM
    text = dm.plain()
    assert to == "amira"
    assert text.splitlines()[0] == "carebot: this week's documentation sample to audit — " \
                                   "North Community Team"
    assert "Mon 23 Nov – Sun 29 Nov 2026 (2026-W48)" in text
    assert "13 drawn · 0 audited · 0 defects · 13 to audit" in text
    assert "Ben Okafor (5)" in text and "Chloe Price (3)" in text and "×2" not in text
    assert all("audit:" in b.action for block in dm.blocks for b in block.buttons)

    # A re-run draws nothing new and sends nothing; the draw itself is reproducible.
    assert jobs.run(app.engine, "sample_draw", "north", at(W49, "08:30")) is False
    assert drawn(app, "2026-W48") == first and bot.dms() == []
    ids = list(range(100, 112))
    assert pick("north", "2026-W48", "ben", ids, 5) == pick("north", "2026-W48", "ben",
                                                              list(reversed(ids)), 5)
    assert pick("north", "2026-W48", "ben", ids, 5) != pick("north", "2026-W49", "ben", ids, 5)
    with session_scope(app.engine) as s:
        for row in s.exec(select(DocSample).where(DocSample.week == "2026-W48")):
            s.delete(row)
    with session_scope(app.engine) as s:
        draw(s, s.exec(select(Team).where(Team.key == "north")).one(), "2026-W48", at(W49, "09:00"))
    assert drawn(app, "2026-W48") == first

    # Ben has missing_outcome twice, Chloe late_entry once: only Ben's sample doubles.
    bot.set_clock(at(W49, "10:00"))
    audit_all(app, "amira", "2026-W48", "ben", defects={0: "missing_outcome", 3: "missing_outcome"})
    audit_all(app, "amira", "2026-W48", "chloe", defects={1: "late_entry"})
    audit_all(app, "amira", "2026-W48", "amira")

    # Week 2: Monday 7 Dec draws 30 Nov – 6 Dec: Ben ×2 (10), the supervisor told why.
    monday_draw(bot, W50)
    second = drawn(app, "2026-W49")
    assert {h: len(v) for h, v in second.items()} == {"amira": 5, "ben": 10, "chloe": 3}
    assert reasons(app, "2026-W49") == {"amira": {"standard"}, "ben": {"increased"},
                                        "chloe": {"standard"}}
    [dm] = bot.dms("amira")
    assert "Ben Okafor (10) · sample ×2: repeat defect (missing_outcome 2 times in 4 weeks)" \
        in dm.plain()
    assert "Chloe Price (3)" in dm.plain() and "Chloe Price (3) ·" not in dm.plain()
    assert "Ben Okafor (10) · sample ×2" in run(app, "amira", "sample").plain()

    # Week 3: the repeat is still inside the 4 sampled weeks: Ben stays on ×2.
    bot.set_clock(at(W50, "10:00"))
    for who in ("ben", "chloe", "amira"):
        audit_all(app, "amira", "2026-W49", who)
    monday_draw(bot, W50 + timedelta(weeks=1))
    third = drawn(app, "2026-W50")
    assert {h: len(v) for h, v in third.items()} == {"amira": 5, "ben": 10, "chloe": 3}
    assert first["ben"] != second["ben"][:5]  # a new week, a new draw


def test_the_jobs_are_scheduled_at_the_configured_times(app):
    when = {(job, team.key): t for job, team, t in jobs.schedule(app.engine)
            if job.startswith("sample")}
    assert when[("sample_draw", "north")] == "mon 08:00"
    assert when[("sample_remind", "north")] == "fri 15:00"
    assert when[("sample_overdue", "south")] == "fri 17:00"


# ---------------------------------------------------------------- reminders


def test_unaudited_by_friday_reminds_supervisors_then_managers_once_each(bot, app, tmp_path):
    done_week(app, tmp_path, W48)
    monday_draw(bot, W49)
    bot.dms()
    bot.set_clock(at(W49, "10:00"))
    audit_all(app, "amira", "2026-W48", "chloe")

    friday = W49 + timedelta(days=4)
    bot.set_clock(at(friday, "14:59"))
    bot.advance(minutes=2)
    [(to, dm)] = bot.dms()
    assert to == "amira"
    assert dm.plain().splitlines()[0] == "carebot: documentation sample still to audit — " \
                                         "North Community Team"
    assert "10 of 13 records of Mon 23 Nov – Sun 29 Nov 2026 (2026-W48) are still to audit" \
        in dm.plain()
    bot.set_clock(at(friday, "16:59"))
    bot.advance(minutes=2)
    [(to, dm)] = bot.dms()
    assert to == "dan"
    assert dm.plain().splitlines()[0] == "carebot: documentation sample overdue — " \
                                         "North Community Team"
    # Once each: the jobs run again (a restart's catch-up) and nobody hears twice.
    assert jobs.run(app.engine, "sample_remind", "north", at(friday, "15:30")) is False
    assert jobs.run(app.engine, "sample_overdue", "north", at(friday, "17:30")) is False
    assert bot.dms() == []


def test_a_fully_audited_sample_reminds_nobody(bot, app, tmp_path):
    done_week(app, tmp_path, W48)
    monday_draw(bot, W49)
    bot.dms()
    bot.set_clock(at(W49, "10:00"))
    for who in PER_WEEK:
        audit_all(app, "amira", "2026-W48", who)
    friday = W49 + timedelta(days=4)
    assert jobs.run(app.engine, "sample_remind", "north", at(friday, "15:00")) is False
    assert jobs.run(app.engine, "sample_overdue", "north", at(friday, "17:00")) is False
    assert bot.dms() == []


# ---------------------------------------------------------------- status and pack figures


def test_status_and_pack_figures_match_a_hand_count(bot, app, tmp_path):
    done_week(app, tmp_path, W48)
    monday_draw(bot, W49)  # 13 drawn: amira 5, ben 5, chloe 3
    bot.set_clock(at(W49, "11:00"))
    ben = drawn(app, "2026-W48")["ben"]
    chloe = drawn(app, "2026-W48")["chloe"]
    for line in (f"audit {ben[0]} defect missing_outcome", f"audit {ben[1]} defect missing_outcome",
                 f"audit {ben[2]} ok", f"audit {chloe[0]} defect late_entry no risk review",
                 f"audit {chloe[1]} ok", f"audit {chloe[2]} ok"):
        assert run(app, "amira", line).ok, line
    # By hand: 13 drawn, 6 audited, 3 defects: missing_outcome 2, late_entry 1; nobody increased.
    status = run(app, "dan", "status team north").plain()
    assert ("Documentation sample: 13 drawn · 6 audited · 3 defects (missing_outcome 2 · "
            "late_entry 1) · 0 staff on increased sampling") in status
    assert "Documentation sample" not in run(app, "dan", "status team north last week").plain()

    with session_scope(app.engine) as s:
        teams = list(s.exec(select(Team).where(Team.key == "north")))
        from zoneinfo import ZoneInfo
        build_pack(s, teams, W49, W49, at(W49, "12:00"), ZoneInfo("Europe/London"),
                   tmp_path / "pack")
    with (tmp_path / "pack" / "documentation_sample.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 13 and {r["week"] for r in rows} == {"2026-W48"}
    assert sum(r["result"] == "ok" for r in rows) == 3
    assert sorted(r["defect_code"] for r in rows if r["result"] == "defect") == \
        ["late_entry", "missing_outcome", "missing_outcome"]
    assert {r["person"] for r in rows} == {"amira", "ben", "chloe"}
    assert [r["note"] for r in rows if r["defect_code"] == "late_entry"] == ["no risk review"]
    assert all(r["audited_by"] == "amira" for r in rows if r["result"])
    report = (tmp_path / "pack" / "report.html").read_text(encoding="utf-8")
    assert '<section id="documentation">' in report and "Documentation sampling" in report


# ---------------------------------------------------------------- bad input


@pytest.fixture
def sampled(bot, app, tmp_path) -> dict[str, list[str]]:
    done_week(app, tmp_path, W48)
    monday_draw(bot, W49)
    bot.dms()
    bot.set_clock(at(W49, "10:00"))
    return drawn(app, "2026-W48")


def _nothing_written(app, before_events: int) -> None:
    assert audited_rows(app) == 0
    assert count(app.engine, AuditEvent) == before_events


@pytest.mark.parametrize("who, line, said", [
    ("amira", "audit C-ZZZZ ok", "'C-ZZZZ' is not in your team's current documentation sample."),
    ("ben", "audit {ben} ok", "Only supervisors and managers can use `audit`; you are staff."),
    ("amira", "audit {ben} defect sloppy", "Unknown defect code 'sloppy'. Use one of: "
                                           "missing_outcome, no_risk_update, late_entry, "
                                           "unsigned, incomplete_plan."),
    ("amira", "audit {ben}", "Say whether"),
    ("amira", "audit {ben} fine", "Say ok or defect after the ref, not 'fine'."),
    ("erin", "audit {ben} ok", "'DOC-"),  # South's supervisor: North's sample is not theirs
    ("ben", "sample", "Only supervisors and managers can use `sample`; you are staff."),
])
def test_bad_input_is_one_line_and_writes_nothing(app, sampled, who, line, said):
    before = count(app.engine, AuditEvent)
    reply = run(app, who, line.format(ben=sampled["ben"][0]))
    assert not reply.ok
    assert len(reply.plain().splitlines()) == 1 and said in reply.plain()
    _nothing_written(app, before)


def test_audit_by_client_ref_twice_says_so_and_changes_nothing(app, sampled):
    with Session(app.engine) as s:
        ref = s.exec(select(Contact).where(Contact.source_id == sampled["chloe"][0])).one()
        from storage.models import Client
        client = s.get(Client, ref.client_id).ref
    reply = run(app, "amira", f"audit {client} defect unsigned")
    assert reply.ok and reply.plain() == f"{client} audited: defect: unsigned. 12 still to audit."
    again = run(app, "amira", f"audit {client} ok")
    assert again.ok and again.plain().startswith(f"{client} is already audited (defect: "
                                                 "unsigned, by Amira Khan at Mon 30 Nov 10:00)")
    with Session(app.engine) as s:
        row = s.exec(select(DocSample).where(DocSample.result.is_not(None))).one()
        assert (row.result, row.defect_code) == ("defect", "unsigned")
    assert count(app.engine, AuditEvent, AuditEvent.action == "sample:defect") == 1


def test_sample_lists_what_is_left_and_a_defect_without_a_code_offers_the_codes(app, sampled):
    assert run(app, "amira", f"audit {sampled['ben'][0]} ok").ok
    text = run(app, "amira", "sample").plain()
    assert "13 drawn · 1 audited · 0 defects · 12 to audit" in text
    assert "ok ✓" in text and text.count("to audit") == 13  # 12 lines + the summary
    picker = run(app, "amira", f"audit {sampled['ben'][1]} defect")
    assert picker.ok and audited_rows(app) == 1
    options = [o.action for b in picker.blocks if b.select for o in b.select.options]
    assert f"audit:{sampled['ben'][1]}:defect:late_entry" in options and len(options) == 5
    assert "no documentation sample drawn yet" in run(app, "erin", "sample").plain()


# ---------------------------------------------------------------- a press in Telegram


def test_ok_and_defect_pressed_in_telegram(tg, tmp_path):
    app, fake, bot = tg
    from tests.driver import Bot
    driver = Bot(app)
    done_week(app, tmp_path, W48)
    driver.set_clock(at(W49, "08:00"))
    assert jobs.run(app.engine, "sample_draw", "north", at(W49, "08:00"))
    first, second = drawn(app, "2026-W48")["ben"][:2]
    app.clock.set(at(W49, "10:00"))
    assert deliver(bot, tapped(f"audit:{first}:ok")) == 200
    with Session(app.engine) as s:
        row = s.exec(select(DocSample).join(Contact, Contact.id == DocSample.contact_id)
                     .where(Contact.source_id == first)).one()
        assert row.result == "ok" and row.audited_at == at(W49, "10:00")
    event = count(app.engine, AuditEvent, AuditEvent.action == "sample:ok",
                  AuditEvent.transport == "telegram")
    assert event == 1
    assert fake.named("answerCallbackQuery")[-1]["text"].endswith("audited: ok ✓. 12 still to audit.")

    assert deliver(bot, tapped(f"audit:{second}:defect")) == 200  # the code picker
    picker = fake.named("sendMessage")[-1]
    codes = [b["callback_data"] for r in picker["reply_markup"]["inline_keyboard"] for b in r]
    assert f"audit:{second}:defect:unsigned" in codes
    assert all(len(c.encode()) <= 64 for c in codes)
    assert deliver(bot, tapped(f"audit:{second}:defect:unsigned", reply_to=500)) == 200
    assert count(app.engine, DocSample, DocSample.defect_code == "unsigned") == 1


def test_ok_pressed_in_slack(slack_env, tmp_path):
    from tests.conftest import post, pressed
    from tests.fakes.servers import wait_for

    app, fake, api, bot = slack_env
    done_week(app, tmp_path, W48)
    assert jobs.run(app.engine, "sample_draw", "north", at(W49, "08:00"))
    first = drawn(app, "2026-W48")["chloe"][0]
    app.clock.set(at(W49, "10:00"))
    assert post(bot, pressed(api, f"audit:{first}:ok")).status_code == 200
    with Session(app.engine) as s:
        row = s.exec(select(DocSample).join(Contact, Contact.id == DocSample.contact_id)
                     .where(Contact.source_id == first)).one()
        assert row.result == "ok" and row.audited_by_id is not None
    assert count(app.engine, AuditEvent, AuditEvent.action == "sample:ok",
                 AuditEvent.transport == "slack") == 1
    said = wait_for(lambda: fake.named("response_url"), "the answer")
    assert any("audited: ok ✓. 12 still to audit." in (r.get("text") or "") for r in said), said
