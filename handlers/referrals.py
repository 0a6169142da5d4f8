"""The front-door gate (CAP "Rebuilding Eligibility and Authorization Discipline"): a referral is
accepted on a recorded eligibility basis, or waits pending authorisation (its client cannot
become a contact: storage/importer.py refuses it) until a manager or a named authoriser decides.
Each morning a reproducible sample of yesterday's accepted referrals goes to a second person to
validate; pending ones past `referral_pending_hours` and unvalidated samples are chased.

`referral add REF source=… [basis=…]` · `referral authorise REF [basis=…]` ·
`referral decline REF REASON` · `referral validate REF ok|wrong [NOTE]` · `referrals`."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError, day_bounds
from handlers.jobs import team_job
from handlers.phone import tidy_ref
from handlers.registry import command
from messages import referrals as words
from messages.reply import Reply
from storage import outbox, repo
from storage import referrals as store
from storage.escalations import with_role
from storage.models import Person, Referral, Team, at_least
from storage.privacy import ref_problem

_REF_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/.")


def may_authorise(person: Person) -> bool:
    return at_least(person, "manager") or bool(person.authoriser)


def may_validate(person: Person) -> bool:
    return at_least(person, "supervisor") or bool(person.authoriser)


def _basis(ctx: Context, team: Team, typed: str | None, example: str) -> str | None:
    if typed is None:
        return None
    basis = typed.strip().lower()
    bases = store.settings(team)["bases"]
    if basis not in bases:
        raise UserError(words.unknown_basis(typed, bases, example))
    return basis


def _find(ctx: Context, ref: str, example: str) -> Referral:
    """A referral by its client ref, on one of the caller's teams (the access rule); not found,
    the refusal's example is `example`, the command typed."""
    found = store.by_ref(ctx.session, tidy_ref(ref).upper())
    if found is None or not ctx.belongs(found.team_id):
        raise UserError(words.not_found(ref, [t.key for t in ctx.visible_teams], example))
    return found


@command("referral add", args="ref", options=("source*", "basis"), min_role="supervisor",
         example=words.EXAMPLE_ADD,
         summary="Record a referral at the front door: with its eligibility basis, or pending "
                 "authorisation")
def add(ctx: Context, args) -> Reply:
    ref = tidy_ref(args.ref).upper()  # a phone's dash or quotes are not part of it
    if len(ref) > 40 or not set(ref) <= _REF_CHARS:
        raise UserError(words.bad_ref(ref, "is not an opaque ref (letters, digits and -)"))
    if (why := ref_problem(ref, ctx.today)):
        raise UserError(words.bad_ref(ref, why))
    source = " ".join((args.source or "").split())
    if not source or len(source) > 80:
        raise UserError(words.bad_source(words.EXAMPLE_ADD))
    basis = _basis(ctx, ctx.team, args.basis, words.EXAMPLE_ADD)
    old = store.by_ref(ctx.session, ref)
    if old is not None:
        team = ctx.session.get(Team, old.team_id)
        if not ctx.belongs(team.id):  # says nothing about another team's referral
            raise UserError(words.bad_ref(ref, "is already in use"))
        raise UserError(words.exists(ref, old.status, team.name))
    row = Referral(ref=ref, team_id=ctx.team.id, source=source, basis=basis,
                   status="authorised" if basis else "pending", received_at=ctx.now,
                   added_by_id=ctx.person.id,
                   authorised_by_id=ctx.person.id if basis else None,
                   authorised_at=ctx.now if basis else None)
    ctx.session.add(row)
    ctx.audit("referral:add", subject=ref, source=source, basis=basis, status=row.status)
    return Reply.text(words.added(ref, ctx.team.name, basis, ctx.person.name,
                                  ctx.now.astimezone(ctx.zone)), ephemeral=True)


@command("referral authorise", args="ref", options=("basis",), min_role="staff",
         example="referral authorise C-8K2W basis=gp_referral",
         summary="Authorise a pending referral on an eligibility basis (managers, authorisers)")
