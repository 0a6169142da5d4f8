"""A CAP that holds its owners to account (issue 18 §2): the action fields the seeds name
(`action set`), an outcome metric shown live against its target, milestones with their own
RAG and reminders, overdue actions and milestones escalated (owner's manager, then the
nominated individual) through the bounded escalation engine, `action reopen`, the
"sustained?" re-check 4 and 12 weeks after closure, CQC deadline reminders at 14, 7, 3 and 1
days, and the plan as the table CQC expects (`plan export`)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.actions import find_action, find_owner, may_update, parse_deadline, record_version
from handlers.base import Context, UserError
from handlers.grammar import record_id
from handlers.jobs import team_job
from handlers.metrics import metrics, parse_target, shown
from handlers.registry import command
from messages import cap as words
from messages.actions import RAG_WORD, day, label
from messages.reply import Attachment, Reply
from storage import actions as act_store
from storage import cap as store
from storage import outbox, repo
from storage.db import files_dir
from storage.export import table, write_csv
from storage.escalations import with_role
from storage.models import Action, ActionMilestone, Person, Team, at_least
from storage.privacy import mask_stored

TEXT_FIELDS = ("failure_mode", "control", "root_cause", "immediate_control", "regulation")
CQC_REMIND_DAYS = (14, 7, 3, 1)
MILESTONE_REMIND_DAYS = (7, 1, 0)


def action_subject(action: Action) -> str:
    """The escalation subject of an overdue action: per reopening and deadline, so a new
    deadline or a reopening escalates afresh."""
    return f"action:{action.id}:r{action.reopened}:{action.due.isoformat()}"


def milestone_subject(m: ActionMilestone) -> str:
    return f"milestone:{m.id}"


# ---------------------------------------------------------------- what cards and plan show


def metric_text(session: Session, action: Action, now: datetime) -> tuple[str, bool | None]:
    metric = metrics()[action.metric]
    value = metric.compute(session, [action.team_id], now)
    met = metric.met(value, action.target)
    return words.metric_line(metric, shown(metric, value), action.target, met), met


def extra_lines(session: Session, action: Action, now: datetime, today: date,
                milestones: list[ActionMilestone] | None = None, *,
                fields: bool = True) -> list[str]:
    """The seeds' fields, the live metric against its target and the milestones."""
    lines = []
    if fields:
        owner = (session.get(Person, action.control_owner_id).name
                 if action.control_owner_id else None)
        lines += words.fields_lines(action, owner)
    if action.metric and action.metric in metrics():
        lines.append(metric_text(session, action, now)[0])
    if milestones is None:
        milestones = store.milestones_for(session, action_ids=[action.id])[action.id]
    lines += [words.milestone_line(m, store.milestone_rag(m, today), today) for m in milestones]
    return lines


def plan_extra(session: Session, actions: list[Action], now: datetime,
               today: date) -> dict[int, list[str]]:
    """Per action on `plan`: its metric's live value and its milestones."""
    ms = store.milestones_for(session, action_ids=[a.id for a in actions])
    return {a.id: extra_lines(session, a, now, today, ms[a.id], fields=False) for a in actions}


# ---------------------------------------------------------------- commands


@command("action set", args="id",
         options=("failure_mode*", "control*", "control_owner", "root_cause*",
                  "immediate_control*", "metric", "target", "regulation*", "priority"),
         min_role="supervisor",
         summary="Set an action's CAP fields: failure mode, control, metric and target, …",
         example=words.EXAMPLE_SET)
