"""The evidence pack's tables: what an inspector asks to see, one query each, for a period.

Each table is (columns, rows) with values already as text: datetimes in ISO 8601 UTC, days
as YYYY-MM-DD, yes/no for booleans; and the same values as stored, for the HTML report. Column names are a contract (DESIGN.md): add, never rename.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from defusedcsv import csv as safe_csv

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.actions import rag  # the one RAG rule

from storage.models import ActionMilestone  # the CAP's milestones (handlers/cap.py)
from storage.models import (Action, ActionEvidence, ActionVersion, Client, Contact, Escalation,
                            EscalationEvent, Incident, LearningAck, LearningPoint, MedsCheck,
                            MedsDuty, MedsException, Person, PlanRequest, Reconciliation,
                            Team)


@dataclass
class Table:
    name: str  # the CSV file's stem
    title: str  # the HTML section's heading
    columns: list[str]
    rows: list[list[str]]
    values: list[list[Any]] = field(default_factory=list, repr=False)  # as stored, for the report


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def inert(value: str) -> str:
    """defusedcsv quotes a cell starting = + - @ | % (not a plain number like -3); this adds
    what OWASP also lists and it does not look at: a tab or CR first, or any spaces before a
    formula character."""
    if value[:1] in ("\t", "\r") or (value[:1].isspace() and value.lstrip()[:1] in "=+-@|%"
                                        and value.strip()):
        return "'" + value
    return value


def write_csv(path: Path, t: Table) -> None:
    """One table as a CSV file whose cells a spreadsheet shows as typed, never evaluates."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = safe_csv.writer(fh)
        writer.writerow(t.columns)
        writer.writerows([inert(v) for v in row] for row in t.rows)


def table(name: str, title: str, columns: list[str], rows) -> Table:
    values = [list(row) for row in rows]
    return Table(name, title, columns, [[text(v) for v in row] for row in values], values)


def plan_requests(session: Session, *, last: date) -> list[PlanRequest]:
    """The regulator's requests for an action plan received by the period's end, newest first."""
    return list(session.exec(select(PlanRequest).where(col(PlanRequest.received) <= last)
                             .order_by(col(PlanRequest.received).desc())))


