"""Escalation rules a clinician would sign, and paging people will not mute (issue 13, 2–3)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select, update

from bot.config import DEFAULT_REASON_CODES, load_config
from handlers import escalation
from storage.models import Contact, Escalation, EscalationEvent, Team
from tests.conftest import MORNING, count
from tests.driver import plain

# A contact of each risk level in the demo's North team: (client ref, contact id).
CONTACTS = {"high": ("C-9X2P", "N-20261124-003"), "medium": ("C-2M9Q", "N-20261124-002"),
            "low": ("C-4T7P", "N-20261124-004")}
# The README's table. For each default reason code and risk: what `missed REF CODE` does
# (no escalation yet → "open" or "none"; a live "no outcome" escalation → "settle", "keep",
# or "replace": settled and a fresh safety escalation opened in its place).
EFFECT = {
    "unavailable": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "hospital": {"high": ("none", "settle"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "refused": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "no_reply": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "safety": {"high": ("open", "replace"), "medium": ("open", "replace"), "low": ("open", "replace")},
    "staffing": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "weather": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "rota": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
    "other": {"high": ("open", "keep"), "medium": ("none", "settle"), "low": ("none", "settle")},
}
LABELS = {c.code: c.label for c in DEFAULT_REASON_CODES}


def test_the_table_covers_every_default_reason_code():
    assert set(EFFECT) == set(LABELS)


def escalations_for(engine, contact_id: str) -> list[Escalation]:
    with Session(engine) as session:
        return list(session.exec(select(Escalation).where(
            Escalation.subject == f"contact:{contact_id}").order_by(Escalation.id)))


def missed_line(ref: str, code: str) -> str:
    return f"missed {ref} {code}" + (" family say client is away" if code == "other" else "")


@pytest.mark.parametrize("risk", ["high", "medium", "low"])
@pytest.mark.parametrize("code", list(EFFECT))
def test_reason_times_risk_opens_keeps_or_settles(bot, code, risk):
    ref, contact_id = CONTACTS[risk]
    fresh, live = EFFECT[code][risk]

    # No escalation yet: ben (staff, not on call) logs the miss.
    assert bot.say("ben", missed_line(ref, code)).ok
    rows = escalations_for(bot.engine, contact_id)
    if fresh == "open":
        [esc] = rows
        assert (esc.state, esc.trigger, esc.summary) == (
            "open", f"reason:{code}", f"missed: {LABELS[code]}")
        [(handle, text)] = plain(bot.dms())  # the page says which reason
        assert handle == "amira" and f"{ref} · missed: {LABELS[code]}" in text
    else:
        assert rows == []


@pytest.mark.parametrize("risk", ["high", "medium", "low"])
@pytest.mark.parametrize("code", list(EFFECT))
def test_reason_times_risk_on_a_live_no_outcome_escalation(bot, code, risk):
    ref, contact_id = CONTACTS[risk]
    _, live = EFFECT[code][risk]
    with Session(bot.engine) as session:
        team = session.exec(select(Team).where(Team.key == "north")).one()
        first, _ = escalation.open_escalation(
            session, team=team, subject=f"contact:{contact_id}", trigger="reconcile", ref=ref,
            summary="no outcome at end of day", now=MORNING, opened_by="scheduler")
        session.commit()
        first_id = first.id

    assert bot.say("ben", missed_line(ref, code)).ok
    rows = {e.id: e for e in escalations_for(bot.engine, contact_id)}
    before, after = rows.pop(first_id), list(rows.values())
    if live == "settle":
        assert before.state == "resolved" and before.note.startswith(f"logged missed: {LABELS[code]}")
        assert after == []
    elif live == "keep":
        # Still live, and its next page names the reason.
        assert (before.state, before.trigger, before.summary) == (
            "open", f"reason:{code}", f"missed: {LABELS[code]}")
        assert after == []
    else:  # replace
        [new] = after
        assert before.state == "resolved" and before.note.startswith(
            "logged missed: Safety concern; a new escalation replaces this one")
        assert (new.state, new.trigger) == ("open", "reason:safety")


def test_weather_on_a_high_risk_client_keeps_it_open_until_done_or_hospital(bot):
    """The issue's case: 'E-8 resolved … logged missed: Weather' while the client had no visit."""
    bot.set_clock(MORNING + timedelta(hours=10))  # the end-of-day log, not a check so far
    bot.say("amira", "reconcile")  # escalates the open high-risk contacts, C-9X2P among them
    [esc] = escalations_for(bot.engine, "N-20261124-003")
    reply = bot.say("ben", "missed C-9X2P weather")
    assert f"Escalated as E-{esc.id}" in reply.plain()
    bot.dms()  # the pages so far, put aside
    assert not any("resolved" in text for _, text in plain(bot.dms()))
    bot.advance(minutes=15)
    # The repeats for all five, in one DM (South's own time-critical page goes to erin).
    [text] = [text for handle, text in plain(bot.dms()) if handle == "amira"]
    assert f"E-{esc.id} · C-9X2P · missed: Weather / travel disruption" in text
    bot.say("ben", "missed C-9X2P hospital")
    [settled] = escalations_for(bot.engine, "N-20261124-003")
    assert (settled.state, settled.note) == ("resolved",
                                             "logged missed: Hospitalisation (Ben Okafor)")