def action_set(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    may_update(ctx, action)
    new: dict[str, object] = {}
    for name in TEXT_FIELDS:
        value = (getattr(args, name) or "").strip()
        if value:
            new[name] = value
    if args.control_owner:
        new["control_owner_id"] = find_owner(ctx, args.control_owner, "control_owner").id
    if args.metric:
        name = args.metric.strip().lower()
        if name not in metrics():
            raise UserError(words.bad_metric(args.metric, list(metrics())))
        new["metric"] = name
    if args.target:
        target = parse_target(args.target)
        if target is None:
            raise UserError(words.bad_target(args.target))
        if not (new.get("metric") or action.metric):
            raise UserError(words.target_needs_metric(action.id))
        new["target"] = target
    if args.priority:
        priority = args.priority.strip().lower()
        if priority not in store.PRIORITIES:
            raise UserError(words.bad_priority(args.priority, store.PRIORITIES))
        new["priority"] = priority
    if not new:
        raise UserError(words.nothing_to_set(action.id))
    changes = []
    for name, value in new.items():
        stored = mask_stored(value) if name in TEXT_FIELDS else value
        if getattr(action, name) == stored:
            continue
        setattr(action, name, value)
        if name == "control_owner_id":
            changes.append(f"control owner {ctx.session.get(Person, value).handle}")
        elif name in TEXT_FIELDS:
            changes.append(f"{name.replace('_', ' ')} set")
        else:
            changes.append(f"{name} {value:g}" if name == "target" else f"{name} {value}")
    if not changes:
        raise UserError(words.nothing_to_set(action.id))
    record_version(ctx, action, "; ".join(changes))
    return words.set_done(action, changes)


@command("action milestone", args="id title*", options=("due*",),
         summary="Add a milestone to an action (its own deadline, RAG and reminders), "
                 "or mark one done: action milestone done M-4",
         example=words.EXAMPLE_MILESTONE)
def action_milestone(ctx: Context, args) -> Reply:
    if args.id.lower() == "done":  # `action milestone done M-4` (verbs are two words)
        return _milestone_done(ctx, (args.title or "").strip())
    action = find_action(ctx, args.id)
    may_update(ctx, action)
    title = (args.title or "").strip()
    if not title:
        raise UserError(words.needs_milestone_title(action.id))
    due = parse_deadline(ctx, args.due)
    if due > action.due:
        raise UserError(words.milestone_after_deadline(action, due))
    m = ActionMilestone(action_id=action.id, title=title, due=due, at=ctx.now, by_id=ctx.person.id)
    ctx.session.add(m)
    ctx.session.flush()
    record_version(ctx, action, f"milestone {words.m_label(m.id)} added, due {due.isoformat()}")
    return words.milestone_added(action, m, store.milestone_rag(m, ctx.today), ctx.today)


def _find_milestone(ctx: Context, text: str) -> tuple[ActionMilestone, Action]:
    number = record_id(text, "M-")
    m = ctx.session.get(ActionMilestone, number) if number else None
    action = ctx.session.get(Action, m.action_id) if m else None
    if action is None or action.team_id not in ctx.visible_team_ids:
        raise UserError(words.unknown_milestone(text, store.open_milestone_ids(
            ctx.session, team_ids=ctx.visible_team_ids)))
    return m, action


def _milestone_done(ctx: Context, text: str) -> Reply:
    m, action = _find_milestone(ctx, text)
    may_update(ctx, action)
    if m.state == "done":
        raise UserError(words.milestone_already_done(m))
    m.state, m.done_at, m.done_by_id = "done", ctx.now, ctx.person.id
    ctx.session.add(m)
    record_version(ctx, action, f"milestone {words.m_label(m.id)} done")
    escalation.settle(ctx, milestone_subject(m), f"milestone {words.m_label(m.id)} done")
    return words.milestone_done(action, m)


def _reopen(session: Session, action: Action, *, today: date, now: datetime, by_id: int,
            why: str) -> bool:
    """Open again for review: the closure summary is asked afresh, the sustain checks restart,
    a deadline already past moves a review period on. True when the deadline moved."""
    action.state, action.closed_at, action.closure = "open", None, {}
    action.reopened += 1
    action.sustain_checked = 0
    action.next_review = today + timedelta(days=action.review_days)
    moved = action.due < action.next_review
    if moved:
        action.due = action.next_review
    owner = session.get(Person, action.owner_id)
    act_store.add_version(session, action, at=now, by_id=by_id, change=f"reopened: {why}",
                          owner=owner.handle)
    team = session.get(Team, action.team_id)
    told = {owner.handle: owner, **{p.handle: p for p in with_role(session, team_id=team.id,
                                                                   role="manager")}}
    reply = words.reopened_told(team.name, action, why, today)
    for handle in told:
        outbox.notify(session, handle, outbox.ACTION_REOPENED.key(
            action=action.id, reopened=action.reopened, handle=handle), reply, now=now)
    return moved


@command("action reopen", args="id reason*", min_role="manager",
         summary="Reopen a closed action for review, saying why",
         example=words.EXAMPLE_REOPEN)
def action_reopen(ctx: Context, args) -> Reply:
    action = find_action(ctx, args.id)
    if action.state != "closed":
        raise UserError(words.not_closed(action.id))
    reason = (args.reason or "").strip()
    if not reason:
        raise UserError(words.needs_reason(action.id))
    moved = _reopen(ctx.session, action, today=ctx.today, now=ctx.now, by_id=ctx.person.id,
                    why=reason)
    ctx.audit("action:reopened", subject=label(action.id), team_id=action.team_id,
              reason=reason, version=action.version)
    return words.reopened(action, reason, moved)


def export(ctx: Context) -> Reply:
    """`plan export`: the plan as the table CQC expects (item, actions, owner, deadline, RAG,
    evidence), one row per action."""
    rows = act_store.actions_with_rag(ctx.session, team_ids=ctx.visible_team_ids, today=ctx.today)
    evidence = act_store.evidence_for(ctx.session, action_ids=[a.id for a, *_ in rows])
    out = []
    for action, rag, owner in sorted(rows, key=lambda r: r[0].id):
        docs = "; ".join(f"{e.kind.replace('_', ' ')}: {e.text}" for e in evidence[action.id])
        out.append({"item": action.finding or "—", "actions": f"{label(action.id)} {action.title}",
                    "owner": owner.name, "deadline": day(action.due), "rag": rag,
                    "evidence": docs or "none yet"})
    names = {t.id: t.name for t in ctx.visible_teams}
    title = "All teams" if at_least(ctx.person, "manager") and len(names) > 1 else ctx.team.name
    ctx.audit("plan:export", actions=len(out))
    reply = words.export(title, out, act_store.open_request(ctx.session), ctx.today)
    # The same table as a CSV file to send on (cells a spreadsheet shows as typed).
    columns = ["item", "actions", "owner", "deadline", "rag", "evidence"]
    path = files_dir() / f"cqc-action-plan-{ctx.now.astimezone(ctx.zone):%Y%m%d-%H%M%S}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, table("cqc_action_plan", "CQC action plan", columns,
                          [[r[c] if c != "rag" else RAG_WORD[r[c]] for c in columns]
                           for r in out]))
    reply.files = [Attachment(path=str(path), filename=path.name, mime="text/csv",
                              title=f"{title}: action plan for CQC")]
    return reply