def tables(session: Session, *, team_ids: list[int], start: datetime, end: datetime,
           first: date, last: date, today: date) -> list[Table]:
    """Every table for teams in [start, end) (UTC instants); days [first, last] for day rows."""
    team = {t.id: t.key for t in session.exec(select(Team))}
    person = {p.id: p.handle for p in session.exec(select(Person))}
    out = []

    recs = session.exec(select(Reconciliation).where(
        col(Reconciliation.team_id).in_(team_ids), col(Reconciliation.day) >= first,
        col(Reconciliation.day) <= last).order_by(col(Reconciliation.day), col(Reconciliation.team_id)))
    out.append(table("reconciliations", "Daily reconciliation log",
                      ["team", "day", "planned", "completed", "missed", "open", "open_refs",
                       "run_at", "run_by", "runs", "carried_over", "carried_over_refs"],
                      [(team[r.team_id], r.day, r.planned, r.completed, r.missed, r.open,
                        _refs(r.open_items, False), r.run_at, r.run_by, r.runs,
                        len(_refs(r.open_items, True).split()), _refs(r.open_items, True))
                       for r in recs]))

    rows = session.exec(select(Contact, Client.ref).join(Client, col(Client.id) == col(Contact.client_id))
                        .where(col(Contact.team_id).in_(team_ids), col(Contact.due_start) >= start,
                               col(Contact.due_start) < end)
                        .order_by(col(Contact.due_start), col(Contact.id)))
    out.append(table("contacts", "Contacts and outcomes",
                      ["contact_id", "client_ref", "team", "kind", "due_start", "due_end",
                       "time_critical", "status", "reason_code", "note", "outcome_at",
                       "logged_by", "logged_via"],
                      [(c.source_id, ref, team[c.team_id], c.kind, c.due_start, c.due_end,
                        c.time_critical, c.status, c.reason_code, c.note, c.outcome_at,
                        person.get(c.logged_by_id), c.logged_via) for c, ref in rows]))

    escs = list(session.exec(select(Escalation).where(
        col(Escalation.team_id).in_(team_ids), col(Escalation.opened_at) >= start,
        col(Escalation.opened_at) < end).order_by(col(Escalation.opened_at))))
    out.append(table("escalations", "Escalations",
                      ["escalation", "team", "ref", "trigger", "summary", "state", "opened_at",
                       "acked_at", "acked_by", "resolved_at", "resolved_by", "note",
                       "ack_timeout_minutes"],  # the policy frozen when it opened
                      [(f"E-{e.id}", team[e.team_id], e.ref, e.trigger, e.summary, e.state,
                        e.opened_at, e.acked_at, person.get(e.acked_by_id), e.resolved_at,
                        person.get(e.resolved_by_id), e.note,
                        (e.policy or {}).get("ack_timeout_minutes")) for e in escs]))
    events = session.exec(select(EscalationEvent).where(
        col(EscalationEvent.escalation_id).in_([e.id for e in escs]))
        .order_by(col(EscalationEvent.escalation_id), col(EscalationEvent.at), col(EscalationEvent.id)))
    out.append(table("escalation_timeline", "Escalation timelines",
                      ["escalation", "at", "event", "person", "level"],
                      [(f"E-{v.escalation_id}", v.at, v.kind, person.get(v.person_id), v.level)
                       for v in events]))

    meds = session.exec(select(MedsException, MedsDuty)
                        .join(MedsDuty, col(MedsDuty.id) == col(MedsException.duty_id))
                        .where(col(MedsException.team_id).in_(team_ids),
                               col(MedsDuty.due_at) >= start, col(MedsDuty.due_at) < end)
                        .order_by(col(MedsDuty.due_at)))
    out.append(table("medicines_exceptions", "Medicines exceptions",
                      ["duty_id", "team", "round", "client_ref", "due_at", "kind", "reason",
                       "action", "informed", "recorded_at", "recorded_by"],
                      [(d.duty_id, team[x.team_id], d.round, d.client_ref, d.due_at, x.kind,
                        x.reason, x.action, x.informed, x.at, person.get(x.by_id))
                       for x, d in meds]))
    checks = session.exec(select(MedsCheck).where(
        col(MedsCheck.team_id).in_(team_ids), col(MedsCheck.day) >= first,
        col(MedsCheck.day) <= last).order_by(col(MedsCheck.day), col(MedsCheck.round)))
    out.append(table("medicines_checks", "Protected lead's daily checks",
                      ["team", "round", "day", "met", "note", "at", "by"],
                      [(team[m.team_id], m.round, m.day, m.met, m.note, m.at, person.get(m.by_id))
                       for m in checks]))

    points = list(session.exec(select(LearningPoint).where(
        col(LearningPoint.team_id).in_(team_ids), col(LearningPoint.at) >= start,
        col(LearningPoint.at) < end).order_by(col(LearningPoint.at))))
    incident_ref = {i.id: i.ref for i in session.exec(select(Incident))}
    out.append(table("learning_points", "Handover learning points",
                      ["point", "team", "text", "incident", "shared_at", "shared_by"],
                      [(f"L-{p.id}", team[p.team_id], p.text, incident_ref.get(p.incident_id),
                        p.at, person.get(p.by_id)) for p in points]))
    acks = session.exec(select(LearningAck).where(
        col(LearningAck.point_id).in_([p.id for p in points]))
        .order_by(col(LearningAck.point_id), col(LearningAck.at)))
    out.append(table("learning_acknowledgements", "Learning acknowledgements (staff present)",
                      ["point", "person", "read_at", "via"],
                      [(f"L-{a.point_id}", person.get(a.person_id), a.at, a.via) for a in acks]))

    incs = session.exec(select(Incident).where(
        col(Incident.team_id).in_(team_ids), col(Incident.opened_at) >= start,
        col(Incident.opened_at) < end).order_by(col(Incident.opened_at)))
    out.append(table("incidents", "Incidents and their 7-day learning clocks",
                      ["incident", "team", "category", "risk", "state", "opened_at",
                       "review_due_at", "reviewed_at", "review", "action_at", "action", "due_at",
                       "closed_at", "within_7_days", "reopened"],
                      [(i.ref, team[i.team_id], i.category, i.risk, i.state, i.opened_at,
                        i.review_due_at, i.reviewed_at, i.review, i.action_at, i.action, i.due_at,
                        i.closed_at, i.closed_at is not None and i.closed_at <= i.due_at, i.reopened)
                       for i in incs]))

    # Actions are the plan itself: all of them, whatever the period (closed ones too).
    owner = aliased(Person)
    acts = list(session.exec(select(Action, rag(today), owner.handle)
                             .join(owner, col(owner.id) == col(Action.owner_id))
                             .where(col(Action.team_id).in_(team_ids)).order_by(col(Action.id))))
    out.append(table("actions", "Action plan (CAP / CQC)",
                      ["action", "team", "title", "finding", "owner", "risk", "due",
                       "review_days", "next_review", "state", "rag", "version", "closed_at",
                       "changed", "measured", "controlled", "monitoring",
                       # the seeds' fields (issue 18 §2: handlers/cap.py)
                       "failure_mode", "control", "control_owner", "root_cause",
                       "immediate_control", "metric", "target", "regulation", "priority",
                       "reopened"],
                      [(f"A-{a.id}", team[a.team_id], a.title, a.finding, handle, a.risk, a.due,
                        a.review_days, a.next_review, a.state, colour, a.version, a.closed_at,
                        *((a.closure or {}).get(k) for k in
                          ("changed", "measured", "controlled", "monitoring")),
                        a.failure_mode, a.control, person.get(a.control_owner_id), a.root_cause,
                        a.immediate_control, a.metric, a.target, a.regulation, a.priority,
                        a.reopened)
                       for a, colour, handle in acts]))
    ids = [a.id for a, *_ in acts]
    versions = session.exec(select(ActionVersion).where(col(ActionVersion.action_id).in_(ids))
                            .order_by(col(ActionVersion.action_id), col(ActionVersion.version)))
    out.append(table("action_versions", "Action plan versions",
                      ["action", "version", "at", "by", "change", "snapshot"],
                      [(f"A-{v.action_id}", v.version, v.at, person.get(v.by_id), v.change,
                        v.snapshot) for v in versions]))
    evidence = session.exec(select(ActionEvidence).where(col(ActionEvidence.action_id).in_(ids))
                            .order_by(col(ActionEvidence.action_id), col(ActionEvidence.at)))
    out.append(table("action_evidence", "Action evidence (key documents)",
                      ["action", "kind", "text", "at", "by"],
                      [(f"A-{e.action_id}", e.kind, e.text, e.at, person.get(e.by_id))
                       for e in evidence]))
    milestones = session.exec(select(ActionMilestone)
                              .where(col(ActionMilestone.action_id).in_(ids))
                              .order_by(col(ActionMilestone.action_id), col(ActionMilestone.due)))
    out.append(table("action_milestones", "Action milestones",
                      ["milestone", "action", "title", "due", "state", "done_at", "done_by"],
                      [(f"M-{m.id}", f"A-{m.action_id}", m.title, m.due, m.state, m.done_at,
                        person.get(m.done_by_id)) for m in milestones]))
    return out


def _refs(items: list[dict] | None, carried: bool) -> str:
    """A log's open refs: today's, or those carried over from earlier days (counted apart)."""
    return " ".join(i["ref"] for i in items or [] if i.get("carried_over", False) == carried)
