"""Queries for the front door (handlers/referrals.py) and `carebot import referrals FILE.csv`.

The import follows the contacts import's rules (storage/csvfile.py): every bad line listed with
its number, nothing written on a bad file, and a re-import changes nothing. A decision already
taken (authorised, declined) is never touched by a re-import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage import audit
from storage.csvfile import ImportResult, checked, personal_refs, when
from storage.db import session_scope
from storage.models import Membership, Person, Referral, Team

STATUSES = ("pending", "authorised", "declined")
GATED = ("pending", "declined")  # their clients cannot become contacts
COLUMNS = ["client_ref", "team", "source", "received_at"]  # `basis` is optional


def settings(team: Team) -> dict:
    """The team's front-door settings as synced from the config, with the defaults."""
    from storage.config_sync import DEFAULT_ELIGIBILITY_BASES

    got = team.referrals or {}
    return {"bases": list(got.get("bases") or DEFAULT_ELIGIBILITY_BASES),
            "pending_hours": int(got.get("pending_hours") or 24),
            "sample_pct": int(got.get("sample_pct") or 20)}


def gated_refs(session: Session) -> dict[str, str]:
    """Client ref → status of every pending or declined referral: one query, for an import."""
    return dict(session.exec(select(Referral.ref, Referral.status)
                             .where(col(Referral.status).in_(GATED))).all())


def by_ref(session: Session, ref: str) -> Referral | None:
    return session.exec(select(Referral).where(Referral.ref == ref)).first()


def pending(session: Session, *, team_ids: list[int]) -> list[Referral]:
    return list(session.exec(select(Referral).where(
        col(Referral.team_id).in_(team_ids), Referral.status == "pending")
        .order_by(col(Referral.received_at), col(Referral.id))))


def unreminded(session: Session, *, team_ids: list[int], before: datetime) -> list[Referral]:
    """Pending since `before` or earlier, the authorisers not yet told: one query, all teams."""
    return list(session.exec(select(Referral).where(
        col(Referral.team_id).in_(team_ids), Referral.status == "pending",
        col(Referral.reminded_at).is_(None), col(Referral.received_at) <= before)
        .order_by(col(Referral.id))))


def first_unreminded_after(session: Session, *, team_id: int, after: datetime) -> datetime | None:
    """The earliest received_at after `after` of the team's pending, unreminded referrals."""
    return session.exec(select(func.min(Referral.received_at)).where(
        Referral.team_id == team_id, Referral.status == "pending",
        col(Referral.reminded_at).is_(None), col(Referral.received_at) > after)).one()


def authorised_between(session: Session, *, team_id: int, start: datetime,
                       end: datetime) -> list[Referral]:
    return list(session.exec(select(Referral).where(
        Referral.team_id == team_id, Referral.status == "authorised",
        col(Referral.authorised_at) >= start, col(Referral.authorised_at) < end)
        .order_by(col(Referral.id))))


def sampled_on(session: Session, *, team_id: int, day: date) -> list[Referral]:
    return list(session.exec(select(Referral).where(
        Referral.team_id == team_id, Referral.sampled == True,  # noqa: E712
        Referral.sample_day == day).order_by(col(Referral.id))))


def unvalidated(session: Session, *, team_id: int, before: date) -> list[Referral]:
    """Sampled referrals still to validate whose sample day ended before `before`."""
    return list(session.exec(select(Referral).where(
        Referral.team_id == team_id, Referral.sampled == True,  # noqa: E712
        Referral.status == "authorised", col(Referral.validated_at).is_(None),
        col(Referral.sample_day) < before).order_by(col(Referral.sample_day), col(Referral.id))))


def authorisers(session: Session, *, team_id: int) -> list[Person]:
    """Who may authorise for the team: its managers and the people flagged `authoriser`."""
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team_id, Person.active == True,  # noqa: E712
               or_(Person.role == "manager", Person.authoriser == True))  # noqa: E712
        .order_by(col(Person.handle))))


def validators(session: Session, *, team_id: int) -> list[Person]:
    """Who validates the sample: the team's supervisors and its flagged authorisers."""
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.team_id == team_id, Person.active == True,  # noqa: E712
               or_(Person.role == "supervisor", Person.authoriser == True))  # noqa: E712
        .order_by(col(Person.handle))))