def authorise(ctx: Context, args) -> Reply:
    if not may_authorise(ctx.person):
        raise UserError(words.not_authoriser("authorise"))
    row = _find(ctx, args.ref, "referral authorise C-8K2W basis=gp_referral")
    team = ctx.session.get(Team, row.team_id)
    basis = _basis(ctx, team, args.basis, f"referral authorise {row.ref} basis=gp_referral")
    if row.status != "pending":
        raise UserError(words.already(row.ref, row.status, "authorised"))
    basis = basis or row.basis
    if basis is None:
        raise UserError(words.needs_basis(row.ref, store.settings(team)["bases"]))
    row.basis, row.status = basis, "authorised"
    row.authorised_by_id, row.authorised_at = ctx.person.id, ctx.now
    ctx.session.add(row)
    ctx.audit("referral:authorise", subject=row.ref, team_id=team.id, basis=basis)
    return Reply.text(words.authorised(row.ref, basis, ctx.person.name,
                                       ctx.now.astimezone(ZoneInfo(team.zone))), ephemeral=True)


@command("referral decline", args="ref reason*", min_role="staff",
         example="referral decline C-8K2W out of area",
         summary="Decline a referral with the reason (managers, authorisers)")
def decline(ctx: Context, args) -> Reply:
    if not may_authorise(ctx.person):
        raise UserError(words.not_authoriser("decline"))
    row = _find(ctx, args.ref, "referral decline C-8K2W out of area")
    reason = (args.reason or "").strip()
    if not reason:
        raise UserError(words.need_reason(row.ref))
    if row.status == "declined":
        raise UserError(words.already(row.ref, row.status, "declined"))
    row.status, row.declined_reason = "declined", reason
    row.declined_by_id, row.declined_at = ctx.person.id, ctx.now
    ctx.session.add(row)
    ctx.audit("referral:decline", subject=row.ref, team_id=row.team_id, reason=reason)
    team = ctx.session.get(Team, row.team_id)
    return Reply.text(words.declined(row.ref, ctx.person.name,
                                     ctx.now.astimezone(ZoneInfo(team.zone))), ephemeral=True)


@command("referral validate", args="ref result? note*", min_role="staff",
         example="referral validate C-8K2W ok",
         summary="Second check of an accepted referral's eligibility basis: ok, or wrong NOTE")
def validate(ctx: Context, args) -> Reply:
    if not may_validate(ctx.person):
        raise UserError(words.not_validator())
    row = _find(ctx, args.ref, "referral validate C-8K2W ok")
    result = (args.result or "").strip().lower()
    note = (args.note or "").strip() or None
    if result not in ("ok", "wrong") or (result == "wrong" and not note):
        raise UserError(words.bad_result(row.ref))
    if row.status != "authorised":
        raise UserError(words.not_accepted(row.ref, row.status))
    if row.authorised_by_id == ctx.person.id:
        raise UserError(words.own_decision(row.ref))
    if row.result is not None:
        by = ctx.session.get(Person, row.validated_by_id)
        raise UserError(words.already_validated(row.ref, row.result, by.name if by else "?"))
    row.result, row.note = result, note
    row.validated_by_id, row.validated_at = ctx.person.id, ctx.now
    ctx.session.add(row)
    ctx.audit("referral:validate", subject=row.ref, team_id=row.team_id, result=result,
              sampled=row.sampled)
    if result == "wrong":
        _tell_wrong(ctx, row)
    return Reply.text(words.validated(row.ref, result, ctx.person.name), ephemeral=True)


def _tell_wrong(ctx: Context, row: Referral) -> None:
    """A basis judged wrong: the person who accepted it and the team's managers hear, by DM,
    once each (not the validator, who has the reply)."""
    team = ctx.session.get(Team, row.team_id)
    told = {p.handle: p for p in with_role(ctx.session, team_id=team.id, role="manager")}
    accepter = ctx.session.get(Person, row.authorised_by_id) if row.authorised_by_id else None
    if accepter is not None and accepter.active:
        told[accepter.handle] = accepter
    told.pop(ctx.person.handle, None)
    reply = words.wrong_basis(team.name, row.ref, row.basis, ctx.person.name,
                              ctx.now.astimezone(ZoneInfo(team.zone)), row.note)
    for handle in sorted(told):
        ctx.notify(told[handle], outbox.REFERRAL_WRONG.key(referral=row.id, handle=handle), reply)


def _list(ctx: Context, args) -> Reply:
    rows = store.pending(ctx.session, team_ids=[ctx.team.id])
    return words.pending_list(ctx.team.name, [(r.ref, r.source, r.received_at) for r in rows],
                              ctx.now, decides=may_authorise(ctx.person))


command("referrals", min_role="staff", example="referrals",
        summary="The team's referrals pending authorisation")(_list)
command("referral", min_role="staff", example="referral",
        summary="The team's referrals pending authorisation (same as referrals)")(_list)


