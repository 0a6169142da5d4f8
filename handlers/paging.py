"""Paging: who a level pages, the bounded policy, and one DM per person per unit of work.

The chain once with its repeats, then the last level every final_repeat_minutes for at most
final_repeat_hours; then the escalation stays open, announced once as unowned, with no timer.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlmodel import Session

from messages import escalation as words
from storage import escalations as store
from storage import outbox, repo
from storage.models import Escalation, EscalationEvent, Person, Team


class EscalationPolicy(BaseModel):
    """The escalation policy and its defaults, the one source: the config's [escalation]
    (bot/config extends this), a team's policy and the copy frozen on each escalation (JSON;
    a key added since a row was frozen takes its default here, unknown keys are ignored)."""

    ack_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    repeats: int = Field(default=2, ge=0, le=5)  # repeats per level after the first page
    # Levels: "oncall", a role, or "person:HANDLE" (a medicines round's lead).
    chain: list[str] = Field(default_factory=lambda: ["oncall", "manager", "nominated"],
                             min_length=1)
    # A time-critical high-risk contact with no outcome this long after its window escalates.
    time_critical_grace_minutes: int = Field(default=30, ge=0, le=24 * 60)
    # After the chain once with its repeats, the last level is paged this often, for at most
    # this long; then the escalation stays open, announced as unowned, and paging stops.
    final_repeat_minutes: int = Field(default=60, ge=1, le=24 * 60)
    final_repeat_hours: int = Field(default=4, ge=0, le=72)

    def final_pages(self) -> int:
        """How many pages the last level gets after its repeats: every final_repeat_minutes
        for at most final_repeat_hours."""
        return self.final_repeat_hours * 60 // self.final_repeat_minutes


def team_policy(team: Team) -> EscalationPolicy:
    """The team's policy as synced from the config (defaults for anything missing)."""
    return EscalationPolicy.model_validate(team.escalation or {})


def policy_of(esc: Escalation) -> EscalationPolicy:
    """The policy frozen on the escalation when it opened."""
    return EscalationPolicy.model_validate(esc.policy or {})


def recipients(session: Session, team: Team, role: str, now: datetime) -> list[Person]:
    """Who a chain level pages: "oncall", a role ("manager", "nominated"), or "person:HANDLE"."""
    if role == "oncall":
        return store.on_call(session, team_id=team.id, now=now)
    if role.startswith("person:"):
        person = repo.person_by_handle(session, role.removeprefix("person:"))
        return [person] if person and person.active else []
    return store.with_role(session, team_id=team.id, role=role)


def fire(session: Session, esc: Escalation, now: datetime) -> None:
    fire_many(session, [esc], now)


def grace_minutes(team: Team) -> int:
    """How long after its window a time-critical high-risk contact waits before it escalates."""
    return team_policy(team).time_critical_grace_minutes


