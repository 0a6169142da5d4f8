"""Escalation: unresolved high-risk items page the on-call lead, then the chain, until owned.

State lives in the database (Escalation rows with `next_fire_at`); `sweep` is all the
scheduler runs. Each page is an outbox DM with a unique key, so a page is queued once even
if two sweepers race or the process restarts mid-sweep.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from handlers.base import ROLE_RANK, Context, UserError
from handlers.paging import (DEFAULT_POLICY, event, fire, fire_many, grace_minutes,  # noqa: F401
                            recipients)
from handlers.grammar import record_id
from handlers.registry import command
from messages import escalation as words
from messages.privacy import mask
from messages.reply import Reply
from storage import escalations as store
from storage import repo
from storage.db import session_scope
from storage.models import Escalation, Person, Team

SWEEP_BATCH = 1000  # fired in one transaction; a fuller sweep takes another batch
# Other capabilities' deadlines (medicines, incidents) as (open_overdue(session, teams, now),
# next_deadline(session, team, now) -> datetime | None): the sweep opens what is overdue and
# the simulated clock stops at the next deadline. Registered by those modules on import.
DEADLINE_CHECKS: list[tuple] = []


def open_escalation(session: Session, *, team: Team, subject: str, trigger: str, ref: str,
                    summary: str, now: datetime, opened_by: str, transport: str = "scheduler",
                    reopen: bool = False, chain: list[str] | None = None,
                    raised_by: Person | None = None) -> tuple[Escalation | None, bool]:
    """Open and page at once, unless the subject already has one. Returns (escalation, new).

    A subject escalates once; `reopen` (a fresh safety concern) opens again after a resolution.
    `chain` replaces the team's chain for this one, e.g. ["person:amira", "oncall", "manager"]
    for a medicines round's protected lead first. `raised_by`: when that person is on call for
    the team, they own it at once (the channel is told) instead of being paged about it.
    Inside a sweep (session.info["esc_defer"]) the page waits for the same sweep's firing, so
    it joins the other pages to the same person.
    """
    existing = store.latest_for_subject(session, subject)
    if existing is not None and (existing.state != "resolved" or not reopen):
        return existing, False
    esc = Escalation(team_id=team.id, subject=subject, open_subject=subject, trigger=trigger,
                     ref=ref, summary=summary,
                     policy={**(team.escalation or DEFAULT_POLICY), **({"chain": chain} if chain else {})},
                     opened_at=now, opened_by=opened_by, next_fire_at=now)
    try:
        with session.begin_nested():
            session.add(esc)
    except IntegrityError:  # opened a moment ago by another process
        return store.latest_for_subject(session, subject), False
    event(session, esc, now, "opened", detail={"trigger": trigger, "by": opened_by})
    repo.add_audit(session, at=now, actor=opened_by, transport=transport, action="escalation:open",
                   team=team.key, subject=words.label(esc.id),
                   detail={"subject": subject, "trigger": trigger})
    if raised_by is not None and any(p.id == raised_by.id for p in
                                     store.on_call(session, team_id=team.id, now=now)):
        _owned_by_raiser(session, esc, team, raised_by, now, transport)
    elif not session.info.get("esc_defer"):
        fire(session, esc, now)
    return esc, True


def _owned_by_raiser(session: Session, esc: Escalation, team: Team, person: Person,
                     now: datetime, transport: str) -> None:
    esc.state, esc.acked_by_id, esc.acked_at, esc.next_fire_at = "acknowledged", person.id, now, None
    session.add(esc)
    event(session, esc, now, "acknowledged", person=person, detail={"raised_on_call": True})
    repo.add_audit(session, at=now, actor=person.handle, transport=transport,
                   action="escalation:ack", team=team.key, subject=words.label(esc.id),
                   detail={"raised_on_call": True})
    repo.enqueue(session, key=f"esc:{esc.id}:raised-owned", target=f"team:{team.key}", now=now,
                 payload=words.raised_and_owned(esc.id, team.name, person.name, esc.ref,
                                                esc.summary, now, ZoneInfo(team.zone))
                 .model_dump(mode="json"))


def settle(ctx: Context, subject: str, why: str, *, keep: tuple[str, ...] = ()) -> Escalation | None:
    """The problem behind a live escalation was fixed (the contact got its outcome, the duty
    was recorded, the incident closed): resolve it so the pages stop, and tell who was paged.

    Triggers in `keep` stay open (a safety concern needs a person to resolve it).
    """
    esc = ctx.session.exec(select(Escalation).where(Escalation.open_subject == subject)).first()
    if esc is None or esc.trigger in keep:
        return None
    _close(ctx, esc, f"{why} ({ctx.person.name})", "escalation:settled")
    return esc


def sweep(engine: Engine, now: datetime) -> int:
    """Open what is newly overdue, fire what is due. Safe with several sweepers at once.
    The opening shares the first batch's transaction (one commit less a sweep)."""
    fired, first = 0, True
    while True:
        with session_scope(engine) as session:
            if first:
                _open_overdue(session, now)
                first = False
            due = store.claim_due(session, now=now, limit=SWEEP_BATCH)
            fire_many(session, due, now)
            fired += len(due)
        if len(due) < SWEEP_BATCH:
            return fired


