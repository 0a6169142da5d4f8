"""Queries for protected medicines duties, exceptions and daily checks; the duties import.

`carebot import meds FILE.csv` is idempotent on duty_id: new duties are inserted, changed
ones updated (a recorded outcome is never touched), and a file with any bad row is rejected
whole with every bad line listed.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage.db import session_scope
from storage.csvfile import ImportResult, checked, personal_refs, when
from storage.models import MedsCheck, MedsDuty, MedsException, Team

MEDS_COLUMNS = ["duty_id", "team", "round", "client_ref", "due_at", "window_minutes",
                "time_critical"]
PLAN = ("team_id", "round", "client_ref", "due_at", "window_minutes", "time_critical")


def _parse_duty(row: dict, teams: dict[str, tuple[int, ZoneInfo, set[str]]], seen: set) -> dict:
    problems = []
    duty_id = (row.get("duty_id") or "").strip()
    if not duty_id:
        problems.append("duty_id is empty")
    elif len(duty_id) > 80:
        problems.append("duty_id is longer than 80 characters")
    elif duty_id in seen:
        problems.append(f"duty_id {duty_id!r} appears twice in the file")
    key = (row.get("team") or "").strip().lower()
    team = teams.get(key)
    if team is None:
        problems.append(f"unknown team {key!r}")
    rnd = (row.get("round") or "").strip().lower()
    if not rnd:
        problems.append("round is empty")
    elif team and team[2] and rnd not in team[2]:
        problems.append(f"round {rnd!r} is not one of team {key}'s rounds "
                        f"({', '.join(sorted(team[2]))})")
    ref = (row.get("client_ref") or "").strip().upper()
    if not ref or len(ref) > 40 or " " in ref:
        problems.append(f"client_ref {ref!r} must be an opaque ref like C-7F3K (no spaces)")
    due = None
    try:
        due = when(row.get("due_at") or "", team[1] if team else ZoneInfo("UTC"))
    except ValueError:
        problems.append(f"due_at {row.get('due_at')!r} is not an ISO 8601 date-time "
                        f"(e.g. 2026-11-24T08:00)")
    window = (row.get("window_minutes") or "").strip() or "30"
    if not window.isdigit() or not 0 < int(window) <= 24 * 60:
        problems.append(f"window_minutes {window!r} must be a whole number of minutes, 1–1440")
    critical = (row.get("time_critical") or "").strip().lower()
    if critical not in ("", "true", "false", "yes", "no", "1", "0"):
        problems.append(f"time_critical {critical!r} must be true or false")
    problems += personal_refs({"duty_id": duty_id, "client_ref": ref}, due)
    if problems:
        raise ValueError("; ".join(problems))
    seen.add(duty_id)
    return {"duty_id": duty_id, "team_id": team[0], "round": rnd, "client_ref": ref,
            "due_at": due.astimezone(UTC), "window_minutes": int(window),
            "time_critical": critical in ("true", "yes", "1")}


def import_meds(engine: Engine, path: str | Path) -> ImportResult:
    """Import duties in one transaction: any bad row rolls everything back and is reported."""
    path = Path(path)
    with session_scope(engine) as session:
        teams = {t.key: (t.id, ZoneInfo(t.zone),
                         {r["name"] for r in (t.medicines or {}).get("meds_rounds", [])})
                 for t in session.exec(select(Team))}
    result, seen = ImportResult(), set()
    with session_scope(engine) as session:
        for duty in checked(path, MEDS_COLUMNS, lambda row: _parse_duty(row, teams, seen)):
            result.rows += 1
            row = session.exec(select(MedsDuty).where(MedsDuty.duty_id == duty["duty_id"])).first()
            if row is None:
                session.add(MedsDuty(**duty))
                result.inserted += 1
            elif any(getattr(row, f) != duty[f] for f in PLAN):
                for f in PLAN:
                    setattr(row, f, duty[f])
                session.add(row)
                result.updated += 1
            else:
                result.unchanged += 1
    return result


def duties_between(session: Session, *, team_id: int, start: datetime, end: datetime,
                   round: str | None = None) -> list[MedsDuty]:
    query = select(MedsDuty).where(MedsDuty.team_id == team_id, col(MedsDuty.due_at) >= start,
                                   col(MedsDuty.due_at) < end)
    if round:
        query = query.where(MedsDuty.round == round)
    return list(session.exec(query.order_by(col(MedsDuty.due_at), col(MedsDuty.client_ref))))


def find_duty(session: Session, *, duty_id: str, team_ids: list[int]) -> MedsDuty | None:
    return session.exec(select(MedsDuty).where(
        MedsDuty.duty_id == duty_id, col(MedsDuty.team_id).in_(team_ids))).first()


def overdue_critical(session: Session, *, team_ids: list[int], now: datetime,
                     alert_minutes: int) -> list[MedsDuty]:
    """Time-critical duties with no record `alert_minutes` after their due time (the last day's:
    older ones have paged already, so each sweep stays small)."""
    late = now - timedelta(minutes=alert_minutes)
    return list(session.exec(select(MedsDuty).where(
        col(MedsDuty.team_id).in_(team_ids), MedsDuty.status == "open",
        MedsDuty.time_critical == True,  # noqa: E712
        col(MedsDuty.due_at) <= late, col(MedsDuty.due_at) > late - timedelta(days=1))))


def next_critical(session: Session, *, team_id: int, now: datetime,
                  alert_minutes: int) -> datetime | None:
    """When the next open time-critical duty becomes overdue (for the simulated clock)."""
    due = session.exec(select(func.min(MedsDuty.due_at)).where(
        MedsDuty.team_id == team_id, MedsDuty.status == "open",
        MedsDuty.time_critical == True,  # noqa: E712
        col(MedsDuty.due_at) > now - timedelta(minutes=alert_minutes))).one()
    return _aware(due) + timedelta(minutes=alert_minutes) if due else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_exception(session: Session, **values) -> MedsException:
    row = MedsException(**values)
    session.add(row)
    session.flush()
    return row


def exceptions_between(session: Session, *, team_id: int, start: datetime,
                       end: datetime) -> list[datetime]:
    """The due times of duties with a late or missed entry, for the weekly trend."""
    return list(session.exec(
        select(MedsDuty.due_at).join(MedsException, col(MedsException.duty_id) == col(MedsDuty.id))
        .where(MedsException.team_id == team_id, col(MedsDuty.due_at) >= start,
               col(MedsDuty.due_at) < end)))


def first_duty(session: Session, *, team_id: int) -> datetime | None:
    return session.exec(select(func.min(MedsDuty.due_at)).where(MedsDuty.team_id == team_id)).one()


def check_for(session: Session, *, team_id: int, round: str, day: date) -> MedsCheck | None:
    return session.exec(select(MedsCheck).where(
        MedsCheck.team_id == team_id, MedsCheck.round == round, MedsCheck.day == day)).first()
