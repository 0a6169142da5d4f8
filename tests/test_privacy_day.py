"""A scripted day that types personal data and formulas into every free-text field: nothing
personal is left in any table, post or export; operational dates survive; every exported
cell is inert."""
from __future__ import annotations

import asyncio
import csv
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, SQLModel, select

from handlers.export import build_pack
from messages.privacy import mask
from storage.medicines import import_meds
from storage.models import (Action, ActionEvidence, Contact, Escalation, Incident, LearningPoint,
                            MedsCheck, MedsException, Team)
from tests.conftest import DAY, count, run
from tests.test_medicines import TODAY as DUTIES
from tests.test_medicines import meds_config, write_meds

# Every masked shape, as typed (the tokenizer may fold runs of spaces; the checks below look
# for the digits, not only the exact shape).
NHS_SHAPES = ["943 476 5919", "943.476.5919", "943  476  5919", "943\u00a0476\u00a05919",
              "943\u200b476\u200b5919", "943\u2013476\u20135919", "943/476/5919",
              "943\u2014476\u20145919", "9434765919", "NHS 401 023 2138", "nhs no 4010232138"]
NHS_DIGITS = ["9434765919", "4010232138"]
DOB_SHAPES = ["12 Mar 56", "12-Mar-1956", "1956/03/12", "12031956", "12th of March 1956",
              "12 03 1956", "1956.03.12", "12/03/1956", "12.3.56", "March 12th, 1956",
              "19560312", "12\u00a0March\u00a01956", "dob 120356", "born March 1956",
              "born 3 Jan 2026", "DOB: 01/06/2025"]
DOB_LEFTOVERS = ["1956", "Mar 56", "3.56", "120356", "3 Jan 2026", "01/06/2025"]
KEPT = ["CQC report published 12 Nov 2026", "MAR audit 03/11/2026: 2 late of 140",
        "next inspection 31 Jan 2027", "audit 2025-06-15 found gaps"]
NOTE = "client seen; " + "; ".join(NHS_SHAPES + DOB_SHAPES) + "; " + "; ".join(KEPT)
FORMULA = '=HYPERLINK("http://x")'


@pytest.fixture
def config_path(tmp_path) -> Path:
    path = tmp_path / "carebot.toml"
    path.write_text(meds_config(), encoding="utf-8")
    return path


def scripted_day(app, tmp_path, text: str, option: str) -> None:
    """Type text into every free-text field (option: the same text as a key=value value)."""
    import_meds(app.engine, write_meds(tmp_path / "meds.csv", DUTIES))
    lines = [
        ("amira", f"done C-2M9Q {text}"),
        ("amira", f"missed C-7F3K other {text}"),
        ("amira", f"missed C-9X2P safety {text}"),
        ("grace", f"resolve 1 {text}"),
        ("amira", f"learn {text}"),
        ("amira", "incident open INC-31 falls"),
        ("amira", f"incident review INC-31 {text}"),
        ("amira", f"incident action INC-31 {text}"),
        ("amira", f"learn {text} incident=INC-31"),
        ("dan", "incident close INC-31"),
        ("dan", f"incident reopen INC-31 {text}"),
        ("amira", f"incident action INC-31 {text}"),
        ("amira", f'action add {text} owner=@amira due="in 6 weeks" risk=medicines '
                  f"finding={option}"),
        ("amira", f"action evidence A-1 audit {text}"),
        ("amira", f"action review A-1 {text}"),
        ("amira", f"action update A-1 title={option} finding={option} risk=safety"),
        ("dan", f"action close A-1 changed={option} measured={option} controlled={option} "
                f"monitoring={option}"),
        ("amira", f"meds late D-14 {text} action={option} informed={option}"),
        ("amira", f"meds missed D-15 {text} action={option} informed={option}"),
        ("amira", f"meds check morning no {text}"),
    ]
    for handle, line in lines:
        reply = run(app, handle, line)
        assert reply.ok, (line[:40], reply.plain())


