"""The action tracker (CAP / CQC improvement plan): one accountable owner per action, a
deadline, a review cadence from the risk category, evidence, a derived RAG, and closure only
with evidence and a four-part summary. Every change keeps a version."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError
from handlers.dates import parse_day
from handlers.grammar import record_id, unquote
from handlers.jobs import team_job
from handlers.registry import command
from messages import actions as words
from messages.reply import Reply
from storage import actions as store
from storage import outbox, repo
from storage.models import (ACTION_RISKS, CLOSURE_FIELDS, EVIDENCE_KINDS, Action, ActionEvidence,
                            Person, PlanRequest, Team, at_least)
from storage.privacy import mask_stored

CQC_DAYS = 28  # a CQC action plan is due 28 days after the request
def find_action(ctx: Context, text: str) -> Action:
    number = record_id(text, "A-")
    action = ctx.session.get(Action, number) if number else None
    if action is None or action.team_id not in ctx.visible_team_ids:
        raise UserError(words.unknown(text, store.open_ids(ctx.session,
                                                           team_ids=ctx.visible_team_ids)))
    return action


def find_owner(ctx: Context, text: str | None, option: str = "owner") -> Person:
    """`option`: the option typed (owner, control_owner), for the refusal's example."""
    if not text:
        raise UserError(words.needs_owner())
    person = ctx.person_named(text)
    if person is None or not person.active:
        raise UserError(words.unknown_owner(text, option))
    if not {t.id for t in repo.teams_of(ctx.session, person)} & set(ctx.visible_team_ids):
        raise UserError(words.owner_elsewhere(person.name, option))  # another team's plan
    return person


def _risk(text: str | None) -> str:
    risk = (text or "other").lower()
    if risk not in ACTION_RISKS:
        raise UserError(words.bad_risk(text, list(ACTION_RISKS)))
    return risk


def parse_deadline(ctx: Context, text: str | None):
    return parse_day(text, now=ctx.now, zone=ctx.zone, future=True, what="deadline",
                     example='due="in 6 weeks" or due="31 Jan 2027"')


def record_version(ctx: Context, action: Action, change: str) -> None:
    owner = ctx.session.get(Person, action.owner_id)
    store.add_version(ctx.session, action, at=ctx.now, by_id=ctx.person.id, change=change,
                      owner=owner.handle)
    ctx.audit(f"action:{change.split(':')[0].split(' ')[0]}", subject=words.label(action.id),
              team_id=action.team_id,
              change=change, version=action.version)


def may_update(ctx: Context, action: Action) -> None:
    if action.owner_id != ctx.person.id and not at_least(ctx.person, "supervisor"):
        raise UserError(words.not_owner(action.id, ctx.session.get(Person, action.owner_id).name))
    if action.state == "closed":
        raise UserError(words.already_closed(action.id))


def _tell_owner(ctx: Context, action: Action, owner: Person) -> None:
    if owner.id != ctx.person.id:
        team = ctx.session.get(Team, action.team_id)
        ctx.notify(owner, outbox.ACTION_OWNER.key(action=action.id, version=action.version),
                   words.owner_told(team.name, action, ctx.today))


@command("action add", args="title*", options=("owner", "due*", "risk", "finding*"),
         min_role="supervisor", summary="Add an action to the plan with one accountable owner",
         example=words.EXAMPLE_ADD)
def action_add(ctx: Context, args) -> Reply:
    title = (args.title or "").strip()
    if not title:
        raise UserError(words.needs_title())
    owner = find_owner(ctx, args.owner)
    risk = _risk(args.risk)
    due = parse_deadline(ctx, args.due)
    days = ACTION_RISKS[risk]
    # The action sits on the plan of the owner's team: here, unless the owner works in another
    # of the caller's teams (find_owner refused anyone outside them).
    owner_teams = [t for t in repo.teams_of(ctx.session, owner) if ctx.belongs(t.id)]
    team = ctx.team if ctx.team.id in {t.id for t in owner_teams} else owner_teams[0]
    action = Action(team_id=team.id, title=title, owner_id=owner.id, risk=risk, due=due,
                    review_days=days, next_review=ctx.today + timedelta(days=days),
                    finding=args.finding.strip() if args.finding else None,
                    created_at=ctx.now, created_by_id=ctx.person.id, version=0)
    ctx.session.add(action)
    ctx.session.flush()
    record_version(ctx, action, "created")
    _tell_owner(ctx, action, owner)
    return words.added(action, owner.name, store.rag_of(ctx.session, action, ctx.today), ctx.today)


def _kind_and_text(text: str | None, kind: str | None) -> tuple[str, str]:
    """`audit TEXT` or `incident review TEXT` (kinds of two words may be typed either way)."""
    text, kind = (text or "").strip(), (kind or "").lower()
    first, *after = text.split(None, 1) or [""]
    if kind == "incident" and first.lower() == "review":
        kind, text = "incident_review", unquote("".join(after))
    return kind.replace("-", "_"), text