def fire_many(session: Session, escs: list, now: datetime) -> None:
    """Page each one's current level (or the next once its repeats are used up); set timers.

    The chain once with its repeats, then the last level every final_repeat_minutes for at
    most final_repeat_hours; after that the escalation stays open, announced as unowned, with
    no timer. Everything for one person in one unit of work goes out as one DM.
    Built for a sweep of hundreds: who holds each role is looked up once per team, the page
    history in one query, and the pages and events are inserted in bulk. `escs` are
    Escalation objects or rows from store.claim_due (each distinct policy decoded once).
    """
    # Keyed by the team's id and holding (handle, id) as plain values: 1,500 ORM attribute
    # reads a 500-row sweep were a tenth of its Python time.
    holders: dict[tuple[int, str], list[tuple[str, int]]] = {}

    def people(team_id: int, role: str) -> list[tuple[str, int]]:
        found = holders.get((team_id, role))
        if found is None:
            with session.no_autoflush:  # people only: the timers set so far go in one UPDATE
                found = [(person.handle, person.id)
                         for person in recipients(session, teams[team_id], role, now)]
            holders[team_id, role] = found
        return found

    policies: dict[str | None, EscalationPolicy] = {}

    def policy(esc) -> EscalationPolicy:
        if isinstance(esc, Escalation):
            return policy_of(esc)
        if esc.policy_json not in policies:
            policies[esc.policy_json] = EscalationPolicy.model_validate(
                json.loads(esc.policy_json or "null") or {})
        return policies[esc.policy_json]

    def loaded(esc) -> Escalation:
        """The ORM object, for the rare paths (nobody to page, policy used up)."""
        if isinstance(esc, Escalation):
            return esc
        with session.no_autoflush:
            return session.get(Escalation, esc.id)

    teams: dict[int, Team] = {}
    names: dict[int, tuple[str, str]] = {}  # team id -> (name, zone)
    history = store.paged_before(session, escalation_ids=[e.id for e in escs])
    due: dict[str, list[dict]] = {}  # handle -> the pages for them, in order
    events, timers = [], []
    for esc in escs:
        # Plain locals, written back once (one UPDATE for all): attribute traffic on hundreds
        # of ORM rows was most of a sweep's Python time.
        esc_id, team_id, level, pages = esc.id, esc.team_id, esc.level, esc.pages_at_level
        if team_id not in teams:
            teams[team_id] = session.get(Team, team_id)
            names[team_id] = (teams[team_id].name, teams[team_id].zone)
        rules, team = policy(esc), teams[team_id]
        chain, last, repeats = rules.chain, len(rules.chain) - 1, rules.repeats
        finals = rules.final_pages()
        if pages > repeats and level < last:
            level, pages = level + 1, 0
        while not people(team_id, chain[level]) and level < last:  # nobody: go up at once
            obj = loaded(esc)
            obj.level, obj.pages_at_level = level, pages  # what _nobody records
            _nobody(session, obj, team, now, chain[level], chain[level + 1])
            level, pages = level + 1, 0
        if level == last and pages > repeats + finals:
            obj = loaded(esc)
            obj.level, obj.pages_at_level = level, pages
            _exhausted(session, obj, team, now, len(history.get(esc_id, [])))
            continue
        role = chain[level]
        if not people(team_id, role):
            obj = loaded(esc)
            obj.level, obj.pages_at_level = level, pages
            _nobody(session, obj, team, now, role, None)
        before, (team_name, zone) = history.get(esc_id, []), names[team_id]
        for handle, person_id in people(team_id, role):
            items = due.setdefault(handle, [])
            # Unique per escalation, level, page and person: the row lock held on the
            # escalation while its counter moves means no two sweeps can build the same key.
            # Only a person's first page names their DM (_send_pages), so only it gets one.
            items.append({
                "key": None if items else outbox.PAGE.key(esc=esc_id, level=level, page=pages,
                                                          handle=handle),
                "id": esc_id, "trigger": esc.trigger, "team": team_name, "ref": esc.ref,
                "summary": esc.summary, "role": role, "repeat": pages,
                "before": before, "zone": zone})
            events.append((esc_id, level, person_id, role, pages))
        final_stage = level == last and repeats <= pages < repeats + finals
        timers.append((esc, level, pages + 1,
                       now + timedelta(minutes=rules.final_repeat_minutes if final_stage
                                       else rules.ack_timeout_minutes)))
    store.save_firing(session, timers=timers, at=now, pages=events)
    _send_pages(session, due, now)


def _send_pages(session: Session, due: dict[str, list[dict]], now: datetime) -> None:
    """One DM per person per unit of work: a second firing in the same command or sweep
    batch rewrites that person's pending DM to list everything (its key stays the first
    page's key, unique per logical post); nothing waits for a later sweep."""
    sent: dict[str, tuple[str, list[dict]]] = session.info.setdefault("esc_dms", {})
    new = []
    for handle, items in due.items():
        key, earlier = sent.get(handle, (items[0]["key"], []))
        items = earlier + items
        sent[handle] = (key, items)
        first = items[0]
        zone = ZoneInfo(first["zone"])
        reply = (words.page(first["id"], first["trigger"], first["team"], first["ref"],
                            first["summary"], first["role"], first["repeat"], first["before"], zone)
                 if len(items) == 1 else words.group_page(items, zone))
        if earlier:
            outbox.refresh_post(session, key=key, now=now, payload=reply)
        else:
            new.append(outbox.outbox_row(key=key, target=outbox.Address.person(handle),
                                         payload=reply, now=now))
    outbox.enqueue_many(session, new)


def _exhausted(session: Session, esc: Escalation, team: Team, now: datetime, pages: int) -> None:
    """The whole policy was used up: stop the timer, keep it open, tell the channel and the
    team's managers once (keys per escalation: it is exhausted only once)."""
    esc.next_fire_at, esc.exhausted_at = None, now
    session.add(esc)
    event(session, esc, now, "unowned", detail={"pages": pages})
    reply = words.unowned(esc.id, team.name, esc.ref, esc.summary, pages, esc.opened_at,
                          ZoneInfo(team.zone))
    outbox.post_to_team(session, team.key, outbox.UNOWNED.key(esc=esc.id), reply, now=now)
    for person in store.with_role(session, team_id=team.id, role="manager"):
        key = outbox.UNOWNED_DM.key(esc=esc.id, handle=person.handle)
        outbox.notify(session, person.handle, key, reply, now=now)


def _nobody(session: Session, esc: Escalation, team: Team, now: datetime, role: str,
            next_role: str | None) -> None:
    event(session, esc, now, "nobody_at_level", detail={"role": role})
    key = outbox.NOBODY.key(esc=esc.id, level=esc.level, page=esc.pages_at_level)
    outbox.post_to_team(session, team.key, key,
                        words.nobody_at_level(esc.id, team.name, role, next_role), now=now)


def event(session: Session, esc: Escalation, now: datetime, kind: str, *,
           person: Person | None = None, detail: dict | None = None) -> None:
    session.add(EscalationEvent(escalation_id=esc.id, at=now, kind=kind, level=esc.level,
                                person_id=person.id if person else None, detail=detail or {}))