def dump(engine) -> list[tuple[str, str]]:
    """(table.column, value) for every text-bearing cell of every table."""
    out = []
    with Session(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(table.select()).mappings():
                for name, value in row.items():
                    if isinstance(value, (dict, list)):
                        value = json.dumps(value, ensure_ascii=False)
                    if isinstance(value, str):
                        out.append((f"{table.name}.{name}", value))
    return out


def export(app, tmp_path) -> Path:
    with Session(app.engine) as session:
        teams = list(session.exec(select(Team)))
        build_pack(session, teams, DAY, DAY, app.clock.now(), ZoneInfo(teams[0].zone),
                   tmp_path / "pack")
    return tmp_path / "pack"


def csv_cells(folder: Path) -> list[tuple[str, str, str]]:
    cells = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                cells += [(path.stem, column, value) for column, value in row.items()]
    return cells


def personal(value: str) -> list[str]:
    digits = re.sub(r"\D", "", value)
    found = [d for d in NHS_DIGITS if d in digits]
    found += [s for s in NHS_SHAPES + DOB_SHAPES + DOB_LEFTOVERS if s in value]
    return found


def test_personal_data_typed_everywhere_is_nowhere(app, tmp_path):
    scripted_day(app, tmp_path, NOTE, f'"{NOTE}"')
    asyncio.run(app.deliver())
    recorder = app.transports[0]
    posts = [reply.plain() for _, reply in recorder.posts + recorder.dms + recorder.edits]
    assert posts
    pack = export(app, tmp_path)
    places = [*dump(app.engine), *((f"post {i}", p) for i, p in enumerate(posts)),
              *((f"{t}.csv {c}", v) for t, c, v in csv_cells(pack)),
              ("report.html", (pack / "report.html").read_text(encoding="utf-8"))]
    leaks = [(where, personal(value)) for where, value in places if personal(value)]
    assert leaks == []
    # Nothing left that the masking rules would still catch (a second opinion on the above).
    assert [w for w, v in places if mask(v, today=DAY) != v.replace("\u200b", "")] == []
    # The day did write the text: masks in place of the shapes, in the fields typed into.
    with Session(app.engine) as session:
        stored = [c.note for c in session.exec(select(Contact)) if c.note]
        stored += [p.text for p in session.exec(select(LearningPoint))]
        stored += [v for i in session.exec(select(Incident)) for v in (i.review, i.action)]
        stored += [e.note for e in session.exec(select(Escalation)) if e.note]  # resolved ones
        stored += [v for x in session.exec(select(MedsException))
                   for v in (x.reason, x.action, x.informed)]
        stored += [m.note for m in session.exec(select(MedsCheck))]
        action = session.exec(select(Action)).one()
        stored += [action.title, action.finding, *action.closure.values()]
        evidence = [e.text for e in session.exec(select(ActionEvidence))]
        stored += evidence
        learning = [p.text for p in session.exec(select(LearningPoint))]
    assert len(stored) == 3 + 2 + 2 + 1 + 6 + 1 + 2 + 4 + 1
    assert all(s.count("[NHS no. removed]") == len(NHS_SHAPES) for s in stored)
    assert all(s.count("[date removed]") == len(DOB_SHAPES) for s in stored)
    # Operational dates survive in actions, evidence and learning text, and in the export.
    for text in [action.title, action.finding, *evidence, *learning]:
        assert all(k in text for k in KEPT), text
    exported = {(t, c): v for t, c, v in csv_cells(pack)}
    for key in [("actions", "title"), ("actions", "finding"), ("action_evidence", "text")]:
        assert all(k in exported[key] for k in KEPT), key


def test_a_formula_typed_everywhere_is_inert_in_every_exported_cell(app, tmp_path):
    scripted_day(app, tmp_path, FORMULA, FORMULA)
    with Session(app.engine) as session:  # stored as typed: the database is the record
        assert session.exec(select(Action)).one().title.startswith("=HYPERLINK(")
    pack = export(app, tmp_path)
    cells = csv_cells(pack)
    live = [(t, c, v) for t, c, v in cells
            if v[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%")
            and not re.fullmatch(r"-?[0-9.,]+", v)]
    assert live == []
    inert = {(t, c) for t, c, v in cells if v.startswith("'=HYPERLINK(")}
    assert inert >= {("contacts", "note"), ("escalations", "note"),
                     ("medicines_exceptions", "reason"), ("medicines_exceptions", "action"),
                     ("medicines_exceptions", "informed"), ("medicines_checks", "note"),
                     ("learning_points", "text"), ("incidents", "review"),
                     ("incidents", "action"), ("actions", "title"), ("actions", "finding"),
                     ("actions", "changed"), ("actions", "measured"), ("actions", "controlled"),
                     ("actions", "monitoring"), ("action_evidence", "text")}
    html = (pack / "report.html").read_text(encoding="utf-8")
    assert "=HYPERLINK(" in html  # HTML needs no quote, only escaping
    # The only links are the report's own contents links, none typed in by a person.
    assert all(a.startswith('<a href="#') for a in re.findall(r"<a [^>]*>", html))


def test_negative_numbers_the_code_writes_stay_numbers(tmp_path):
    from storage.export import Table, write_csv

    path = tmp_path / "t.csv"
    write_csv(path, Table("t", "T", ["n", "text"], [["-3", "-2+3"], ["-1.5", "@SUM(A1)"],
                                                     ["+1", "\t=1"], ["0", "\r=1"], ["7", " =1"]]))
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    assert [r[0] for r in rows] == ["-3", "-1.5", "'+1", "0", "7"]
    assert [r[1] for r in rows] == ["'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1", "' =1"]


def test_an_nhs_number_is_refused_as_an_incident_ref(app):
    from storage.models import AuditEvent, Outbox

    before = (count(app.engine, AuditEvent), count(app.engine, Outbox))
    for ref in ("9434765919", "943-476-5919", "943.476.5919", "INC-12031956"):
        reply = run(app, "amira", f"incident open {ref} falls")
        assert not reply.ok and "identify nobody" in reply.plain() and ref not in reply.plain()
    assert count(app.engine, Incident) == 0
    assert (count(app.engine, AuditEvent), count(app.engine, Outbox)) == before
    assert run(app, "amira", "incident open INC-2026-11-24 falls").ok  # today's date is fine


def test_imported_refs_shaped_like_personal_data_are_refused_whole(app, tmp_path):
    from bot.demo import demo_rows
    from storage.importer import ImportRejected, import_contacts
    from storage.models import Client, MedsDuty
    from tests.conftest import write_csv

    good = demo_rows(DAY)[0]
    rows = [dict(good, contact_id="NEW-1", client_ref="C-NEW1"),
            dict(good, contact_id="NEW-2", client_ref="9434765919"),
            dict(good, contact_id="12/03/1956", client_ref="C-NEW2"),
            dict(good, contact_id="NEW-3", client_ref="C-943.476.5919")]
    before = (count(app.engine, Contact), count(app.engine, Client))
    with pytest.raises(ImportRejected) as err:
        import_contacts(app.engine, write_csv(tmp_path / "refs.csv", rows))
    assert err.value.problems == [
        "refs.csv: line 3: client_ref looks like an NHS number; use an opaque ref like C-7F3K",
        "refs.csv: line 4: contact_id looks like a date of birth; use an opaque ref like C-7F3K",
        "refs.csv: line 5: client_ref looks like an NHS number; use an opaque ref like C-7F3K"]
    assert (count(app.engine, Contact), count(app.engine, Client)) == before

    duty = dict(DUTIES[0], duty_id="D-19560312")
    with pytest.raises(ImportRejected) as err:
        import_meds(app.engine, write_meds(tmp_path / "meds.csv",
                                           [DUTIES[1], duty, dict(DUTIES[2], client_ref="9434765919")]))
    assert [p.split(": ", 2)[2] for p in err.value.problems] == [
        "duty_id looks like a date of birth; use an opaque ref like C-7F3K",
        "client_ref looks like an NHS number; use an opaque ref like C-7F3K"]
    assert count(app.engine, MedsDuty) == 0
