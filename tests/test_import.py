"""`carebot import contacts`: idempotent, whole-file rejection with every bad row listed."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.demo import demo_rows
from storage.importer import ImportRejected, import_contacts
from storage.models import Client, Contact
from tests.conftest import DAY, count, run, write_csv


def test_reimport_updates_never_duplicates_and_keeps_outcomes(app, tmp_path):
    run(app, "amira", "missed C-7F3K hospital")
    rows = demo_rows(DAY)
    result = import_contacts(app.engine, write_csv(tmp_path / "same.csv", rows))
    assert (result.rows, result.written, result.unchanged) == (28, 0, 28)
    rows[1]["assignee"] = "chloe"
    rows[0]["due_end"] = "2026-11-24T13:00"
    result = import_contacts(app.engine, write_csv(tmp_path / "changed.csv", rows))
    assert (result.inserted, result.updated) == (0, 2)
    assert count(app.engine, Contact) == 28
    with Session(app.engine) as session:
        first = session.exec(select(Contact).where(Contact.source_id == rows[0]["contact_id"])).one()
        assert (first.status, first.reason_code) == ("missed", "hospital")
        assert first.due_end.hour == 13


def test_times_without_offset_are_in_the_teams_zone(engine, app, tmp_path):
    # 25 October 2026: London leaves summer time at 02:00, so 09:00 local is 09:00 UTC,
    # while on 24 October 09:00 local is 08:00 UTC.
    row = dict(demo_rows(DAY)[0], contact_id="X-1", due_start="2026-10-24T09:00",
               due_end="2026-10-24T10:00+00:00")
    row2 = dict(row, contact_id="X-2", due_start="2026-10-25T09:00", due_end="2026-10-25T10:00")
    import_contacts(app.engine, write_csv(tmp_path / "dst.csv", [row, row2]))
    with Session(app.engine) as session:
        got = {c.source_id: c for c in session.exec(select(Contact).where(
            Contact.source_id.in_(["X-1", "X-2"])))}
    assert got["X-1"].due_start.hour == 8 and got["X-1"].due_end.hour == 10
    assert got["X-2"].due_start.hour == 9


def test_a_file_with_bad_rows_is_rejected_whole_listing_each(app, tmp_path):
    good = demo_rows(DAY)[:3]
    bad = [
        dict(good[0], contact_id="B-1", team="west"),
        dict(good[0], contact_id="B-2", due_start="2026-11-24T12:00", due_end="2026-11-24T11:00"),
        dict(good[0], contact_id="B-3", due_start="tomorrow-ish"),
        dict(good[0], contact_id="B-4", assignee="zed"),
        dict(good[0], contact_id="B-5", kind="visit", risk="severe"),
        dict(good[0], contact_id="B-1"),  # duplicate id in the file (and otherwise fine)
    ]
    path = write_csv(tmp_path / "bad.csv", [dict(good[0], contact_id="NEW-1"), *bad])
    before = count(app.engine, Contact)
    with pytest.raises(ImportRejected) as err:
        import_contacts(app.engine, path)
    problems = err.value.problems
    assert err.value.total_bad == 5  # B-1 with team west was never accepted, so its twin is fine
    assert problems[0] == "bad.csv: line 3: unknown team 'west'"
    assert problems[1] == "bad.csv: line 4: due_end is before due_start"
    assert problems[2].startswith("bad.csv: line 5: due_start 'tomorrow-ish' is not an ISO 8601")
    assert problems[3] == "bad.csv: line 6: unknown assignee 'zed'"
    assert "kind 'visit'" in problems[4] and "risk 'severe'" in problems[4]
    assert count(app.engine, Contact) == before  # NEW-1 (a good row) was not imported either


def test_missing_columns_are_named(app, tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("contact_id,client_ref,team\nA,C-1,north\n")
    with pytest.raises(ImportRejected) as err:
        import_contacts(app.engine, path)
    assert "missing column(s) kind, due_start, due_end, assignee, risk, time_critical" in str(err.value)


def test_client_risk_follows_the_latest_import(app, tmp_path):
    row = dict(demo_rows(DAY)[1], risk="high")
    import_contacts(app.engine, write_csv(tmp_path / "risk.csv", [row]))
    with Session(app.engine) as session:
        assert session.exec(select(Client.risk).where(Client.ref == "C-2M9Q")).one() == "high"


def test_large_file_streams_in_batches(engine, config_path, tmp_path):
    """Several batches, duplicates across batch boundaries caught, counts right on both DBs."""
    from bot.config import load_config
    from storage import repo
    from storage.db import session_scope

    with session_scope(engine) as session:
        repo.sync_config(session, load_config(config_path))
    base = demo_rows(DAY)[0]
    rows = [dict(base, contact_id=f"L-{i}", client_ref=f"C-L{i % 700}") for i in range(4500)]
    result = import_contacts(engine, write_csv(tmp_path / "big.csv", rows))
    assert (result.inserted, count(engine, Contact), count(engine, Client)) == (4500, 4500, 700)
    with pytest.raises(ImportRejected) as err:
        import_contacts(engine, write_csv(tmp_path / "dup.csv", rows + [rows[10]]))
    assert err.value.problems == ["dup.csv: line 4502: contact_id 'L-10' appears twice in the file"]


def test_imported_times_are_found_by_time_window_queries(engine, config_path, tmp_path):
    """The bulk paths (COPY, the driver's executemany) store times as the ORM would."""
    from datetime import UTC, datetime

    from bot.config import load_config
    from storage import repo
    from storage.db import session_scope

    with session_scope(engine) as session:
        repo.sync_config(session, load_config(config_path))
    base = dict(demo_rows(DAY)[0], due_start="2026-11-24T09:00", due_end="2026-11-24T10:00+00:00")
    rows = [dict(base, contact_id="T-1"), dict(base, contact_id="T-2", due_start="2026-06-01T09:00",
                                               due_end="2026-06-01T10:00")]
    import_contacts(engine, write_csv(tmp_path / "t.csv", rows))
    with Session(engine) as session:
        winter = session.exec(select(Contact.source_id).where(
            Contact.due_start == datetime(2026, 11, 24, 9, tzinfo=UTC))).all()
        summer = session.exec(select(Contact.source_id).where(  # 09:00 BST is 08:00 UTC
            Contact.due_start >= datetime(2026, 6, 1, 8, tzinfo=UTC),
            Contact.due_end <= datetime(2026, 6, 1, 9, tzinfo=UTC))).all()
    assert (winter, summer) == (["T-1"], ["T-2"])


def test_a_clients_risk_changing_across_batches_ends_at_its_last_row(engine, config_path, tmp_path):
    from bot.config import load_config
    from storage import repo
    from storage.db import session_scope

    with session_scope(engine) as session:
        repo.sync_config(session, load_config(config_path))
    base = demo_rows(DAY)[0]
    risks = ("high", "medium", "low")
    rows = [dict(base, contact_id=f"R-{i}", client_ref=f"C-R{i % 1500}", risk=risks[i // 1500])
            for i in range(4500)]  # each client high, then medium, then low, across batches
    result = import_contacts(engine, write_csv(tmp_path / "r.csv", rows))
    with Session(engine) as session:
        got = dict(session.exec(select(Client.ref, Client.risk)).all())
    assert got == {f"C-R{i}": "low" for i in range(1500)}
    assert (result.inserted, result.clients_written) == (4500, 1500 + 1500)  # new, then risk
    again = import_contacts(engine, write_csv(tmp_path / "r.csv", rows))
    assert again.written == 0