def settle_action(ctx: Context, action: Action, subject: str, why: str) -> None:
    """An action closed or given a new deadline: its overdue escalation (and, once closed, its
    milestones') stops paging."""
    escalation.settle(ctx, subject, why)
    if action.state == "closed":
        for m in store.milestones_for(ctx.session, action_ids=[action.id])[action.id]:
            escalation.settle(ctx, milestone_subject(m), why)


# ---------------------------------------------------------------- the sweep's deadline source


def escalate_overdue(session: Session, teams: list[Team], now: datetime) -> None:
    """An open action or milestone past its day: an escalation to the team's managers, then
    the nominated individual (the policy's repeats and final bound apply)."""
    by_id = {t.id: t for t in teams}
    for action in store.overdue_actions(session, teams, now):
        escalation.open_escalation(
            session, team=by_id[action.team_id], subject=action_subject(action),
            trigger="action_overdue", ref=label(action.id), now=now, opened_by="scheduler",
            summary=f"action past its deadline ({action.due:%-d %b %Y})",
            chain=["manager", "nominated"])
    for m, action in store.overdue_milestones(session, teams, now):
        escalation.open_escalation(
            session, team=by_id[action.team_id], subject=milestone_subject(m),
            trigger="action_overdue", ref=label(action.id), now=now, opened_by="scheduler",
            summary=f"milestone {words.m_label(m.id)} past its day ({m.due:%-d %b %Y})",
            chain=["manager", "nominated"])