def test_a_simulated_week_never_acknowledged_is_paged_exactly_as_the_policy_allows(bot):
    with Session(bot.engine) as session:  # everything else done: only this one escalates
        session.exec(update(Contact).where(Contact.source_id != "N-20261124-003")
                     .values(status="done"))
        session.commit()
    bot.say("ben", "missed C-9X2P safety")  # Tue 08:00
    bot.advance(minutes=7 * 24 * 60)
    sent, posted = plain(bot.dms()), plain(bot.posts())

    pages = [(h, t) for h, t in sent
             if t.startswith("carebot: safety concern logged — North Community Team")]
    # The chain once with its repeats (3 on-call, 3 manager, 3 nominated), then the
    # nominated individual every 60 min for 4 h (4 more): 13 pages, then silence.
    assert len(pages) == 13
    assert [h for h, _ in pages] == ["amira"] * 3 + ["dan"] * 3 + ["grace"] * 7
    assert count(bot.engine, EscalationEvent, EscalationEvent.kind == "paged") == 13
    assert ("Paged before: 12 pages, last 3: Grace Liu 11:00, 12:00, 13:00 (no acknowledgement)"
            in pages[-1][1])
    # The unowned notice: once to the channel, once to the team's manager.
    notice = "carebot: escalation unowned after the full chain — North Community Team"
    assert [team for team, text in posted if text.startswith(notice)] == ["north"]
    assert [h for h, text in sent if text.startswith(notice)] == ["dan"]
    assert "E-1 · C-9X2P · missed: Safety concern" in next(t for _, t in sent if t.startswith(notice))
    # Nothing else reached the on-call lead or the nominated individual all week (but Monday's
    # documentation sample, which Amira gets as North's supervisor (Erin, South's): the week's
    # contacts are done).
    sample = "carebot: this week's documentation sample to audit"
    assert sorted(h for h, t in sent if t.startswith(sample)) == ["amira", "erin"]
    assert len([h for h, t in sent if h in ("amira", "grace") and not t.startswith(sample)]) == 10
    with Session(bot.engine) as session:
        esc = session.get(Escalation, 1)
    assert (esc.state, esc.next_fire_at) == ("open", None)
    assert esc.exhausted_at == datetime(2026, 11, 24, 14, 15, tzinfo=UTC)

    # Still listed, and first, ahead of a newer one still paging.
    with Session(bot.engine) as session:
        team = session.exec(select(Team).where(Team.key == "north")).one()
        escalation.open_escalation(session, team=team, subject="test:newer", trigger="reason:safety",
                                   ref="C-2M9Q", summary="missed: Safety concern",
                                   now=bot.now, opened_by="ben")
        session.commit()
    listed = bot.say("dan", "escalations").plain().splitlines()
    assert listed[2] == "E-1 · north · C-9X2P · missed: Safety concern"
    assert listed[3].startswith("  ⚠ unowned after the full chain")
    assert listed[4].startswith("E-2 ·")
    assert bot.say("grace", "ack 1").ok  # it can still be owned


def test_the_bounds_are_configurable(bot):
    with Session(bot.engine) as session:
        team = session.exec(select(Team).where(Team.key == "north")).one()
        team.escalation = {**team.escalation, "chain": ["oncall"], "repeats": 0,
                           "final_repeat_minutes": 30, "final_repeat_hours": 1}
        session.add(team)
        session.commit()
    bot.say("ben", "missed C-9X2P safety")  # 08:00
    bot.advance(minutes=24 * 60)
    times = [at.strftime("%H:%M") for _, at, _ in _pages(bot.engine, 1)]
    assert times == ["08:00", "08:30", "09:00"]  # one page, then every 30 min for 1 h
    with Session(bot.engine) as session:
        assert session.get(Escalation, 1).exhausted_at == datetime(2026, 11, 24, 9, 15, tzinfo=UTC)


def _pages(engine, esc_id: int):
    from storage.models import Person

    with Session(engine) as session:
        rows = session.exec(select(EscalationEvent, Person)
                            .join(Person, Person.id == EscalationEvent.person_id)
                            .where(EscalationEvent.kind == "paged",
                                   EscalationEvent.escalation_id == esc_id)
                            .order_by(EscalationEvent.id))
        return [(p.handle, e.at, e.level) for e, p in rows]


HIGH = ["C-7F3K", "C-9X2P", "C-V7QZ", "C-W8UW", "C-HTYF"]


