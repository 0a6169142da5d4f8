"""Queries for the CAP's accountability (issue 18 §2): milestones, what is overdue for the
escalation sweep, and closed actions due their "sustained?" re-check."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from storage.models import Action, ActionMilestone, Team

PRIORITIES = ("high", "medium", "low")
SUSTAIN_WEEKS = (4, 12)  # a closed action's metric is re-checked this long after closure
MILESTONE_AMBER_DAYS = 7


def milestone_rag(m: ActionMilestone, today: date) -> str:
    """The same rule as an action's: blue once done, red past its day, amber within 7 days."""
    if m.state == "done":
        return "blue"
    if m.due < today:
        return "red"
    return "amber" if m.due <= today + timedelta(days=MILESTONE_AMBER_DAYS) else "green"


def milestones_for(session: Session, *, action_ids: list[int]) -> dict[int, list[ActionMilestone]]:
    out: dict[int, list[ActionMilestone]] = {i: [] for i in action_ids}
    for m in session.exec(select(ActionMilestone).where(col(ActionMilestone.action_id)
                                                        .in_(action_ids))
                          .order_by(col(ActionMilestone.due), col(ActionMilestone.id))):
        out[m.action_id].append(m)
    return out


def _by_today(teams: list[Team], now: datetime) -> dict[date, list[int]]:
    """Team ids grouped by their local today (one query per distinct day, usually one)."""
    out: dict[date, list[int]] = {}
    for team in teams:
        out.setdefault(now.astimezone(ZoneInfo(team.zone)).date(), []).append(team.id)
    return out


def overdue_actions(session: Session, teams: list[Team], now: datetime) -> list[Action]:
    """Open actions whose deadline day is over in their team's zone."""
    out = []
    for today, ids in _by_today(teams, now).items():
        out += session.exec(select(Action).where(
            col(Action.team_id).in_(ids), Action.state == "open", col(Action.due) < today)
            .order_by(col(Action.id))).all()
    return out


def overdue_milestones(session: Session, teams: list[Team],
                       now: datetime) -> list[tuple[ActionMilestone, Action]]:
    """Open milestones of open actions whose day is over in their team's zone."""
    out = []
    for today, ids in _by_today(teams, now).items():
        out += session.exec(select(ActionMilestone, Action)
                            .join(Action, col(Action.id) == col(ActionMilestone.action_id))
                            .where(col(Action.team_id).in_(ids), Action.state == "open",
                                   ActionMilestone.state == "open",
                                   col(ActionMilestone.due) < today)
                            .order_by(col(ActionMilestone.id))).all()
    return out


def next_overdue(session: Session, team: Team, now: datetime) -> datetime | None:
    """When the team's next open action or milestone becomes overdue (the start of the day
    after its deadline, in the team's zone)."""
    zone = ZoneInfo(team.zone)
    today = now.astimezone(zone).date()
    days = [session.exec(select(func.min(Action.due)).where(
                Action.team_id == team.id, Action.state == "open",
                col(Action.due) >= today)).one(),
            session.exec(select(func.min(ActionMilestone.due))
                         .join(Action, col(Action.id) == col(ActionMilestone.action_id))
                         .where(Action.team_id == team.id, Action.state == "open",
                                ActionMilestone.state == "open",
                                col(ActionMilestone.due) >= today)).one()]
    day = min((d for d in days if d is not None), default=None)
    return None if day is None else datetime.combine(day + timedelta(days=1), time(), zone)


def milestones_due(session: Session, *, team_id: int,
                   days: list[date]) -> list[tuple[ActionMilestone, Action]]:
    return list(session.exec(select(ActionMilestone, Action)
                             .join(Action, col(Action.id) == col(ActionMilestone.action_id))
                             .where(Action.team_id == team_id, Action.state == "open",
                                    ActionMilestone.state == "open",
                                    col(ActionMilestone.due).in_(days))
                             .order_by(col(ActionMilestone.id))))


def sustain_due(session: Session, *, team_id: int, now: datetime) -> list[tuple[Action, int]]:
    """Closed metric-linked actions due a "sustained?" re-check: (action, weeks)."""
    four, twelve = (now - timedelta(weeks=w) for w in SUSTAIN_WEEKS)
    rows = session.exec(select(Action).where(
        Action.team_id == team_id, Action.state == "closed", col(Action.metric).is_not(None),
        or_(and_(col(Action.closed_at) <= four, col(Action.sustain_checked) < 4),
            and_(col(Action.closed_at) <= twelve, col(Action.sustain_checked) < 12)))
        .order_by(col(Action.id)))
    return [(a, 12 if a.closed_at <= twelve else 4) for a in rows]


def open_milestone_ids(session: Session, *, team_ids: list[int], limit: int = 5) -> list[int]:
    """The first open milestones of these teams' actions, by id (for an unknown M- ref)."""
    return list(session.exec(
        select(ActionMilestone.id).join(Action, col(Action.id) == col(ActionMilestone.action_id))
        .where(col(Action.team_id).in_(team_ids), col(ActionMilestone.state) == "open")
        .order_by(col(ActionMilestone.id)).limit(limit)))
