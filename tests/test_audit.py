"""The audit log is a hash chain: `carebot audit verify` passes after a day's work and names
the first broken link after rows are edited, deleted or inserted behind carebot's back; on
PostgreSQL the database itself refuses UPDATE and DELETE."""
from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from storage import audit, repo
from storage.db import make_engine, session_scope, upgrade
from storage.models import AuditEvent
from tests.conftest import count, run
from tests.test_cli import carebot


def scripted_day(app) -> None:
    """A day of work through the dispatcher and the scheduler: every reply must be a success."""
    asyncio.run(app.run_job("morning", "north"))
    for who, line in [("amira", "missed C-7F3K hospital"), ("ben", "done C-2M9Q all well"),
                      ("amira", "missed C-9X2P safety"), ("amira", "ack 1"),
                      ("amira", "learn Bed rails must be checked after every transfer"),
                      ("ben", "learn ack L-1"),
                      ("amira", 'action add "Evening meds late" owner=@amira due="in 6 weeks" '
                                'risk=medicines'),
                      ("erin", "done C-5H2D")]:
        reply = run(app, who, line)
        assert reply.ok, (line, reply.plain())
    app.clock.set(datetime(2026, 11, 24, 17, 30, tzinfo=UTC))
    asyncio.run(app.run_job("reconcile", "north"))
    asyncio.run(app.sweep())


def verify_cli(app, *extra: str):
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    return carebot("audit", "verify", *extra, env=env)


def sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def row(engine, action: str) -> AuditEvent:
    """The first row of this action."""
    with Session(engine) as s:
        return s.exec(select(AuditEvent).where(AuditEvent.action == action)
                      .order_by(AuditEvent.seq)).first()


def test_a_day_of_work_verifies(app):
    scripted_day(app)
    rows = count(app.engine, AuditEvent)
    assert rows >= 10
    result = verify_cli(app)
    assert result.returncode == 0, result.stdout + result.stderr
    with Session(app.engine) as s:
        seq, head = audit.head(s)
        chain = list(s.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    assert seq == rows and [r.seq for r in chain] == list(range(1, rows + 1))
    assert chain[0].prev_hash == audit.GENESIS and chain[-1].hash == head
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:]))
    assert result.stdout.strip() == f"audit chain OK: {rows} rows checked, head #{rows} {head}"
    # Rows are tagged with the team they were about (for the pack's team filter).
    assert row(app.engine, "contact:missed").team == "north"


def test_an_edited_row_is_named(app):
    scripted_day(app)
    victim = row(app.engine, "contact:missed")
    if app.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only: UPDATE refused"):
            sql(app.engine, "UPDATE auditevent SET actor = 'ben' WHERE id = :id", id=victim.id)
        assert row(app.engine, "contact:missed").actor == "amira"
        return
    sql(app.engine, "UPDATE auditevent SET actor = 'ben' WHERE id = :id", id=victim.id)
    result = verify_cli(app)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"audit chain BROKEN: row #{victim.seq} (id {victim.id}, {victim.at.isoformat()} "
        "contact:missed by ben) does not match its hash: it was edited (or inserted) after it "
        "was written")


def test_an_edited_and_rehashed_row_breaks_the_next_link(app):
    if app.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL refuses the UPDATE (test_an_edited_row_is_named)")
    scripted_day(app)
    victim = row(app.engine, "contact:missed")
    values = {k: getattr(victim, k) for k in audit.FIELDS} | {"actor": "ben"}
    sql(app.engine, "UPDATE auditevent SET actor = 'ben', hash = :h WHERE id = :id",
        h=audit.digest(victim.prev_hash, values), id=victim.id)
    result = verify_cli(app)
    assert result.returncode == 1
    assert f"row #{victim.seq + 1} (id " in result.stdout
    assert f"does not link to #{victim.seq}: #{victim.seq} was rewritten" in result.stdout


def test_a_deleted_row_is_named(app):
    scripted_day(app)
    victim = row(app.engine, "escalation:ack")
    if app.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only: DELETE refused"):
            sql(app.engine, "DELETE FROM auditevent WHERE id = :id", id=victim.id)
        assert count(app.engine, AuditEvent, AuditEvent.id == victim.id) == 1
        return
    sql(app.engine, "DELETE FROM auditevent WHERE id = :id", id=victim.id)
    result = verify_cli(app)
    assert result.returncode == 1
    assert result.stdout.startswith(f"audit chain BROKEN: #{victim.seq} missing before "
                                    f"#{victim.seq + 1} (id ")
    assert result.stdout.rstrip().endswith(": deleted")


