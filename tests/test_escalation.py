"""Escalation: pages repeat, climb the chain, stop on ack; timers survive restarts and races."""
from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.app import App
from handlers import escalation, sweep
from handlers.base import SimClock
from handlers.paging import EscalationPolicy
from storage.db import make_engine
from storage.importer import import_rota
from storage.models import AuditEvent, Escalation, EscalationEvent, Person, Team
from tests.conftest import PG_URL, Recorder, count
from tests.driver import plain


def pages(engine, esc_id: int | None = None) -> list[tuple[str, datetime, int]]:
    """(handle, when, level) for every page (of one escalation), in order."""
    query = select(EscalationEvent, Person).join(Person, Person.id == EscalationEvent.person_id) \
        .where(EscalationEvent.kind == "paged").order_by(EscalationEvent.id)
    if esc_id:
        query = query.where(EscalationEvent.escalation_id == esc_id)
    with Session(engine) as session:
        rows = session.exec(query).all()
    return [(p.handle, e.at, e.level) for e, p in rows]


def test_safety_pages_the_on_call_lead_at_once_with_a_lock_screen_safe_first_line(bot):
    reply = bot.say("ben", "missed C-9X2P safety")
    assert "Escalated as E-1" in reply.plain()
    [(handle, dm)] = bot.dms()
    text = dm.plain()
    assert handle == "amira"  # the demo's on-call lead for North
    first, second = text.splitlines()[:2]
    assert first == "carebot: safety concern logged — North Community Team"
    assert second == "E-1 · C-9X2P · missed: Safety concern"
    buttons = [b.action for b in dm.blocks[1].buttons]
    assert buttons == ["ack:1", "resolve:1"]


def test_full_chain_repeats_climbs_stops_on_ack_and_resolve_needs_a_note(bot):
    bot.say("ben", "missed C-9X2P safety")  # 08:00
    bot.advance(minutes=44)
    assert [(h, at.strftime("%H:%M"), lvl) for h, at, lvl in pages(bot.engine)] == [
        ("amira", "08:00", 0), ("amira", "08:15", 0), ("amira", "08:30", 0)]
    bot.advance(minutes=1)  # 08:45: repeats used up, the registered manager
    bot.advance(minutes=30)  # 09:00 manager again, 09:15 manager, then …
    bot.advance(minutes=15)  # 09:30: the nominated individual
    assert [(h, at.strftime("%H:%M"), lvl) for h, at, lvl in pages(bot.engine)][3:] == [
        ("dan", "08:45", 1), ("dan", "09:00", 1), ("dan", "09:15", 1), ("grace", "09:30", 2)]
    last = plain(bot.dms())[-1][1]
    assert ("Paged before: 6 pages, last 3: Dan Morgan 08:45, 09:00, 09:15 (no acknowledgement)"
            in last)
    assert "paged as nominated individual" in last

    assert bot.say("grace", "ack E-1").plain().startswith("You own E-1 now")
    told = {h for h, text in plain(bot.dms()) if "acknowledged by Grace Liu" in text}
    assert told == {"amira", "dan"}
    before = len(pages(bot.engine, 1))
    bot.advance(minutes=120)
    assert len(pages(bot.engine, 1)) == before  # the pages stopped
    assert "already owned by Grace Liu" in bot.say("dan", "ack 1").plain()

    reply = bot.say("grace", "resolve 1")
    assert not reply.ok and "needs a short note" in reply.plain()
    assert bot.say("grace", "resolve 1 police welfare check, client safe").ok
    with Session(bot.engine) as session:
        esc = session.get(Escalation, 1)
    assert (esc.state, esc.note, esc.open_subject) == ("resolved", "police welfare check, client safe", None)
    assert count(bot.engine, AuditEvent, AuditEvent.subject == "E-1") == 3  # open, ack, resolve


def test_timers_count_real_minutes_across_the_october_dst_change(bot):
    # 01:50 BST on 25 Oct 2026 is 00:50 UTC; at 02:00 BST the clocks go back to 01:00 GMT.
    bot.set_clock(datetime(2026, 10, 25, 0, 50, tzinfo=UTC))
    with Session(bot.engine) as session:
        team = session.exec(select(escalation.Team).where(escalation.Team.key == "north")).one()
        escalation.open_escalation(session, team=team, subject="test:dst", trigger="reason:safety",
                                   ref="C-9X2P", summary="missed: Safety concern",
                                   now=bot.now, opened_by="amira")
        session.commit()
    bot.advance(minutes=60)
    times = [at for _, at, _ in pages(bot.engine)]
    assert [(b - a) for a, b in zip(times, times[1:])] == [timedelta(minutes=15)] * 4
    assert [t.astimezone(escalation.ZoneInfo("Europe/London")).strftime("%H:%M %Z") for t in times] == [
        "01:50 BST", "01:05 GMT", "01:20 GMT", "01:35 GMT", "01:50 GMT"]


