"""The config file into the database: teams, people, memberships and reason codes made to match
it (the config is the truth), one process at a time, and a new config token so every process
reloads its cached copy."""
from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, select

from storage import cache
from storage.db import lock_for_claim
from storage.models import ConfigState, Membership, Person, ReasonCode, Team

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
    for tc in config.teams:
        team = teams.get(tc.key) or Team(key=tc.key, name=tc.name)
        team.name, team.zone = tc.name, tc.timezone or config.timezone
        team.slack_channel, team.telegram_chat = tc.slack_channel, tc.telegram_chat
        team.morning_post, team.reconcile = tc.morning_post, tc.reconcile
        team.routes_by = tc.routes_by
        team.escalation = config.policy(tc)
        team.weekly_status, team.baseline_missed_pct = tc.weekly_status, tc.baseline_missed_pct
        team.min_contacts_for_rate = getattr(config, "min_contacts_for_rate", 20) \
            if tc.min_contacts_for_rate is None else tc.min_contacts_for_rate
        # A baseline set with `meds baseline N` outlives a restart.
        kept = {k: v for k, v in (team.medicines or {}).items() if k == "baseline_set"}
        team.medicines = {**tc.medicines(), **kept}
        team.active = True
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
        person.slack_user, person.telegram_user = pc.slack_user, pc.telegram_user
        person.authoriser = bool(getattr(pc, "authoriser", False))
        session.add(person)
        people[pc.handle] = person
        listed.add(pc.handle)
    for handle, person in people.items():
        if handle not in listed:
            person.active = False
            person.slack_user = person.telegram_user = None
    session.flush()

    session.exec(Membership.__table__.delete())  # type: ignore[attr-defined]
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
    # A new token: every process reloads its cached copy of the above (storage/cache.py).
    state = session.get(ConfigState, 1) or ConfigState(id=1, token="")
    state.token = uuid.uuid4().hex
    session.add(state)
    session.flush()
    session.info.pop(cache.TOKEN, None)
