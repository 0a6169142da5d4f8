"""The documentation sample's queries: the done contacts a draw picks from, the sample rows,
repeat defects, and the figures the weekly status and the evidence pack show."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from storage.models import Client, Contact, DocSample, Person, Team


@dataclass(frozen=True)
class Line:
    """A sample row with what the words need: the client ref, contact id and kind."""

    row: DocSample
    ref: str
    contact: str  # the import file's contact id
    kind: str
    due: datetime


def whose(contact: Contact) -> int | None:
    """Whose record a contact is: the person it was assigned to (who answers for the visit and
    its notes), or, with no assignee, whoever logged it done."""
    return contact.assignee_id or contact.logged_by_id


def done_contacts(session: Session, *, team_id: int, start: datetime,
                  end: datetime) -> dict[int, list[int]]:
    """{person id: [contact ids, ascending]} for the team's contacts due in [start, end) and
    logged done."""
    rows = session.exec(select(Contact).where(
        Contact.team_id == team_id, Contact.status == "done", col(Contact.due_start) >= start,
        col(Contact.due_start) < end).order_by(col(Contact.id)))
    out: dict[int, list[int]] = {}
    for c in rows:
        if whose(c) is not None:
            out.setdefault(whose(c), []).append(c.id)
    return out


def drawn(session: Session, *, team_id: int, week: str) -> bool:
    return session.exec(select(DocSample.id).where(DocSample.team_id == team_id,
                                                   DocSample.week == week)).first() is not None


def add(session: Session, rows: list[DocSample]) -> None:
    session.add_all(rows)
    session.flush()


def latest_week(session: Session, *, team_id: int) -> str | None:
    """The week of the team's most recent draw: the current sample."""
    return session.exec(select(func.max(DocSample.week))
                        .where(DocSample.team_id == team_id)).one()


def lines(session: Session, *, team_id: int, week: str) -> list[Line]:
    rows = session.exec(select(DocSample, Client.ref, Contact.source_id, Contact.kind,
                               Contact.due_start)
                        .join(Contact, col(Contact.id) == col(DocSample.contact_id))
                        .join(Client, col(Client.id) == col(Contact.client_id))
                        .where(DocSample.team_id == team_id, DocSample.week == week)
                        .order_by(col(DocSample.person_id), col(Contact.due_start),
                                  col(DocSample.id)))
    return [Line(row, ref, source, kind, due) for row, ref, source, kind, due in rows]


def defects(session: Session, *, team_id: int, weeks: list[str]) -> dict[int, dict[str, int]]:
    """{person id: {defect code: n}} over the team's samples of these weeks."""
    rows = session.exec(select(DocSample.person_id, DocSample.defect_code, func.count())
                        .where(DocSample.team_id == team_id, col(DocSample.week).in_(weeks),
                               DocSample.result == "defect")
                        .group_by(DocSample.person_id, DocSample.defect_code))
    out: dict[int, dict[str, int]] = {}
    for person_id, code, n in rows:
        out.setdefault(person_id, {})[code] = int(n)
    return out


def pack_rows(session: Session, *, team_ids: list[int], start: datetime, end: datetime) -> list:
    """The samples drawn in [start, end), as the evidence pack's rows (as stored)."""
    team = {t.id: t.key for t in session.exec(select(Team))}
    person = {p.id: p.handle for p in session.exec(select(Person))}
    rows = session.exec(select(DocSample, Client.ref, Contact.source_id)
                        .join(Contact, col(Contact.id) == col(DocSample.contact_id))
                        .join(Client, col(Client.id) == col(Contact.client_id))
                        .where(col(DocSample.team_id).in_(team_ids),
                               col(DocSample.drawn_at) >= start, col(DocSample.drawn_at) < end)
                        .order_by(col(DocSample.team_id), col(DocSample.week), col(DocSample.id)))
    return [(team[s.team_id], s.week, source, ref, person.get(s.person_id), s.reason, s.drawn_at,
             s.result, s.defect_code, s.note, person.get(s.audited_by_id), s.audited_at)
            for s, ref, source in rows]


PACK_COLUMNS = ["team", "week", "contact_id", "client_ref", "person", "reason", "drawn_at",
                "result", "defect_code", "note", "audited_by", "audited_at"]


def defect_rate(session: Session, *, team_ids: list[int], start: datetime,
                end: datetime) -> tuple[int, int]:
    """(records audited, of them defects) for the teams' sample rows audited in (start, end]
    (up to and including `end`, so an audit made now counts now): the outcome metric
    `doc_defects` (handlers/metrics.py)."""
    audited, defective = session.exec(
        select(func.count(), func.coalesce(func.sum(
            case((col(DocSample.result) == "defect", 1), else_=0)), 0))
        .where(col(DocSample.team_id).in_(team_ids), col(DocSample.audited_at).is_not(None),
               col(DocSample.audited_at) > start, col(DocSample.audited_at) <= end)).one()
    return int(audited), int(defective)