def test_rows_deleted_from_the_end_are_named(app):
    if app.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL refuses the DELETE (test_a_deleted_row_is_named)")
    scripted_day(app)
    last = count(app.engine, AuditEvent)
    sql(app.engine, "DELETE FROM auditevent WHERE seq >= :s", s=last - 1)
    result = verify_cli(app)
    assert result.returncode == 1
    assert result.stdout.strip() == (f"audit chain BROKEN: #{last - 1}–#{last} missing at the "
                                     f"end of the chain (head #{last}): deleted")


def test_an_inserted_row_is_named_even_with_a_well_made_hash(app):
    """Someone who knows the hash rule appends a row in SQL: the chain head gives it away.
    (PostgreSQL's trigger allows INSERT: carebot itself appends that way.)"""
    scripted_day(app)
    with Session(app.engine) as s:
        seq, head = audit.head(s)
    at = datetime(2026, 11, 24, 12, tzinfo=UTC)
    values = {"seq": seq + 1, "at": at, "actor": "amira", "transport": "console",
              "action": "contact:done", "team": "north", "subject": "N-20261124-003",
              "detail": {}}
    sql(app.engine, "INSERT INTO auditevent (at, actor, transport, action, team, subject, "
                    "detail, seq, prev_hash, hash) VALUES (:at, 'amira', 'console', "
                    "'contact:done', 'north', 'N-20261124-003', '{}', :seq, :prev, :hash)",
        at=at, seq=seq + 1, prev=head, hash=audit.digest(head, values))
    with Session(app.engine) as s:
        forged = s.exec(select(AuditEvent).where(AuditEvent.seq == seq + 1)).one()
    result = verify_cli(app)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        f"audit chain BROKEN: row #{seq + 1} (id {forged.id}, {at.isoformat()} contact:done by "
        f"amira) is past the chain head #{seq}: it was inserted outside carebot")


def test_from_to_checks_the_period_only(app):
    scripted_day(app)
    if app.engine.dialect.name == "sqlite":  # tamper with an old row, outside the period
        sql(app.engine, "UPDATE auditevent SET at = :at, actor = 'x' WHERE seq = 1",
            at=datetime(2026, 11, 1, 9, tzinfo=UTC))
        assert verify_cli(app).returncode == 1
    result = verify_cli(app, "--from", "2026-11-24", "--to", "2026-11-24")
    assert result.returncode == 0, result.stdout
    total = count(app.engine, AuditEvent)
    checked = total - 1 if app.engine.dialect.name == "sqlite" else total
    assert result.stdout.startswith(f"audit chain OK: {checked} rows checked, head #{total} ")
    bad = verify_cli(app, "--from", "2026-11-25", "--to", "2026-11-24")
    assert bad.returncode == 2 and "--to is before --from" in bad.stderr