def next_deadline(session: Session, team: Team, now: datetime) -> datetime | None:
    return store.next_overdue(session, team, now)


# ---------------------------------------------------------------- scheduled


@team_job("cap_remind", times=lambda team: [team.morning_post])
def remind(session: Session, team: Team, now: datetime) -> bool:
    """Milestones: the action's owner 7 days and 1 day before, and on the day. The CQC
    deadline: the team's managers and the nominated individual 14, 7, 3 and 1 days before."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    queued = False
    ahead = [today + timedelta(days=n) for n in MILESTONE_REMIND_DAYS]
    for m, action in store.milestones_due(session, team_id=team.id, days=ahead):
        owner = session.get(Person, action.owner_id)
        queued |= outbox.notify(session, owner.handle,
                                outbox.MILESTONE_REMIND.key(milestone=m.id, day=today),
                                words.milestone_reminder(team.name, action, m, today), now=now)
    request = act_store.open_request(session)
    if request is not None and (request.submit_by - today).days in CQC_REMIND_DAYS:
        left = (request.submit_by - today).days
        people = [*with_role(session, team_id=team.id, role="manager"),
                  *with_role(session, team_id=team.id, role="nominated")]
        for person in people:
            if outbox.notify(session, person.handle, outbox.CQC_REMIND.key(
                    request=request.id, days=left, handle=person.handle),
                    words.cqc_reminder(left, request.submit_by), now=now):
                queued = True  # kept in the audit log, so the evidence pack shows it
                repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                               action="plan:cqc_reminder", team=team.key,
                               detail={"to": person.handle, "days_left": left,
                                       "submit_by": request.submit_by.isoformat()})
    return queued


@team_job("cap_sustain", times=lambda team: [team.morning_post])
def sustain(session: Session, team: Team, now: datetime) -> bool:
    """Closed metric-linked actions, 4 and 12 weeks after closure: is the metric still on
    target? A slip reopens the action for review and tells its owner and the managers."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    queued = False
    for action, weeks in store.sustain_due(session, team_id=team.id, now=now):
        metric = metrics().get(action.metric)
        if metric is None:  # a metric no longer registered: nothing to measure
            action.sustain_checked = weeks
            session.add(action)
            continue
        value = metric.compute(session, [action.team_id], now)
        text = shown(metric, value)
        action.sustain_checked = weeks
        session.add(action)
        owner = session.get(Person, action.owner_id)
        met = metric.met(value, action.target)
        if met is False:
            why = words.slipped(metric, text, action.target, weeks)
            _reopen(session, action, today=today, now=now, by_id=action.owner_id, why=why)
            queued = True
            verb = "action:reopened"
        else:
            act_store.add_version(session, action, at=now, by_id=action.owner_id,
                                  change=words.sustained(metric, text, action.target, weeks, met),
                                  owner=owner.handle)
            verb = "action:sustained"
        repo.add_audit(session, at=now, actor="scheduler", transport="scheduler", action=verb,
                       team=team.key, subject=label(action.id),
                       detail={"weeks": weeks, "metric": action.metric, "value": value,
                               "target": action.target})
    return queued