def pack_rows(session: Session, *, team_ids: list[int], start: datetime, end: datetime) -> list:
    """The evidence pack's referrals.csv rows (see storage/export.py for the conventions)."""
    team = {t.id: t.key for t in session.exec(select(Team))}
    person = {p.id: p.handle for p in session.exec(select(Person))}
    rows = session.exec(select(Referral).where(
        col(Referral.team_id).in_(team_ids), col(Referral.received_at) >= start,
        col(Referral.received_at) < end).order_by(col(Referral.received_at), col(Referral.id)))
    return [(r.ref, team[r.team_id], r.source, r.basis, r.status, r.received_at,
             person.get(r.added_by_id), person.get(r.authorised_by_id), r.authorised_at,
             person.get(r.declined_by_id), r.declined_at, r.declined_reason, r.sampled,
             r.sample_day, person.get(r.validated_by_id), r.validated_at, r.result, r.note)
            for r in rows]


PACK_COLUMNS = ["client_ref", "team", "source", "basis", "status", "received_at", "added_by",
                "authorised_by", "authorised_at", "declined_by", "declined_at",
                "declined_reason", "sampled", "sample_day", "validated_by", "validated_at",
                "result", "note"]


# ---------------------------------------------------------------- `carebot import referrals`


@dataclass
class _Lookups:
    teams: dict[str, tuple[int, ZoneInfo, list[str]]]  # key: (id, zone, bases)
    existing: dict[str, Referral]
    seen: set[str] = field(default_factory=set)


def _parse(row: dict, lk: _Lookups) -> dict:
    problems = []
    ref = (row.get("client_ref") or "").strip().upper()
    if not ref:
        problems.append("client_ref is empty")
    elif len(ref) > 40 or " " in ref:
        problems.append(f"client_ref {ref!r} must be an opaque ref like C-7F3K (no spaces)")
    elif ref in lk.seen:
        problems.append(f"client_ref {ref!r} appears twice in the file")
    key = (row.get("team") or "").strip().lower()
    team = lk.teams.get(key)
    if team is None:
        problems.append(f"unknown team {key!r}")
    source = " ".join((row.get("source") or "").split())
    if not source:
        problems.append("source is empty (who referred: e.g. gp, ward, self)")
    elif len(source) > 80:
        problems.append("source is longer than 80 characters")
    basis = (row.get("basis") or "").strip().lower() or None
    if basis and team and basis not in team[2]:
        problems.append(f"basis {basis!r} is not one of {', '.join(team[2])}")
    try:
        received = when(row.get("received_at") or "", team[1] if team else ZoneInfo("UTC"))
    except ValueError:
        received = None
        problems.append(f"received_at {row.get('received_at')!r} is not an ISO 8601 date-time "
                        "(e.g. 2026-11-24T09:00)")
    old = lk.existing.get(ref)
    if old is not None and team and old.team_id != team[0]:
        problems.append(f"client_ref {ref!r} is already referred to another team")
    problems += personal_refs({"client_ref": ref}, received)
    if problems:
        raise ValueError("; ".join(problems))
    lk.seen.add(ref)
    return {"ref": ref, "team_id": team[0], "source": source, "basis": basis,
            "received_at": received.astimezone(UTC)}


def import_referrals(engine: Engine, path: str | Path, now: datetime | None = None,
                     actor: str = "cli") -> ImportResult:
    """In one transaction: a bad row rolls everything back and every bad row is reported.
    A row with a basis is accepted on it; without one it is pending authorisation."""
    path, now = Path(path), now or datetime.now(UTC)
    result = ImportResult()
    with session_scope(engine) as session:
        lk = _Lookups(teams={t.key: (t.id, ZoneInfo(t.zone), settings(t)["bases"])
                             for t in session.exec(select(Team))},
                      existing={r.ref: r for r in session.exec(select(Referral))})
        for r in checked(path, COLUMNS, lambda row: _parse(row, lk)):
            result.rows += 1
            old = lk.existing.get(r["ref"])
            status = "authorised" if r["basis"] else "pending"
            if old is None:
                session.add(Referral(**r, status=status,
                                     authorised_at=now if r["basis"] else None))
                result.inserted += 1
            elif old.status != "pending" or \
                    (old.source, old.basis, old.received_at) == (r["source"], r["basis"],
                                                                r["received_at"]):
                result.unchanged += 1  # a decision is never undone by a re-import
            else:
                old.source, old.basis, old.received_at, old.status = (
                    r["source"], r["basis"], r["received_at"], status)
                old.authorised_at = now if r["basis"] else None
                session.add(old)
                result.updated += 1
        if result.written:
            audit.append(session, at=now, actor=actor, transport="cli", action="referral:import",
                         subject=path.name, detail={"rows": result.rows,
                                                    "new": result.inserted,
                                                    "updated": result.updated})
    return result