def test_two_writers_at_once_keep_one_line(engine):
    """Several threads (separate connections, as two processes would be) append at the same
    moment: every append lands, with sequence numbers 1..N and one unbroken chain."""
    threads, each = 4, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    now = datetime(2026, 11, 24, 9, tzinfo=UTC)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with session_scope(engine) as s:
                    repo.add_audit(s, at=now, actor=f"w{n}", transport="cli", action="test",
                                   detail={"i": i})
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    with Session(engine) as s:
        verdict = audit.verify(s)
        seqs = list(s.exec(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert verdict.ok, verdict.problem
    assert seqs == list(range(1, threads * each + 1)) and verdict.head_seq == threads * each


def test_the_migration_chains_existing_rows(tmp_path):
    """A database from before the chain keeps its audit rows, now chained, and carebot appends
    after them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}", upgrade_sqlite=False)
    upgrade(engine, "0004_actions")
    for n, detail in enumerate([{"reason": "hospital"}, {}, {"note": "café"}], 1):
        sql(engine, "INSERT INTO auditevent (at, actor, transport, action, subject, detail) "
                    "VALUES (:at, 'amira', 'console', 'contact:missed', :s, :d)",
            at=datetime(2026, 11, 20, 9, n, tzinfo=UTC), s=f"N-{n}", d=json.dumps(detail))
    upgrade(engine)
    with session_scope(engine) as s:
        verdict = audit.verify(s)
        assert verdict.ok and verdict.rows == 3 and verdict.head_seq == 3, verdict.problem
        repo.add_audit(s, at=datetime(2026, 11, 21, tzinfo=UTC), actor="ben", transport="cli",
                       action="test")
    with Session(engine) as s:
        verdict = audit.verify(s)
        assert verdict.ok and verdict.head_seq == 4
        assert [r.subject for r in s.exec(select(AuditEvent).order_by(AuditEvent.seq))] == \
            ["N-1", "N-2", "N-3", None]
    engine.dispose()


def test_retention_never_purges_audit_rows(app, tmp_path, monkeypatch):
    scripted_day(app)
    before = count(app.engine, AuditEvent)
    app.clock.set(app.clock.now() + timedelta(days=4000))
    asyncio.run(app.housekeeping())
    assert count(app.engine, AuditEvent) == before + 1  # the purge's own record
    with Session(app.engine) as s:
        assert audit.verify(s).ok


def test_the_pack_holds_the_audit_and_its_chain_head(app, tmp_path):
    """`carebot export --team north`: audit.csv has the period's North rows (and rows about no
    team), each re-hashable from its own columns; report.html shows the chain head."""
    from tests.test_export import rows as csv_rows

    scripted_day(app)
    out = tmp_path / "pack"
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    result = carebot("export", "--from", "2026-11-24", "--to", "2026-11-24", "--out", str(out),
                     "--team", "north", env=env)
    assert result.returncode == 0, result.stderr
    trail = csv_rows(out, "audit")
    with Session(app.engine) as s:
        seq, head = audit.head(s)
        north = s.exec(select(AuditEvent.seq).where(AuditEvent.team == "north")
                       .order_by(AuditEvent.seq)).all()
    assert [int(r["seq"]) for r in trail] == list(north) and len(north) >= 8
    assert {r["team"] for r in trail} == {"north"}  # erin's South `done` is not in it
    assert "contact:missed" in {r["action"] for r in trail}
    for r in trail:
        values = {"seq": int(r["seq"]), "at": datetime.fromisoformat(r["at"]),
                  "actor": r["actor"], "transport": r["transport"], "action": r["action"],
                  "team": r["team"] or None, "subject": r["subject"] or None,
                  "detail": json.loads(r["detail"])}
        assert audit.digest(r["prev_hash"], values) == r["hash"], r
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"<th>Audit chain head</th><td>#{seq} {head}</td>" in page
    assert '<h3 id="t-audit">Audit log (hash-chained)</h3>' in page
    assert f"audit chain OK: {seq} rows checked, head #{seq} {head}" in page


def test_audit_writers_never_deadlock(engine):
    """T2 records an audit row, then T1 locks a team row and records one, while T2 goes on to
    update the same team. Were the chain head locked at the append, that is a lock cycle
    (PostgreSQL would abort one of them); chained at commit, both land."""
    from storage.models import Team

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row locks to cross")
    with Session(engine) as s:
        s.add(Team(key="north", name="North"))
        s.commit()
    now = datetime(2026, 11, 24, 9, tzinfo=UTC)
    lock = text("UPDATE team SET name = name WHERE key = 'north'")
    s1, s2 = Session(engine), Session(engine)
    repo.add_audit(s2, at=now, actor="t2", transport="cli", action="test")
    s2.execute(text("SELECT 1"))  # T2's transaction is open
    s1.execute(lock)
    errors: list[BaseException] = []

    def t1() -> None:
        try:
            repo.add_audit(s1, at=now, actor="t1", transport="cli", action="test")
            s1.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def t2() -> None:
        try:
            s2.execute(lock)
            s2.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=t2), threading.Thread(target=t1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    s1.close()
    s2.close()
    assert errors == []
    with Session(engine) as s:
        assert sorted(s.exec(select(AuditEvent.actor))) == ["t1", "t2"]
        assert audit.verify(s).ok


def test_one_transaction_chains_its_rows_in_order_and_a_rollback_leaves_none(engine):
    now = datetime(2026, 11, 24, 9, tzinfo=UTC)
    with Session(engine) as s:
        repo.add_audit(s, at=now, actor="a", transport="cli", action="dropped")
        s.rollback()
        for n in range(3):
            repo.add_audit(s, at=now, actor="a", transport="cli", action=f"kept{n}")
        s.commit()
        rows = list(s.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [(r.seq, r.action) for r in rows] == [(1, "kept0"), (2, "kept1"), (3, "kept2")]
    with Session(engine) as s:
        assert audit.verify(s).ok


def test_a_change_to_another_teams_record_is_audited_under_that_team(app):
    # Dan manages North (his home team, so his DM's team) and South: the change is South's
    # record, so South's evidence pack must hold the row.
    assert run(app, "dan", "missed C-5H2D staffing", private=True).ok
    with Session(app.engine) as s:
        row = s.exec(select(AuditEvent).where(AuditEvent.action == "contact:missed")).one()
    assert (row.actor, row.subject.startswith("S-"), row.team) == ("dan", True, "south")
