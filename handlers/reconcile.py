"""End-of-day reconciliation: planned versus completed, what is still open, kept as the day's log."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.jobs import team_job
from handlers.contacts import day_items
from handlers.registry import command
from messages import catalog
from messages.reply import Reply
from storage import repo
from storage.models import Team


def reconcile_team(session: Session, team: Team, now: datetime, *, run_by: str,
                   transport: str) -> Reply:
    """Count the day in SQL, store (or update) the team's row for the day, return the post."""
    zone = ZoneInfo(team.zone)
    items, day = day_items(session, team, now)
    start, end = day_bounds(day, zone)
    counts = repo.day_counts(session, team_id=team.id, start=start, end=end)
    open_items = [i for i in items if i.status == "open"]
    stored = [{"ref": i.ref, "kind": i.kind, "risk": i.risk, "assignee": i.assignee,
               "needs_escalation": i.risk == "high"} for i in open_items]
    row, created = repo.upsert_reconciliation(session, team_id=team.id, day=day, counts=counts,
                                              open_items=stored, now=now, run_by=run_by)
    repo.add_audit(session, at=now, actor=run_by, transport=transport, action="reconcile",
                   team=team.key, subject=f"{team.key}:{day.isoformat()}",
                   detail={**counts, "open_refs": [i["ref"] for i in stored], "runs": row.runs})
    escalated = []
    for item in open_items:
        if item.risk == "high":
            esc, _ = escalation.open_escalation(
                session, team=team, subject=f"contact:{item.id}", trigger="reconcile",
                ref=item.ref, summary="no outcome at end of day", now=now, opened_by=run_by,
                transport=transport)
            escalated.append(esc.id)
    missed = Counter(i.reason for i in items if i.status == "missed")
    return catalog.reconciliation(team.name, day, zone, counts, open_items, dict(missed),
                                  escalated=escalated, rerun=not created)


@command("reconcile", args="team?", summary="End-of-day check: planned vs done, what is open",
         example="reconcile", min_role="supervisor")
def reconcile(ctx: Context, args) -> Reply:
    team = ctx.team
    if args.team:
        team = repo.team_by_key(ctx.session, args.team.lower())
        if team is None:
            raise UserError(catalog.unknown_team(args.team, [t.key for t in repo.all_teams(ctx.session)]))
    return reconcile_team(ctx.session, team, ctx.now, run_by=ctx.person.handle,
                          transport=ctx.transport)


@team_job("reconcile", times=lambda team: [team.reconcile])
def end_of_day(session: Session, team: Team, now: datetime) -> bool:
    """The scheduled reconciliation: stored and posted once per team per local day."""
    day = now.astimezone(ZoneInfo(team.zone)).date()
    key = f"reconcile:{team.key}:{day.isoformat()}"
    if repo.outbox_exists(session, key):
        return False
    reply = reconcile_team(session, team, now, run_by="scheduler", transport="scheduler")
    return repo.enqueue(session, key=key, target=f"team:{team.key}",
                        payload=reply.model_dump(mode="json"), now=now)