def test_bad_input_changes_nothing(bot):
    bot.say("ben", "missed C-9X2P safety")
    before = (count(bot.engine, EscalationEvent), count(bot.engine, AuditEvent))
    for who, line, expected in [
        ("amira", "ack 99", "No escalation '99'. See `escalations`. Example: ack 12"),
        ("amira", "ack soon", "No escalation 'soon'"),
        ("amira", "resolve 1", "Resolving E-1 needs a short note"),
        ("ben", "ack 1", "Only the escalation chain for North Community Team"),
        ("femi", "resolve 1 done", "You are not in North Community Team"),
    ]:
        reply = bot.say(who, line)
        assert not reply.ok and expected in reply.plain(), (line, reply.plain())
    assert (count(bot.engine, EscalationEvent), count(bot.engine, AuditEvent)) == before
    bot.say("amira", "resolve 1 visited with police")
    reply = bot.say("dan", "ack 1")
    assert not reply.ok and "already resolved by Amira Khan" in reply.plain()


def test_reconciliation_escalates_each_open_high_risk_contact_once(bot):
    bot.set_clock(datetime(2026, 11, 24, 17, 30, tzinfo=UTC))  # the end-of-day log
    first = bot.say("amira", "reconcile").plain()
    bot.say("amira", "reconcile")  # a re-run opens nothing new
    with Session(bot.engine) as session:
        subjects = session.exec(select(Escalation.ref).order_by(Escalation.id)).all()
    assert sorted(subjects) == ["C-7F3K", "C-9X2P", "C-HTYF", "C-V7QZ", "C-W8UW"]
    assert "escalated to the on-call lead (E-1, E-2, E-3, E-4, E-5)" in first
    [(handle, text)] = plain(bot.dms())  # five pages to the on-call lead in one run: one DM
    assert handle == "amira"
    assert text.splitlines()[0] == "carebot: 5 escalations need you — North Community Team"
    assert [line.split(" · ")[0] for line in text.splitlines()[1:6]] == [
        "E-1", "E-2", "E-3", "E-4", "E-5"]


def test_time_critical_contact_escalates_after_its_window_and_grace(bot):
    # C-7F3K is time-critical and high risk, due 09:00-12:00; the grace is 30 minutes.
    def escalated() -> list[Escalation]:
        with Session(bot.engine) as session:
            return session.exec(select(Escalation).where(Escalation.ref == "C-7F3K")).all()

    bot.advance(minutes=4 * 60 + 29)  # 12:29
    assert escalated() == []
    bot.advance(minutes=1)  # 12:30
    [esc] = escalated()
    assert (esc.trigger, esc.opened_at.strftime("%H:%M")) == ("time_critical", "12:30")
    assert [(h, at.strftime("%H:%M")) for h, at, _ in pages(bot.engine, esc.id)] == [("amira", "12:30")]
    bot.say("amira", "done C-7F3K")  # logged late: the outcome settles the escalation
    bot.advance(minutes=60)
    assert len(pages(bot.engine, esc.id)) == 1
    with Session(bot.engine) as session:
        settled = session.get(Escalation, esc.id)
    assert (settled.state, settled.note) == ("resolved", "contact logged done (Amira Khan)")


def test_one_time_critical_scan_keeps_each_teams_grace_and_team(app):
    # North's C-7F3K ends 12:00 (grace 30 → 12:30); South's C-5H2D ends 11:00, grace set to 120.
    with Session(app.engine) as session:
        south = session.exec(select(Team).where(Team.key == "south")).one()
        south.escalation = {**(south.escalation or EscalationPolicy().model_dump()),
                            "time_critical_grace_minutes": 120}
        session.add(south)
        session.commit()

    def opened() -> list[tuple[str, str]]:
        with Session(app.engine) as session:
            return session.exec(select(Escalation.ref, Team.key)
                                .join(Team, Team.id == Escalation.team_id)
                                .where(Escalation.trigger == "time_critical")
                                .order_by(Escalation.ref)).all()

    sweep.sweep(app.engine, datetime(2026, 11, 24, 12, 30, tzinfo=UTC))
    assert opened() == [("C-7F3K", "north")]
    sweep.sweep(app.engine, datetime(2026, 11, 24, 12, 59, tzinfo=UTC))
    assert opened() == [("C-7F3K", "north")]
    sweep.sweep(app.engine, datetime(2026, 11, 24, 13, 0, tzinfo=UTC))
    assert opened() == [("C-5H2D", "south"), ("C-7F3K", "north")]


def test_a_safety_concern_stays_open_until_a_person_resolves_it(bot):
    bot.say("ben", "missed C-9X2P safety")
    bot.say("amira", "done C-9X2P")  # visited after all: the concern still needs closing
    with Session(bot.engine) as session:
        assert session.get(Escalation, 1).state == "open"
    bot.advance(minutes=15)
    assert len(pages(bot.engine, 1)) == 2