def _open_overdue(session: Session, now: datetime) -> None:
    session.info["esc_defer"] = True  # paged below, with everything else due
    teams = repo.all_teams(session)
    by_grace: dict[int, list[Team]] = {}  # one scan per distinct grace, usually one
    for team in teams:
        by_grace.setdefault(grace_minutes(team), []).append(team)
    for minutes, group in by_grace.items():
        by_id = {t.id: t for t in group}
        for contact, client in store.overdue_time_critical(
                session, team_ids=list(by_id), now=now, grace=timedelta(minutes=minutes)):
            open_escalation(session, team=by_id[contact.team_id],
                            subject=f"contact:{contact.source_id}",
                            trigger="time_critical", ref=client.ref, now=now,
                            summary="time-critical, no outcome", opened_by="scheduler")
    for open_overdue, _ in DEADLINE_CHECKS:
        open_overdue(session, teams, now)


def next_due(engine: Engine, now: datetime) -> datetime | None:
    """The next moment a sweep has work: an escalation timer or a time-critical deadline."""
    with session_scope(engine) as session:
        times = [store.next_due(session)]
        for team in repo.all_teams(session):
            grace = timedelta(minutes=grace_minutes(team))
            times.append(store.next_time_critical(session, team=team, now=now, grace=grace))
            times += [next_deadline(session, team, now) for _, next_deadline in DEADLINE_CHECKS]
    return min((t for t in times if t is not None), default=None)


# ---------------------------------------------------------------- commands


def _load(ctx: Context, text: str, verb: str) -> tuple[Escalation, Team]:
    number = record_id(text, "E-")
    esc = ctx.session.get(Escalation, number) if number else None
    if esc is None:
        raise UserError(words.unknown(text, verb))
    ctx.check_team(esc.team_id)  # whatever the role: only people in the escalation's team
    team = ctx.session.get(Team, esc.team_id)
    if esc.state == "resolved":
        by = ctx.session.get(Person, esc.resolved_by_id)
        raise UserError(words.already_resolved(esc.id, by.name, esc.resolved_at, ZoneInfo(team.zone)))
    if not _in_chain(ctx, esc, team):
        raise UserError(words.not_in_chain(esc.id, team.name))
    return esc, team


def _in_chain(ctx: Context, esc: Escalation, team: Team) -> bool:
    person = ctx.person
    if ROLE_RANK[person.role] >= ROLE_RANK["manager"]:
        return True
    if any(p.id == person.id for _, p in store.pages(ctx.session, escalation_id=esc.id)):
        return True
    return any(p.id == person.id for role in esc.policy["chain"]
               for p in recipients(ctx.session, team, role, ctx.now))


def _tell_paged(ctx: Context, esc: Escalation, reply: Reply, what: str) -> None:
    """Everyone paged so far (but the one acting) hears that it is owned or closed."""
    told = {ctx.person.id}
    for _, person in store.pages(ctx.session, escalation_id=esc.id):
        if person.id not in told:
            told.add(person.id)
            repo.enqueue(ctx.session, key=f"esc:{esc.id}:{what}:{person.handle}",
                         target=f"person:{person.handle}", now=ctx.now,
                         payload=reply.model_dump(mode="json"))


def _acknowledge(ctx: Context, esc: Escalation) -> None:
    esc.state, esc.acked_by_id, esc.acked_at, esc.next_fire_at = (
        "acknowledged", ctx.person.id, ctx.now, None)
    event(ctx.session, esc, ctx.now, "acknowledged", person=ctx.person)


@command("ack", args="id", summary="Own an escalation (or `ack all`): the pages stop",
         example="ack 12")
