"""Escalation: unresolved high-risk items page the on-call lead, then the chain, until owned.

State lives in the database (Escalation rows with `next_fire_at`); handlers/sweep is all the
scheduler runs. Each page is an outbox DM with a unique key, so a page is queued once even
if two sweepers race or the process restarts mid-sweep.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from handlers.base import Context, UserError
from handlers.paging import (event, fire, grace_minutes, policy_of,  # noqa: F401
                            recipients, team_policy)
from handlers.grammar import record_id
from handlers.registry import command
from messages import escalation as words
from messages.reply import Reply
from storage import escalations as store
from storage import outbox, repo
from storage.models import Escalation, Person, Team, at_least


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
    policy = team_policy(team).model_copy(update={"chain": chain} if chain else {})
    esc = Escalation(team_id=team.id, subject=subject, open_subject=subject, trigger=trigger,
                     ref=ref, summary=summary, policy=policy.model_dump(mode="json"),
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
    outbox.post_to_team(session, team.key, outbox.RAISED_OWNED.key(esc=esc.id),
                        words.raised_and_owned(esc.id, team.name, person.name, esc.ref,
                                               esc.summary, now, ZoneInfo(team.zone)), now=now)


LOOK_UP = object()  # settle's `live` when the caller has not read the subject's escalation


def settle(ctx: Context, subject: str, why: str, *, keep: tuple[str, ...] = (),
           live: Escalation | None | object = LOOK_UP) -> Escalation | None:
    """The problem behind a live escalation was fixed (the contact got its outcome, the duty
    was recorded, the incident closed): resolve it so the pages stop, and tell who was paged.

    Triggers in `keep` stay open (a safety concern needs a person to resolve it). `live`: the
    subject's live escalation (or None) as the caller read it in this unit of work.
    """
    esc = store.open_for_subject(ctx.session, subject) if live is LOOK_UP else live
    if esc is None or esc.trigger in keep:
        return None
    _close(ctx, esc, f"{why} ({ctx.person.name})", "escalation:settled")
    return esc


def open_time_critical(session: Session, teams: list[Team], now: datetime) -> None:
    """A deadline source (handlers/sweep): time-critical high-risk contacts with no outcome
    their grace after the window open an escalation. One scan per distinct grace, usually one."""
    by_grace: dict[int, list[Team]] = {}
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


def next_time_critical(session: Session, team: Team, now: datetime) -> datetime | None:
    grace = timedelta(minutes=grace_minutes(team))
    return store.next_time_critical(session, team=team, now=now, grace=grace)


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
    if at_least(person, "manager"):
        return True
    if any(p.id == person.id for _, p in store.pages(ctx.session, escalation_id=esc.id)):
        return True
    return any(p.id == person.id for role in policy_of(esc).chain
               for p in recipients(ctx.session, team, role, ctx.now))


def _tell_paged(ctx: Context, esc: Escalation, reply: Reply, what: str) -> None:
    """Everyone paged so far (but the one acting) hears that it is owned or closed."""
    told = {ctx.person.id}
    for _, person in store.pages(ctx.session, escalation_id=esc.id):
        if person.id not in told:
            told.add(person.id)
            ctx.notify(person, outbox.TOLD.key(esc=esc.id, what=what, handle=person.handle), reply)


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
    ctx.audit("escalation:ack", subject=words.label(esc.id), team_id=esc.team_id)
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
        ctx.audit("escalation:ack", subject=words.label(esc.id), team_id=esc.team_id, all=True)
        for _, person in store.pages(ctx.session, escalation_id=esc.id):
            if person.id != ctx.person.id:
                group = told.setdefault(person.id, (person, []))[1]
                if esc not in group:
                    group.append(esc)
    for person, escs in told.values():
        names = sorted({teams[e.team_id].name for e in escs})
        # Each escalation is owned once, so its first id names this post uniquely.
        ctx.notify(person, outbox.TOLD.key(esc=escs[0].id, what="owned", handle=person.handle),
                   words.owned_all([e.id for e in escs], names, ctx.person.name, ctx.now,
                                   ctx.zone))
    return words.acked_all([e.id for e in mine])


@command("resolve", args="id note*", summary="Close an escalation with a note of what was done",
         example="resolve 12 called family, client safe at home")
def resolve(ctx: Context, args) -> Reply:
    esc, _ = _load(ctx, args.id, "resolve")
    if not args.note:
        raise UserError(words.note_needed(esc.id))
    _close(ctx, esc, args.note, "escalation:resolve")
    return words.resolved_ok(esc.id)


def _close(ctx: Context, esc: Escalation, note: str, action: str) -> None:
    """Resolve (acknowledging first if nobody had), record it, tell everyone who was paged."""
    if esc.state == "open":
        _acknowledge(ctx, esc)
    esc.state, esc.open_subject, esc.next_fire_at = "resolved", None, None
    esc.resolved_by_id, esc.resolved_at, esc.note = ctx.person.id, ctx.now, note
    ctx.session.add(esc)
    event(ctx.session, esc, ctx.now, "resolved", person=ctx.person, detail={"note": note})
    ctx.audit(action, subject=words.label(esc.id), team_id=esc.team_id, note=note)
    team = ctx.session.get(Team, esc.team_id)
    _tell_paged(ctx, esc, words.resolved(esc.id, team.name, ctx.person.name, note), "resolved")


@command("escalations", summary="What is escalated now, who holds it, for how long",
         example="escalations")
def escalations(ctx: Context, args) -> Reply:
    names = {t.id: t for t in ctx.visible_teams}
    rows = []
    for esc in store.active(ctx.session, team_ids=list(names)):
        team = names[esc.team_id]
        role = policy_of(esc).chain[esc.level]
        owner = ctx.session.get(Person, esc.acked_by_id) if esc.acked_by_id else None
        rows.append({"id": esc.id, "team": team.key, "ref": esc.ref, "summary": esc.summary,
                     "owner": owner.name if owner else None, "role": role,
                     "exhausted": esc.exhausted_at is not None,
                     "holders": [p.name for p in recipients(ctx.session, team, role, ctx.now)],
                     "age": words.age((ctx.now - esc.opened_at).total_seconds())})
    return words.listing(rows, ctx.zone)
