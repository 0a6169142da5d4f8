"""Incidents' learning clock: a same-day management review, and review + action + learning
point within 7 days. Close is refused until all three exist; an incident past its 7 days
escalates to the registered manager (then the nominated individual); reopen restarts the
clock and asks for a new action (practice has not changed)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.registry import command
from messages import incidents as words
from messages.privacy import ref_problem
from messages.reply import Reply
from storage import learning as store
from storage import outbox
from storage.models import RISKS, Incident, Team

CATEGORIES = ["safeguarding", "falls", "medication", "other"]  # priority order
CLOCK = timedelta(days=7)
_REF = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")


def find_incident(ctx: Context, ref: str) -> Incident:
    inc = store.incident_by_ref(ctx.session, ref=ref)
    if inc is None or inc.team_id not in ctx.visible_team_ids:
        raise UserError(words.unknown(ref))
    return inc


def missing(session: Session, inc: Incident) -> list[str]:
    out = [] if inc.review else ["review"]
    out += [] if inc.action else ["action"]
    return out + ([] if store.has_learning(session, incident_id=inc.id) else ["learning"])


def _post(ctx: Context, inc: Incident, key: str, reply: Reply) -> None:
    ctx.post_to_team(outbox.INCIDENT.key(ref=inc.ref, what=key, reopened=inc.reopened), reply,
                     team=ctx.session.get(Team, inc.team_id))


@command("incident open", args="ref category?", options=("risk",), min_role="supervisor",
         summary="Open an incident and start its same-day and 7-day learning clocks",
         example=words.EXAMPLE_OPEN)
def incident_open(ctx: Context, args) -> Reply:
    ref = args.ref.upper()
    if why := ref_problem(ref, ctx.today):  # before bad_ref, which would echo it
        raise UserError(words.personal_ref(why))
    if not _REF.match(ref):
        raise UserError(words.bad_ref(args.ref))
    category = (args.category or "").lower()
    if category not in CATEGORIES:
        raise UserError(words.bad_category(args.category, CATEGORIES))
    risk = (args.risk or "medium").lower()
    if risk not in RISKS:
        raise UserError(words.bad_risk(args.risk))
    existing = store.incident_by_ref(ctx.session, ref=ref)
    if existing is not None and not ctx.belongs(existing.team_id):
        raise UserError(words.ref_taken(ref))  # another team's: say nothing about it
    if existing is not None:
        raise UserError(words.exists(ref, existing.state))
    _, end_of_day = day_bounds(ctx.today, ctx.zone)
    inc = Incident(ref=ref, team_id=ctx.team.id, category=category, risk=risk, opened_at=ctx.now,
                   opened_by_id=ctx.person.id, review_due_at=end_of_day - timedelta(minutes=1),
                   due_at=ctx.now + CLOCK)
    ctx.session.add(inc)
    ctx.session.flush()
    ctx.audit("incident:open", subject=ref, category=category, risk=risk)
    _post(ctx, inc, "open", words.opened(ctx.team.name, ref, category, risk, inc.review_due_at,
                                         inc.due_at, ctx.zone))
    return words.opened_reply(ref, inc.due_at, ctx.zone)


def _record(ctx: Context, args, field: str) -> Reply:
    inc = find_incident(ctx, args.ref)
    if inc.state == "closed":
        return words.already_closed(inc.ref)
    text = (args.text or "").strip()
    if not text:
        raise UserError(words.needs_text(field, inc.ref))
    previous = getattr(inc, field)
    setattr(inc, field, text)
    setattr(inc, "reviewed_at" if field == "review" else "action_at", ctx.now)
    ctx.session.add(inc)
    ctx.audit(f"incident:{field}", subject=inc.ref, team_id=inc.team_id, text=text,
              previous=previous)
    return words.recorded(inc.ref, field, missing(ctx.session, inc))


@command("incident review", args="ref text*", min_role="supervisor",
         summary="Record the management review of an incident",
         example="incident review INC-31 family informed, no notification needed")
def incident_review(ctx: Context, args) -> Reply:
    return _record(ctx, args, "review")


@command("incident action", args="ref text*", min_role="supervisor",
         summary="Record the action agreed for an incident",
         example="incident action INC-31 bed rail checks added to transfer checklist")
def incident_action(ctx: Context, args) -> Reply:
    return _record(ctx, args, "action")


@command("incident close", args="ref", min_role="manager",
         summary="Close an incident once review, action and learning point exist",
         example="incident close INC-31")
def incident_close(ctx: Context, args) -> Reply:
    inc = find_incident(ctx, args.ref)
    if inc.state == "closed":
        return words.already_closed(inc.ref)
    gaps = missing(ctx.session, inc)
    if gaps:
        raise UserError(words.close_refused(inc.ref, gaps))
    inc.state, inc.closed_at = "closed", ctx.now
    ctx.session.add(inc)
    in_time = ctx.now <= inc.due_at
    ctx.audit("incident:close", subject=inc.ref, team_id=inc.team_id, within_7_days=in_time)
    escalation.settle(ctx, f"incident:{inc.ref}:{inc.reopened}", "incident closed")
    reply = words.closed(ctx.session.get(Team, inc.team_id).name, inc.ref, in_time)
    _post(ctx, inc, "closed", reply)
    return reply


@command("incident reopen", args="ref reason*", min_role="manager",
         summary="Reopen an incident where practice has not changed",
         example="incident reopen INC-31 falls repeated; practice has not changed")
def incident_reopen(ctx: Context, args) -> Reply:
    inc = find_incident(ctx, args.ref)
    if inc.state != "closed":
        raise UserError(words.not_closed(inc.ref))
    reason = (args.reason or "").strip()
    if not reason:
        raise UserError(words.needs_text("reopen", inc.ref))
    inc.state, inc.closed_at, inc.reopened = "open", None, inc.reopened + 1
    inc.action, inc.action_at, inc.due_at = None, None, ctx.now + CLOCK  # a new action is due
    ctx.session.add(inc)
    ctx.audit("incident:reopen", subject=inc.ref, team_id=inc.team_id, reason=reason,
              times=inc.reopened)
    team = ctx.session.get(Team, inc.team_id)
    reply = words.opened(team.name, inc.ref, inc.category, inc.risk, inc.review_due_at,
                         inc.due_at, ZoneInfo(team.zone), reopened_because=reason)
    _post(ctx, inc, "reopen", reply)
    return reply


@command("incident list", summary="Open incidents, highest priority first", example="incident list")
def incident_list(ctx: Context, args) -> Reply:
    rows = store.incidents(ctx.session, team_ids=[ctx.team.id])
    rows.sort(key=lambda i: (CATEGORIES.index(i.category) if i.category in CATEGORIES else 99,
                             RISKS.index(i.risk) if i.risk in RISKS else 9, i.due_at))
    return words.listing(ctx.team.name, [(i, missing(ctx.session, i)) for i in rows],
                         ctx.zone, ctx.now)


def escalate_overdue(session: Session, teams: list[Team], now: datetime) -> None:
    """No review by the end of the day: one DM to the team's managers. Past 7 days without
    closure: an escalation to the registered manager, then the nominated individual.
    One query each for all teams (the sweep runs this each minute)."""
    by_id = {t.id: t for t in teams}
    managers: dict[int, list] = {}  # looked up only for a team with a review missing
    for inc in store.review_overdue(session, team_ids=list(by_id), now=now):
        team = by_id[inc.team_id]
        if team.id not in managers:
            managers[team.id] = escalation.recipients(session, team, "manager", now)
        for person in managers[team.id]:
            key = outbox.INCIDENT_REVIEW.key(ref=inc.ref, reopened=inc.reopened,
                                             handle=person.handle)
            outbox.notify(session, person.handle, key,
                          words.review_missing(team.name, inc.ref, inc.category), now=now)
    for inc in store.overdue_incidents(session, team_ids=list(by_id), now=now):
        escalation.open_escalation(
            session, team=by_id[inc.team_id], subject=f"incident:{inc.ref}:{inc.reopened}",
            trigger="incident_overdue", ref=inc.ref, now=now, opened_by="scheduler",
            summary=f"{inc.category}: needs {', '.join(missing(session, inc))}",
            chain=["manager", "nominated"])


def next_deadline(session: Session, team: Team, now: datetime) -> datetime | None:
    times = [store.next_incident_due(session, team_id=team.id, now=now),
             store.next_review_due(session, team_id=team.id, now=now)]
    return min((t for t in times if t is not None), default=None)

