"""The config file into the database: teams, people, memberships and reason codes made to match
it (the config is the truth), one process at a time, and a new config token so every process
reloads its cached copy."""
from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from storage import cache
from storage.db import lock_for_claim
from storage.models import ChatBinding, Invite, Membership, Person, ReasonCode, Team

# The config's default bases (bot/config.py), for a config object that has none.
DEFAULT_ELIGIBILITY_BASES = ["hospital_discharge", "gp_referral", "social_worker",
                             "continuing_care", "self_referral"]


def sync_config(session: Session, config: Any) -> None:
    """Make teams, people and reason codes match the config file (the config is the truth).

    People and codes that left the file are deactivated, not deleted: the log still names them.
    One at a time: two instances starting together would both rewrite the memberships.
    """
    lock_for_claim(session)  # SQLite: the write lock before reading
    if session.connection().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SELECT pg_advisory_xact_lock(15015)")
    teams = {t.key: t for t in session.exec(select(Team))}
    # Chats bound with `bind TEAM` and Telegram ids bound by an invite: used where the file
    # names none (the file wins; without either, a chat or id left out of it is cleared).
    bound = {(b.team_id, b.transport): b.chat_id for b in session.exec(select(ChatBinding))}
    invited = {i.person_id: i.used_by for i in session.exec(
        select(Invite).where(Invite.used_at != None).order_by(Invite.used_at))}  # noqa: E711
    for tc in config.teams:
        team = teams.get(tc.key) or Team(key=tc.key, name=tc.name)
        team.name, team.zone = tc.name, tc.timezone or config.timezone
        chat = bound.get((team.id, "telegram"))
        team.slack_channel = tc.slack_channel or bound.get((team.id, "slack"))
        team.telegram_chat = tc.telegram_chat or (int(chat) if chat else None)
        team.morning_post, team.reconcile = tc.morning_post, tc.reconcile
        team.routes_by = tc.routes_by
        team.monthly_report = getattr(config, "monthly_report", "")
        team.standards = config.team_standards(tc) if hasattr(config, "team_standards") else {}
        team.escalation = config.policy(tc)
        team.weekly_status, team.baseline_missed_pct = tc.weekly_status, tc.baseline_missed_pct
        team.min_contacts_for_rate = getattr(config, "min_contacts_for_rate", 20) \
            if tc.min_contacts_for_rate is None else tc.min_contacts_for_rate
        # A baseline set with `meds baseline N` outlives a restart.
        kept = {k: v for k, v in (team.medicines or {}).items() if k == "baseline_set"}
        team.medicines = {**tc.medicines(), **kept}
        team.active = True
        team.sampling = tc.sampling(getattr(config, "defect_codes", []))
        team.referrals = {
            "bases": list(getattr(config, "eligibility_bases", None) or DEFAULT_ELIGIBILITY_BASES),
            "pending_hours": getattr(config, "referral_pending_hours", 24),
            "sample_pct": getattr(config, "referral_sample_pct", 20)}
        session.add(team)
        teams[tc.key] = team
    listed_teams = {tc.key for tc in config.teams}
    for key, team in teams.items():
        if key not in listed_teams:  # removed from the file: unbound, no jobs; records stay
            team.active = False
            team.slack_channel = team.telegram_chat = None
    session.flush()

    people = {p.handle: p for p in session.exec(select(Person))}
    listed = set()
    for pc in config.people:
        person = people.get(pc.handle) or Person(handle=pc.handle, name=pc.name)
        person.name, person.role, person.oncall, person.active = pc.name, pc.role, pc.oncall, True
        person.slack_user = pc.slack_user
        person.telegram_user = pc.telegram_user or invited.get(person.id)
        person.source = "config"
        person.authoriser = bool(getattr(pc, "authoriser", False))
        session.add(person)
        people[pc.handle] = person
        listed.add(pc.handle)
    for handle, person in people.items():
        if handle not in listed and person.source == "config":  # imported people stay
            person.active = False
            person.slack_user = person.telegram_user = None
    session.flush()

    # Only the config's people's memberships: those of imported people are theirs to keep.
    ours = [p.id for p in people.values() if p.source == "config"]
    for i in range(0, len(ours), 500):
        session.exec(Membership.__table__.delete().where(  # type: ignore[attr-defined]
            Membership.person_id.in_(ours[i:i + 500])))
    for pc in config.people:
        for position, key in enumerate(pc.teams):
            session.add(Membership(person_id=people[pc.handle].id, team_id=teams[key].id,
                                   position=position))

    codes = {c.code: c for c in session.exec(select(ReasonCode))}
    for c in codes.values():
        c.active = False
    for position, rc in enumerate(config.reason_codes):
        code = codes.get(rc.code) or ReasonCode(code=rc.code, label=rc.label)
        code.label, code.side, code.escalates = rc.label, rc.side, rc.escalates
        code.escalates_high_risk, code.needs_note = rc.escalates_high_risk, rc.needs_note
        code.accounts_for_client = bool(rc.accounts_for_client)
        code.aliases = list(rc.aliases)
        code.position, code.active = position, True
        session.add(code)
    cache.move_on(session)  # every process reloads its cached copy of the above
