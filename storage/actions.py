"""Queries for the action tracker. RAG is one SQL expression, so the plan table, the weekly
status counts and the evidence pack can never disagree about an action's colour."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, case, exists, literal, or_
from sqlmodel import Session, col, func, select

from storage.models import (Action, ActionEvidence, ActionVersion, Person, PlanRequest)

RAG_ORDER = ("red", "amber", "green", "blue")
AMBER_DAYS = 7


def rag(today, amber_by=None):
    """Blue once closed; red when overdue or a review was missed; amber when due within
    7 days with no evidence yet; green otherwise. (`today` may be a bound parameter, then
    `amber_by`, today + 7 days, is one too.)"""
    has_evidence = exists().where(col(ActionEvidence.action_id) == col(Action.id))
    return case(
        (col(Action.state) == "closed", literal("blue")),
        (or_(col(Action.due) < today, col(Action.next_review) < today), literal("red")),
        (and_(col(Action.due) <= (today + timedelta(days=AMBER_DAYS) if amber_by is None
                                  else amber_by), ~has_evidence),
         literal("amber")),
        else_=literal("green"))


def actions_with_rag(session: Session, *, team_ids: list[int],
                     today: date) -> list[tuple[Action, str, Person]]:
    """(action, rag, owner), red first, then by deadline."""
    colour = rag(today).label("rag")
    rows = list(session.exec(
        select(Action, colour, Person).join(Person, col(Person.id) == col(Action.owner_id))
        .where(col(Action.team_id).in_(team_ids)).order_by(col(Action.due), col(Action.id))))
    return sorted(rows, key=lambda r: RAG_ORDER.index(r[1]))


def rag_of(session: Session, action: Action, today: date) -> str:
    return session.exec(select(rag(today)).where(Action.id == action.id)).one()


def rag_counts(session: Session, *, team_ids: list[int], today: date) -> dict[int, dict[str, int]]:
    """Per team: how many actions are red, amber, green and blue."""
    colour = rag(today)
    rows = session.exec(select(Action.team_id, colour, func.count())
                        .where(col(Action.team_id).in_(team_ids)).group_by(Action.team_id, colour))
    counts = {t: dict.fromkeys(RAG_ORDER, 0) for t in team_ids}
    for team_id, k, n in rows:
        counts[team_id][k] = int(n)
    return counts


def evidence(session: Session, *, action_id: int) -> list[ActionEvidence]:
    return list(session.exec(select(ActionEvidence).where(ActionEvidence.action_id == action_id)
                             .order_by(col(ActionEvidence.at), col(ActionEvidence.id))))


def evidence_for(session: Session, *, action_ids: list[int]) -> dict[int, list[ActionEvidence]]:
    out: dict[int, list[ActionEvidence]] = {i: [] for i in action_ids}
    for ev in session.exec(select(ActionEvidence).where(col(ActionEvidence.action_id)
                                                        .in_(action_ids))
                           .order_by(col(ActionEvidence.at), col(ActionEvidence.id))):
        out[ev.action_id].append(ev)
    return out


def versions(session: Session, *, action_id: int) -> list[tuple[ActionVersion, Person]]:
    return list(session.exec(
        select(ActionVersion, Person).join(Person, col(Person.id) == col(ActionVersion.by_id))
        .where(ActionVersion.action_id == action_id).order_by(col(ActionVersion.version))))


def snapshot(action: Action, owner: str) -> dict:
    return {"title": action.title, "finding": action.finding, "owner": owner,
            "risk": action.risk, "due": action.due.isoformat(),
            "next_review": action.next_review.isoformat(), "state": action.state,
            "closure": dict(action.closure or {}),
            **{k: getattr(action, k) for k in CAP_FIELDS}}


# The CAP fields the seeds name (issue 18 §2), kept in every version; control_owner is the
# handle (filled in by add_version), the others as stored.
CAP_FIELDS = ("failure_mode", "control", "root_cause", "immediate_control", "metric", "target",
              "regulation", "priority", "reopened")


def add_version(session: Session, action: Action, *, at, by_id: int, change: str,
                owner: str) -> ActionVersion:
    """Bump the action's version and keep the state this change produced."""
    action.version += 1
    session.add(action)
    session.flush()
    snap = snapshot(action, owner)
    if action.control_owner_id is not None:
        snap["control_owner"] = session.get(Person, action.control_owner_id).handle
    row = ActionVersion(action_id=action.id, version=action.version, at=at, by_id=by_id,
                        change=change, snapshot=snap)
    session.add(row)
    return row


def due_for_reminder(session: Session, *, team_id: int, days: list[date],
                     today: date) -> list[Action]:
    """Open actions whose deadline falls on one of these days, or with a review today."""
    return list(session.exec(select(Action).where(
        Action.team_id == team_id, Action.state == "open",
        or_(col(Action.due).in_(days), Action.next_review == today)).order_by(col(Action.id))))


def open_request(session: Session) -> PlanRequest | None:
    return session.exec(select(PlanRequest).where(col(PlanRequest.submitted_at).is_(None))
                        .order_by(col(PlanRequest.received).desc())).first()


def open_ids(session: Session, *, team_ids: list[int], limit: int = 5) -> list[int]:
    """The first open actions of these teams, by id: what to offer for a ref that is not one."""
    return list(session.exec(select(Action.id).where(col(Action.team_id).in_(team_ids),
                                                     col(Action.state) == "open")
                             .order_by(col(Action.id)).limit(limit)))