@command("action evidence", args="id kind? text*", summary="Attach evidence to an action",
         example=words.EXAMPLE_EVIDENCE)
def action_evidence(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    may_update(ctx, action)
    kind, text = _kind_and_text(args.text, args.kind)
    if kind not in EVIDENCE_KINDS:
        raise UserError(words.bad_kind(args.kind, EVIDENCE_KINDS, action.id))
    if not text:
        raise UserError(words.needs_evidence_text(action.id))
    ctx.session.add(ActionEvidence(action_id=action.id, kind=kind, text=text, at=ctx.now,
                                   by_id=ctx.person.id))
    action.next_review = ctx.today + timedelta(days=action.review_days)  # evidence is a review
    record_version(ctx, action, f"evidence: {kind.replace('_', ' ')}")
    n = len(store.evidence(ctx.session, action_id=action.id))
    return words.evidence_added(action, kind, n, store.rag_of(ctx.session, action, ctx.today))


@command("action review", args="id note*", summary="Record an action's review (progress update)",
         example="action review A-12 on track; two late entries this week, both with reasons")
def action_review(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    may_update(ctx, action)
    note = (args.note or "").strip()
    if not note:
        raise UserError(words.needs_review_text(action.id))
    action.next_review = ctx.today + timedelta(days=action.review_days)
    record_version(ctx, action, f"reviewed: {note}")
    return words.reviewed(action, store.rag_of(ctx.session, action, ctx.today))


@command("action update", args="id", options=("owner", "due*", "risk", "title*", "finding*"),
         min_role="supervisor", summary="Change an action's owner, deadline, risk or wording",
         example='action update A-12 owner=@ben due="next Friday"')
def action_update(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    may_update(ctx, action)
    changes, new_owner = [], None
    if args.owner:
        new_owner = find_owner(ctx, args.owner)
        if new_owner.id != action.owner_id:
            changes.append(f"owner {ctx.session.get(Person, action.owner_id).handle} → "
                           f"{new_owner.handle}")
            action.owner_id = new_owner.id
    overdue_subject = None
    if args.due:
        due = parse_deadline(ctx, args.due)
        if due != action.due:
            from handlers import cap
            overdue_subject = cap.action_subject(action)
            changes.append(f"due {action.due.isoformat()} → {due.isoformat()}")
            action.due = due
    if args.risk:
        risk = _risk(args.risk)
        if risk != action.risk:
            changes.append(f"risk {action.risk} → {risk}")
            action.risk, action.review_days = risk, ACTION_RISKS[risk]
            action.next_review = min(action.next_review, ctx.today + timedelta(days=action.review_days))
    for name in ("title", "finding"):
        value = getattr(args, name)
        if value and mask_stored(value.strip()) != getattr(action, name):  # as it was stored
            setattr(action, name, value.strip())
            changes.append(f"{name} reworded")
    if not changes:
        raise UserError(words.nothing_to_update(action.id))
    record_version(ctx, action, "; ".join(changes))
    if new_owner is not None and any(c.startswith("owner") for c in changes):
        _tell_owner(ctx, action, new_owner)
    if overdue_subject:  # a new deadline: the old one's escalation stops paging
        cap.settle_action(ctx, action, overdue_subject, "new deadline")
    return words.updated(action, changes, store.rag_of(ctx.session, action, ctx.today))


def closure_answers(closure: dict | None, args) -> tuple[dict, dict]:
    """The four-part closure summary (CLOSURE_FIELDS) with this command's answers merged in:
    `changed=…` and the like, or a bare `answer` for the next question. (closure, given now).
    Improvement plans (handlers/pips.py) close with the same four parts."""
    closure = dict(closure or {})
    given = {f: getattr(args, f).strip() for f in CLOSURE_FIELDS
             if getattr(args, f) and getattr(args, f).strip()}
    missing = [f for f in CLOSURE_FIELDS if f not in closure and f not in given]
    if args.answer and args.answer.strip() and missing:
        given[missing[0]] = args.answer.strip()  # a bare answer fills the next question
    closure.update(given)
    return closure, given


@command("action close", args="id answer*", options=tuple(f"{f}*" for f in CLOSURE_FIELDS),
         min_role="manager",
         summary="Close an action: needs evidence and a four-part closure summary",
         example="action close A-12")
def action_close(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    if action.state == "closed":
        raise UserError(words.already_closed(action.id))
    if not store.evidence(ctx.session, action_id=action.id):
        raise UserError(words.close_needs_evidence(action.id))
    closure, given = closure_answers(action.closure, args)
    if given:
        action.closure = closure
        record_version(ctx, action, "closure: " + ", ".join(given))
    missing = [f for f in CLOSURE_FIELDS if f not in closure]
    if missing:
        return words.ask_closure(action, missing[0], len(CLOSURE_FIELDS) - len(missing) + 1)
    action.state, action.closed_at = "closed", ctx.now
    record_version(ctx, action, "closed")
    from handlers import cap
    cap.settle_action(ctx, action, cap.action_subject(action), "action closed")
    team = ctx.session.get(Team, action.team_id)
    owner = ctx.session.get(Person, action.owner_id)
    reply = words.closed(team.name, action, owner.name, closure,
                         len(store.evidence(ctx.session, action_id=action.id)))
    ctx.post_to_team(outbox.ACTION_CLOSED.key(action=action.id), reply, team=team)
    return words.closed_reply(action, team.name)


@command("action", args="id?", summary="An action's card, or how to use the action tracker",
         example="action A-12")
def action_card(ctx: Context, args) -> Reply:
    if not args.id:
        return words.usage()
    action = find_action(ctx, args.id)
    owner = ctx.session.get(Person, action.owner_id)
    from handlers import cap  # the CAP fields, live metric and milestones
    return words.card(action, owner.name, store.rag_of(ctx.session, action, ctx.today), ctx.today,
                      store.evidence(ctx.session, action_id=action.id),
                      cap.extra_lines(ctx.session, action, ctx.now, ctx.today))


@command("action history", args="id", summary="Every version of an action",
         example="action history A-12")
def action_history(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    return words.history(action, store.versions(ctx.session, action_id=action.id), ctx.zone)


@command("plan", args="what? day*", min_role="supervisor",
         summary="The action plan: item, action, deadline, owner, RAG, key documents",
         example="plan")
def plan(ctx: Context, args) -> Reply:
    what = (args.what or "").lower()
    if what == "cqc":
        return _cqc_request(ctx, args.day)
    if what == "submitted":
        return _submitted(ctx)
    from handlers import cap  # the CAP's accountability: CQC's table, metrics, milestones
    if what == "export":
        return cap.export(ctx)
    if what:
        raise UserError(f"Unknown plan option {args.what!r}. Examples: plan · plan cqc 20 Nov 2026 "
                        "· plan submitted · plan export")
    manager = at_least(ctx.person, "manager")
    rows = store.actions_with_rag(ctx.session, team_ids=ctx.visible_team_ids, today=ctx.today)
    names = {t.id: t.name for t in ctx.visible_teams}
    return words.plan("All teams" if manager and len(names) > 1 else ctx.team.name, rows,
                      store.evidence_for(ctx.session, action_ids=[a.id for a, *_ in rows]),
                      ctx.today, store.open_request(ctx.session),
                      team_names=names if len(names) > 1 else None,
                      extra=cap.plan_extra(ctx.session, [a for a, *_ in rows], ctx.now, ctx.today))


def _cqc_request(ctx: Context, text: str | None) -> Reply:
    if not at_least(ctx.person, "manager"):
        raise UserError("Only a manager can record a CQC request. Example: plan cqc 20 Nov 2026")
    received = parse_day(text or "today", now=ctx.now, zone=ctx.zone, future=False,
                         what="date the request arrived", example="plan cqc 20 Nov 2026")
    if received > ctx.today:
        raise UserError(f"The request can't arrive in the future ({received:%-d %b %Y}). "
                        "Example: plan cqc 20 Nov 2026")
    request = PlanRequest(received=received, submit_by=received + timedelta(days=CQC_DAYS),
                          at=ctx.now, by_id=ctx.person.id)
    ctx.session.add(request)
    ctx.audit("plan:cqc_request", received=received.isoformat(),
              submit_by=request.submit_by.isoformat())
    return words.request_recorded(received, request.submit_by, ctx.today)


def _submitted(ctx: Context) -> Reply:
    if not at_least(ctx.person, "manager"):
        raise UserError("Only a manager can mark the plan as submitted. Example: plan submitted")
    request = store.open_request(ctx.session)
    if request is None:
        raise UserError(words.no_request())
    request.submitted_at = ctx.now
    ctx.session.add(request)
    ctx.audit("plan:submitted", submit_by=request.submit_by.isoformat())
    return words.submitted(request.submit_by, ctx.today)


@team_job("action_remind", times=lambda team: [team.morning_post])
def remind_owners(session: Session, team: Team, now: datetime) -> bool:
    """DM each owner 7 days and 1 day before the deadline, on the day, and on review days."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    ahead = {today + timedelta(days=n): n for n in (7, 1, 0)}
    queued = False
    for action in store.due_for_reminder(session, team_id=team.id, days=[*ahead], today=today):
        owner = session.get(Person, action.owner_id)
        what = "due" if action.due in ahead else "review"
        queued |= outbox.notify(session, owner.handle,
                                outbox.ACTION_REMIND.key(action=action.id, what=what, day=today),
                                words.reminder(team.name, action, what, today), now=now)
    return queued