def ack(ctx: Context, args) -> Reply:
    if args.id.lower() == "all":
        return _ack_all(ctx)
    esc, team = _load(ctx, args.id, "ack")
    zone = ZoneInfo(team.zone)
    if esc.state == "acknowledged":
        owner = ctx.session.get(Person, esc.acked_by_id)
        return words.already_owned(esc.id, owner.name, esc.acked_at, zone)
    _acknowledge(ctx, esc)
    ctx.session.add(esc)
    ctx.audit("escalation:ack", subject=words.label(esc.id))
    _tell_paged(ctx, esc, words.owned(esc.id, team.name, ctx.person.name, ctx.now, zone), "owned")
    return words.acked(esc.id)


def _ack_all(ctx: Context) -> Reply:
    """Own every unacknowledged escalation this person may ack; each other person paged about
    any of them hears once, in one DM listing what they were paged for."""
    # The access rule holds here as for `ack ID`: only escalations of the caller's own teams.
    teams = {t.id: t for t in repo.all_teams(ctx.session, removed=True)}
    mine = [e for e in store.unowned_for(ctx.session, person_id=ctx.person.id,
                                        team_ids=ctx.visible_team_ids)
            if ctx.belongs(e.team_id) and _in_chain(ctx, e, teams[e.team_id])]
    told: dict[int, tuple[Person, list[Escalation]]] = {}
    for esc in mine:
        _acknowledge(ctx, esc)
        ctx.session.add(esc)
        ctx.audit("escalation:ack", subject=words.label(esc.id), all=True)
        for _, person in store.pages(ctx.session, escalation_id=esc.id):
            if person.id != ctx.person.id:
                group = told.setdefault(person.id, (person, []))[1]
                if esc not in group:
                    group.append(esc)
    for person, escs in told.values():
        names = sorted({teams[e.team_id].name for e in escs})
        # Each escalation is owned once, so its first id names this post uniquely.
        repo.enqueue(ctx.session, key=f"esc:{escs[0].id}:owned:{person.handle}",
                     target=f"person:{person.handle}", now=ctx.now,
                     payload=words.owned_all([e.id for e in escs], names, ctx.person.name,
                                             ctx.now, ctx.zone).model_dump(mode="json"))
    return words.acked_all([e.id for e in mine])


@command("resolve", args="id note*", summary="Close an escalation with a note of what was done",
         example="resolve 12 called family, client safe at home")
def resolve(ctx: Context, args) -> Reply:
    esc, _ = _load(ctx, args.id, "resolve")
    if not args.note:
        raise UserError(words.note_needed(esc.id))
    _close(ctx, esc, mask(args.note, today=ctx.today), "escalation:resolve")
    return words.resolved_ok(esc.id)


def _close(ctx: Context, esc: Escalation, note: str, action: str) -> None:
    """Resolve (acknowledging first if nobody had), record it, tell everyone who was paged."""
    if esc.state == "open":
        _acknowledge(ctx, esc)
    esc.state, esc.open_subject, esc.next_fire_at = "resolved", None, None
    esc.resolved_by_id, esc.resolved_at, esc.note = ctx.person.id, ctx.now, note
    ctx.session.add(esc)
    event(ctx.session, esc, ctx.now, "resolved", person=ctx.person, detail={"note": note})
    ctx.audit(action, subject=words.label(esc.id), note=note)
    team = ctx.session.get(Team, esc.team_id)
    _tell_paged(ctx, esc, words.resolved(esc.id, team.name, ctx.person.name, note), "resolved")


@command("escalations", summary="What is escalated now, who holds it, for how long",
         example="escalations")
def escalations(ctx: Context, args) -> Reply:
    names = {t.id: t for t in ctx.visible_teams}
    rows = []
    for esc in store.active(ctx.session, team_ids=list(names)):
        team = names[esc.team_id]
        role = esc.policy["chain"][esc.level]
        owner = ctx.session.get(Person, esc.acked_by_id) if esc.acked_by_id else None
        rows.append({"id": esc.id, "team": team.key, "ref": esc.ref, "summary": esc.summary,
                     "owner": owner.name if owner else None, "role": role,
                     "exhausted": esc.exhausted_at is not None,
                     "holders": [p.name for p in recipients(ctx.session, team, role, ctx.now)],
                     "age": words.age((ctx.now - esc.opened_at).total_seconds())})
    return words.listing(rows, ctx.zone)