def test_no_one_on_call_goes_up_at_once_and_tells_the_channel(bot, tmp_path):
    # A rota that puts ben on call only tomorrow: today nobody from the rota, and the pool
    # (amira) still applies… so take amira out of the pool by giving erin the shift instead.
    rota = tmp_path / "rota.csv"
    rota.write_text("person,team,starts_at,ends_at\nben,north,2026-11-24T00:00,2026-11-24T07:00\n")
    assert import_rota(bot.engine, rota).inserted == 1
    with Session(bot.engine) as session:
        amira = session.exec(select(Person).where(Person.handle == "amira")).one()
        amira.oncall = False
        session.add(amira)
        session.commit()
    bot.say("ben", "missed C-9X2P safety")
    assert [(h, lvl) for h, _, lvl in pages(bot.engine)] == [("dan", 1)]
    [(team, post)] = bot.posts()
    assert team == "north" and post.plain().startswith("carebot: no on-call lead available")
    assert "E-1 went straight to the registered manager" in post.plain()


def test_rota_decides_who_is_on_call(bot, tmp_path):
    rota = tmp_path / "rota.csv"
    rota.write_text("person,team,starts_at,ends_at\nchloe,north,2026-11-24T07:00,2026-11-24T19:00\n")
    import_rota(bot.engine, rota)
    assert import_rota(bot.engine, rota).written == 0  # idempotent
    bot.say("ben", "missed C-9X2P safety")
    assert [h for h, _, _ in pages(bot.engine)] == ["chloe"]
    assert bot.say("chloe", "ack 1").ok  # in the chain because she is on call


def test_rota_file_errors_are_listed(app, tmp_path):
    from storage.importer import ImportRejected

    rota = tmp_path / "rota.csv"
    rota.write_text("person,team,starts_at,ends_at\nzed,north,2026-11-24T07:00,2026-11-24T19:00\n"
                    "ben,north,2026-11-24T19:00,2026-11-24T07:00\n")
    with pytest.raises(ImportRejected) as err:
        import_rota(app.engine, rota)
    assert err.value.problems == ["rota.csv: line 2: unknown person 'zed'",
                                  "rota.csv: line 3: ends_at is not after starts_at"]


def test_escalations_lists_what_is_open_who_holds_it_and_for_how_long(bot):
    assert bot.say("amira", "escalations").plain() == "No open escalations. ✓"
    bot.say("ben", "missed C-9X2P safety")
    bot.advance(minutes=50)
    text = bot.say("amira", "escalations").plain()
    assert "E-1 · north · C-9X2P · missed: Safety concern" in text
    assert "paging registered manager (Dan Morgan) · open 50 min" in text
    bot.say("dan", "ack 1")
    assert "owned by Dan Morgan · open 50 min" in bot.say("amira", "escalations").plain()


def test_restart_fires_each_pending_escalation_once_on_time(bot, config_path):
    app = bot.app
    bot.say("ben", "missed C-9X2P safety")  # paged 08:00, next at 08:15
    bot.say("ben", "missed C-2M9Q safety")
    bot.deliver()
    # The process dies. A new one starts at 08:20 on the same database.
    engine = make_engine(str(app.engine.url.render_as_string(hide_password=False)))
    later = App(settings=app.settings, config=app.config, engine=engine,
                clock=SimClock(datetime(2026, 11, 24, 8, 20, tzinfo=UTC)), transports=[Recorder()])
    asyncio.run(later.sweep())
    asyncio.run(later.sweep())  # a second sweep at the same moment fires nothing
    assert [(h, at.strftime("%H:%M")) for h, at, _ in pages(engine)] == [
        ("amira", "08:00"), ("amira", "08:00"), ("amira", "08:20"), ("amira", "08:20")]
    [(handle, text)] = later.transports[0].dms  # both repeats to amira: one DM
    assert handle == "amira" and "E-1 · C-9X2P" in text.plain() and "E-2 · C-2M9Q" in text.plain()
    engine.dispose()


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)  # row locks: SKIP LOCKED
def test_two_sweepers_on_postgres_send_every_page_exactly_once(bot):
    for ref in ("C-9X2P", "C-2M9Q", "C-4T7P", "C-7F3K"):
        bot.say("ben", f"missed {ref} safety")
    bot.dms()  # the first pages, put aside
    now = datetime(2026, 11, 24, 8, 16, tzinfo=UTC)
    engines = [make_engine(PG_URL) for _ in range(2)]
    barrier = threading.Barrier(2)

    def sweeper(engine):
        barrier.wait()
        for _ in range(5):
            sweep.sweep(engine, now)

    threads = [threading.Thread(target=sweeper, args=(e,)) for e in engines]
    [t.start() for t in threads]
    [t.join() for t in threads]
    bot.set_clock(now)
    sent = bot.dms()
    # Each sweeper groups what it claimed into one DM: however the rows were split, every
    # escalation's repeat reaches amira exactly once.
    assert {h for h, _ in sent} == {"amira"}
    listed = sorted(line.split(" · ")[0] for _, reply in sent
                    for line in reply.plain().splitlines() if line.startswith("E-"))
    assert listed == ["E-1", "E-2", "E-3", "E-4"]
    # Each escalation fired once in the race: its first page plus exactly one repeat.
    assert count(bot.engine, EscalationEvent, EscalationEvent.kind == "paged") == 8
    for engine in engines:
        engine.dispose()