def test_five_pages_in_one_sweep_are_one_dm_and_ack_all_owns_them(bot):
    for ref in HIGH:  # five concerns, each paged at once, as it is raised
        bot.say("ben", f"missed {ref} safety")
    assert len(bot.dms()) == 5
    bot.advance(minutes=15)  # 08:15: one sweep, five repeats to amira
    [(handle, dm)] = bot.dms()
    text = dm.plain()
    assert handle == "amira"
    assert text.splitlines()[0] == \
        "carebot: 5 escalations need you, 5 safety concerns — North Community Team"
    assert [line.split(" · ")[:2] for line in text.splitlines()[1:6]] == [
        [f"E-{n}", ref] for n, ref in enumerate(HIGH, 1)]
    assert "Own them all: ack all" in text
    [button] = dm.blocks[1].buttons
    assert (button.label, button.action) == ("Acknowledge all", "ack:all")

    bot.advance(minutes=30)  # 08:45: the manager too, again one DM
    assert [h for h, _ in bot.dms()] == ["amira", "dan"]  # after the 08:15 one above

    assert bot.say("ben", "ack all").plain().startswith("Nothing to acknowledge")
    reply = bot.say("amira", "ack all")
    assert reply.plain().startswith("You own 5 escalations now: E-1, E-2, E-3, E-4, E-5")
    [(handle, text)] = plain(bot.dms())  # dan, who was paged too, is told once
    assert handle == "dan"
    assert text.splitlines()[1].startswith("E-1, E-2, E-3, E-4, E-5 acknowledged by Amira Khan")
    with Session(bot.engine) as session:
        escs = session.exec(select(Escalation)).all()
    assert {(e.state, e.acked_by_id is not None) for e in escs} == {("acknowledged", True)}
    before = count(bot.engine, EscalationEvent, EscalationEvent.kind == "paged")
    bot.advance(minutes=120)
    assert count(bot.engine, EscalationEvent, EscalationEvent.kind == "paged") == before
    assert bot.say("amira", "ack all").plain().startswith("Nothing to acknowledge")


def test_a_safety_page_is_never_held_back_and_joins_the_same_sweep(bot):
    bot.advance(minutes=4 * 60 + 15)  # 12:15
    bot.dms()  # what the morning sent, put aside
    reply = bot.say("ben", "missed C-9X2P safety")
    assert reply.queued  # paged in the same command
    assert [h for h, _ in bot.dms()] == ["amira"]
    # 12:30: the safety reminder and C-7F3K's time-critical escalation fall due in one sweep.
    bot.advance(minutes=15)
    [text] = [text for handle, text in plain(bot.dms()) if handle == "amira"]
    assert text.startswith("carebot: 2 escalations need you, 1 safety concern")
    assert "· C-9X2P · missed: Safety concern · on-call lead (reminder 1)" in text
    assert "· C-7F3K · time-critical, no outcome · on-call lead" in text


def test_an_on_call_lead_who_raises_a_concern_owns_it_and_is_not_paged(bot):
    reply = bot.say("amira", "missed C-9X2P safety")
    assert "You are on call, so you own E-1" in reply.plain()
    assert "being paged" not in reply.plain()
    bot.advance(minutes=60)
    assert bot.dms() == []
    [(team, text)] = plain(bot.posts())
    assert team == "north"
    assert text.splitlines() == [
        "carebot: escalation raised and owned by the on-call lead — North Community Team",
        "E-1 · C-9X2P · missed: Safety concern: raised by Amira Khan at 08:00, who is on call "
        "and owns it."]
    with Session(bot.engine) as session:
        esc = session.get(Escalation, 1)
    assert esc.state == "acknowledged" and esc.next_fire_at is None
    assert "owned by Amira Khan" in bot.say("dan", "escalations").plain()
    # Someone not on call raising the same kind of concern pages as before.
    bot.say("ben", "missed C-7F3K safety")
    assert [h for h, _ in bot.dms()] == ["amira"]


def test_config_reason_flag_and_policy_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[teams]]\nkey = "n"\nname = "N"\n[escalation]\nfinal_repeat_minutes = 30\n'
                    '[[reason_codes]]\ncode = "hospital"\nlabel = "Hospital"\n'
                    '[[reason_codes]]\ncode = "hospice"\nlabel = "Hospice"\naccounts_for_client = true\n'
                    '[[reason_codes]]\ncode = "weather"\nlabel = "Weather"\n')
    config = load_config(path)
    assert [(c.code, c.accounts_for_client) for c in config.reason_codes] == [
        ("hospital", True), ("hospice", True), ("weather", False)]
    policy = config.policy(config.teams[0])
    assert (policy["final_repeat_minutes"], policy["final_repeat_hours"]) == (30, 4)


def test_an_escalation_frozen_before_the_final_repeat_keys_still_pages_with_their_defaults(bot):
    bot.say("ben", "missed C-9X2P safety")  # 08:00, frozen with today's policy
    with Session(bot.engine) as session:  # as a row written before final_repeat_* existed
        session.exec(update(Escalation).values(policy={
            "ack_timeout_minutes": 20, "repeats": 0, "chain": ["oncall"], "legacy": True}))
        session.commit()
    bot.advance(hours=24)
    times = [at.strftime("%H:%M") for _, at, _ in _pages(bot.engine, 1)]
    # (08:15: the timer set before the rewrite) its own chain and 0 repeats, then the
    # default final stage: every 60 min for at most 4 h
    assert times == ["08:00", "08:15", "09:15", "10:15", "11:15"]
