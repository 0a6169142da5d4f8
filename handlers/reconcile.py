"""Reconciliation: planned versus completed, and what is still open.

Two kinds. Before the team's end-of-day time (`team.reconcile`, local) `reconcile` is a check
so far: it stores nothing and escalates only high-risk contacts whose window (plus grace) has
ended, so an early run can never freeze or replace the day's log. The scheduled end-of-day run
is the day's log (one row, one post); a run after that time updates the log with the later
truth, and every version is audited.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, day_bounds
from handlers.jobs import team_job
from handlers.contacts import day_items
from handlers.registry import command
from messages import catalog
from messages import reconcile as words
from messages.reply import Reply
from storage import outbox, repo
from storage.models import Team


@dataclass
class Outcome:
    """What a reconciliation run did: for the reply, the scheduler and `carebot post`."""

    reply: Reply
    day: date
    so_far: bool
    counts: dict[str, int]
    escalated: list[tuple[int, str]]  # (escalation id, client ref)
    runs: int = 0  # the stored log's run count; 0 when nothing was stored
    posted: str = ""  # "queued" | "updated" | "" (nothing posted)


def end_of_day_at(team: Team, day: date) -> datetime:
    """The moment the team's day is reconciled (its `reconcile` time, local), in UTC."""
    return datetime.combine(day, time.fromisoformat(team.reconcile), ZoneInfo(team.zone))


def run(session: Session, team: Team, now: datetime, *, run_by: str, transport: str) -> Outcome:
    """A check so far before the end-of-day time; the day's log (stored, audited) from then on."""
    zone = ZoneInfo(team.zone)
    items, day = day_items(session, team, now)
    so_far = now < end_of_day_at(team, day)
    start, end = day_bounds(day, zone)
    counts = repo.day_counts(session, team_id=team.id, start=start, end=end)
    open_items = [i for i in items if i.status == "open"]
    grace = timedelta(minutes=escalation.grace_minutes(team))
    overdue = {i.id for i in open_items if i.end + grace <= now}
    # At the end of the day every open high-risk contact needs an owner; before it, only those
    # whose window has ended (a visit due at 14:00 is not a problem at 08:00).
    to_escalate = [i for i in open_items if i.risk == "high" and (not so_far or i.id in overdue)]
    summary = "no outcome, window ended" if so_far else "no outcome at end of day"
    escalated = []
    for item in _order(to_escalate):
        esc, _ = escalation.open_escalation(
            session, team=team, subject=f"contact:{item.id}", trigger="reconcile", ref=item.ref,
            summary=summary, now=now, opened_by=run_by, transport=transport)
        escalated.append((esc.id, item.ref))
    escalated.sort()
    detail = {**counts, "open_refs": [i.ref for i in open_items if not i.carried],
              "carried_refs": [i.ref for i in open_items if i.carried],
              "escalated": [e for e, _ in escalated]}
    runs = 0
    if not so_far:
        stored = [{"ref": i.ref, "kind": i.kind, "risk": i.risk, "assignee": i.assignee,
                   "needs_escalation": i.risk == "high", "carried_over": i.carried}
                  for i in open_items]
        row, _ = repo.upsert_reconciliation(session, team_id=team.id, day=day, counts=counts,
                                            open_items=stored, now=now, run_by=run_by)
        runs = detail["runs"] = row.runs
    repo.add_audit(session, at=now, actor=run_by, transport=transport,
                   action="reconcile:so_far" if so_far else "reconcile", team=team.key,
                   subject=f"{team.key}:{day.isoformat()}", detail=detail)
    missed = Counter(i.reason for i in items if i.status == "missed")
    reply = words.reconciliation(
        team.name, day, zone, counts, open_items, dict(missed), at=now, so_far=so_far,
        escalated=[e for e, _ in escalated], runs=runs, end_of_day=team.reconcile,
        overdue=overdue)
    return Outcome(reply=reply, day=day, so_far=so_far, counts=counts, escalated=escalated,
                   runs=runs)


def _order(items: list[catalog.Item]) -> list[catalog.Item]:
    return sorted(items, key=lambda i: (i.start, i.ref))


def reconcile_team(session: Session, team: Team, now: datetime, *, run_by: str,
                   transport: str) -> Reply:
    return run(session, team, now, run_by=run_by, transport=transport).reply


def post(session: Session, team: Team, now: datetime, *, run_by: str, transport: str) -> Outcome:
    """Run it and, from the end-of-day time on, make the channel show the day's log: queued
    once per team per day, and edited in place by a later run (never posted twice)."""
    outcome = run(session, team, now, run_by=run_by, transport=transport)
    if outcome.so_far:
        return outcome
    key = outbox.RECONCILE.key(team=team.key, day=outcome.day)
    if outbox.post_to_team(session, team.key, key, outcome.reply, now=now):
        outcome.posted = "queued"
    elif outbox.refresh_post(session, key=key, payload=outcome.reply, now=now):
        outcome.posted = "updated"
    return outcome


@command("reconcile", args="team?", summary="Planned vs done, what is open (so far, or the day's log)",
         example="reconcile", min_role="supervisor")
def reconcile(ctx: Context, args) -> Reply:
    team = ctx.named_team(args.team, "reconcile") if args.team else ctx.team
    outcome = run(ctx.session, team, ctx.now, run_by=ctx.person.handle, transport=ctx.transport)
    if not outcome.so_far:  # the channel's copy of the day's log shows the later truth too
        outbox.refresh_post(ctx.session, key=outbox.RECONCILE.key(team=team.key, day=outcome.day),
                            payload=outcome.reply, now=ctx.now)
    return outcome.reply


@team_job("reconcile", times=lambda team: [team.reconcile])
def end_of_day(session: Session, team: Team, now: datetime) -> bool:
    """The scheduled reconciliation: stored and posted once per team per local day."""
    day = now.astimezone(ZoneInfo(team.zone)).date()
    if now < end_of_day_at(team, day) or \
            outbox.outbox_exists(session, outbox.RECONCILE.key(team=team.key, day=day)):
        return False  # too early to be the day's log, or already made
    return post(session, team, now, run_by="scheduler", transport="scheduler").posted == "queued"