# ---------------------------------------------------------------- scheduled work


def remind_pending(session: Session, teams: list[Team], now: datetime) -> None:
    """The sweep's deadline source (handlers/sweep.py, like an incident's missing review):
    a referral pending longer than the team's `referral_pending_hours` — each of the team's
    managers and authorisers hears once (the row's reminded_at and the outbox key say so)."""
    hours = {t.id: store.settings(t)["pending_hours"] for t in teams}
    if not hours:
        return
    by_id = {t.id: t for t in teams}
    people: dict[int, list[Person]] = {}
    for row in store.unreminded(session, team_ids=list(hours),
                                before=now - timedelta(hours=min(hours.values()))):
        if row.received_at > now - timedelta(hours=hours[row.team_id]):
            continue  # this team waits longer
        team = by_id[row.team_id]
        if team.id not in people:
            people[team.id] = store.authorisers(session, team_id=team.id) or \
                with_role(session, team_id=team.id, role="nominated")
        for person in people[team.id]:
            key = outbox.REFERRAL_PENDING.key(referral=row.id, handle=person.handle)
            outbox.notify(session, person.handle, key,
                          words.pending_reminder(team.name, row.ref, hours[team.id]), now=now)
        row.reminded_at = now
        session.add(row)


def next_pending_deadline(session: Session, team: Team, now: datetime) -> datetime | None:
    """When the team's next pending referral passes its hours (the console's clock stops)."""
    wait = timedelta(hours=store.settings(team)["pending_hours"])
    first = store.first_unreminded_after(session, team_id=team.id, after=now - wait)
    return first + wait if first is not None else None


def sample_size(accepted: int, pct: int) -> int:
    """pct % of the day's accepted referrals, rounded up: at least 1 when there are any."""
    return min(accepted, max(1, math.ceil(accepted * pct / 100))) if accepted else 0


def pick(team: Team, day, rows: list[Referral], pct: int) -> list[Referral]:
    """The sample, the same on every run for the team and day (seeded by both)."""
    ordered = sorted(rows, key=lambda r: r.id)
    return sorted(random.Random(f"{team.key}:{day.isoformat()}")
                  .sample(ordered, sample_size(len(ordered), pct)), key=lambda r: r.id)


@team_job("referrals", times=lambda team: [team.morning_post])
def morning(session: Session, team: Team, now: datetime) -> bool:
    """The team's morning at the front door: today's validation sample, and the chase of the
    samples not validated in time."""
    posted = sample(session, team, now)
    return chase(session, team, now) or posted


def sample(session: Session, team: Team, now: datetime) -> bool:
    """Mark today's sample of yesterday's accepted referrals and post it to the team."""
    zone = ZoneInfo(team.zone)
    today = now.astimezone(zone).date()
    chosen = store.sampled_on(session, team_id=team.id, day=today)
    start, end = day_bounds(today - timedelta(days=1), zone)
    accepted = store.authorised_between(session, team_id=team.id, start=start, end=end)
    if not chosen:
        chosen = pick(team, today, accepted, store.settings(team)["sample_pct"])
        for row in chosen:
            row.sampled, row.sample_day = True, today
            session.add(row)
    if not chosen:
        return False
    people = repo.people_by_id(session, [r.authorised_by_id for r in chosen if r.authorised_by_id])
    refs = [(r.ref, r.basis or "?", people[r.authorised_by_id].name
             if r.authorised_by_id in people else "import") for r in chosen]
    key = outbox.REFERRAL_SAMPLE.key(team=team.key, day=today)
    return outbox.post_to_team(session, team.key, key,
                               words.sample_post(team.name, today - timedelta(days=1),
                                                 len(accepted), refs), now=now)


def chase(session: Session, team: Team, now: datetime) -> bool:
    """Sampled referrals not validated by the end of their sample day: the validators hear;
    a day later, the managers too."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    late = store.unvalidated(session, team_id=team.id, before=today)
    if not late:
        return False
    people = {p.handle: p for p in store.validators(session, team_id=team.id)}
    if any((today - r.sample_day).days >= 2 for r in late):
        people.update((p.handle, p) for p in with_role(session, team_id=team.id, role="manager"))
    reply = words.chase(team.name, [(r.ref, r.sample_day) for r in late])
    queued = False
    for handle in sorted(people):
        key = outbox.REFERRAL_CHASE.key(team=team.key, day=today, handle=handle)
        queued |= outbox.notify(session, handle, key, reply, now=now)
    return queued
