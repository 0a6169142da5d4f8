"""`carebot import contacts FILE.csv`: validate every row, then upsert in batches.

The file streams through once, in batches, inside one transaction: new contact_ids are
inserted, changed ones updated, unchanged ones left alone. A file with any bad row is
rejected whole (the transaction rolls back) and every bad row is listed with its line.
Outcomes already logged are never touched by a re-import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, String, any_, bindparam, select as core_select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from storage.csvfile import (ImportRejected, ImportResult, checked, personal_refs,  # noqa: F401
                             rows, when)
from storage.db import bulk_insert, session_scope
from storage.privacy import ref_problem
from storage.referrals import gated_refs
from storage.models import CONTACT_KINDS, RISKS, Client, Contact, OnCallShift, Person, Team

_UTC_ZONE = ZoneInfo("UTC")
COLUMNS = ["contact_id", "client_ref", "team", "kind", "due_start", "due_end", "assignee",
           "risk", "time_critical"]
# Optional columns (a file may leave them out): event_at, the referral / discharge / last
# review time, gives the window when due_start and due_end are empty: from event_at to
# event_at + the team's contract standard for the row's kind (config `[standards]`).
OPTIONAL_COLUMNS = ["event_at"]
_WINDOW = ("due_start", "due_end")
PLAN_FIELDS = ("client_id", "team_id", "kind", "due_start", "due_end", "assignee_id",
               "time_critical")
BATCH = 2000


@dataclass
class _Lookups:
    teams: dict[str, tuple[int, ZoneInfo]]
    people: dict[str, int]
    seen: set[str] = field(default_factory=set)
    standards: dict[str, dict[str, int]] = field(default_factory=dict)  # team key: kind: seconds
    # Memos for one import: a file repeats its times and client refs many times over, and
    # zone conversion and the ref shape checks are most of the per-row cost.
    times: dict[tuple[str, ZoneInfo], tuple[datetime, datetime]] = field(default_factory=dict)
    refs: dict[tuple[str, object], str | None] = field(default_factory=dict)
    clients: dict[str, tuple[int, str]] = field(default_factory=dict)  # ref: (id, stored risk)
    risks: dict[str, str] = field(default_factory=dict)  # ref: its risk on the latest row
    stored: dict[datetime, str] = field(default_factory=dict)  # its SQLite form, once
    # Client ref → "pending" | "declined": a referral not accepted, so no contact yet (the
    # front-door gate, handlers/referrals.py). One query for the whole import.
    gated: dict[str, str] = field(default_factory=dict)

    def when(self, text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """when(text, zone) and the same instant in UTC."""
        key = (text, zone)
        if (hit := self.times.get(key)) is None:
            value = when(text, zone)
            hit = self.times[key] = (value, value.astimezone(UTC))
        return hit

    def ref_problem(self, ref: str, day) -> str | None:
        key = (ref, day)
        if key not in self.refs:
            self.refs[key] = ref_problem(ref, day)
        return self.refs[key]


def _parse(row: dict, lk: _Lookups) -> dict:
    """One row to column values, or ValueError naming what is wrong."""
    problems = []
    cid = (row.get("contact_id") or "").strip()
    ref = (row.get("client_ref") or "").strip().upper()  # refs match case-insensitively
    if not cid:
        problems.append("contact_id is empty")
    elif len(cid) > 80:
        problems.append("contact_id is longer than 80 characters")
    elif cid in lk.seen:
        problems.append(f"contact_id {cid!r} appears twice in the file")
    if not ref:
        problems.append("client_ref is empty")
    elif len(ref) > 40 or " " in ref:
        problems.append(f"client_ref {ref!r} must be an opaque ref like C-7F3K (no spaces)")
    team_key = (row.get("team") or "").strip().lower()
    team = lk.teams.get(team_key)
    if team is None:
        problems.append(f"unknown team {team_key!r}")
    kind = (row.get("kind") or "").strip().lower()
    if kind not in CONTACT_KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(CONTACT_KINDS)}")
    risk = (row.get("risk") or "").strip().lower()
    if risk not in RISKS:
        problems.append(f"risk {risk!r} is not one of {', '.join(RISKS)}")
    assignee = (row.get("assignee") or "").strip().lower()
    if assignee and assignee not in lk.people:
        problems.append(f"unknown assignee {assignee!r}")
    critical = (row.get("time_critical") or "").strip().lower()
    if critical not in ("", "true", "false", "yes", "no", "1", "0"):
        problems.append(f"time_critical {critical!r} must be true or false")
    start = end = None
    zone = team[1] if team else _UTC_ZONE
    given = _WINDOW if row.get("due_start") or row.get("due_end") else ()
    if not given:  # no window: event_at + the kind's standard
        span = lk.standards.get(team_key, {}).get(kind)
        start = _from_event((row.get("event_at") or "").strip(), span, kind, zone, lk, problems)
        if start is not None:  # elapsed time: "48h" is 48 hours across a clock change too
            later = start[1] + timedelta(seconds=span)
            end = (later, later)
    for name in given:
        try:
            value = lk.when(row.get(name) or "", zone)
        except ValueError:
            problems.append(f"{name} {row.get(name)!r} is not an ISO 8601 date-time "
                            f"(e.g. 2026-11-24T09:00)")
            continue
        start, end = (value, end) if name == "due_start" else (start, value)
    if start and end and end[1] < start[1]:
        problems.append("due_end is before due_start")
    problems += personal_refs({"contact_id": cid, "client_ref": ref}, start and start[0],
                              lk.ref_problem)
    if ref in lk.gated:
        problems.append(f"client_ref {ref} has a {lk.gated[ref]} referral: "
                        + ("authorise it first (referral authorise REF basis=…)"
                           if lk.gated[ref] == "pending" else "it was declined, so no contacts"))
    if problems:
        raise ValueError("; ".join(problems))
    lk.seen.add(cid)
    return {"source_id": cid, "ref": ref, "risk": risk, "team_id": team[0], "kind": kind,
            "due_start": start[1], "due_end": end[1],
            "assignee_id": lk.people.get(assignee), "time_critical": critical in ("true", "yes", "1")}


def _from_event(text: str, span: int | None, kind: str, zone: ZoneInfo, lk: _Lookups,
                problems: list[str]) -> tuple[datetime, datetime] | None:
    """A row with no window: its event_at, when it has one and its kind has a standard."""
    if not text:
        problems.append(f"no window: due_start and due_end are empty and no event_at "
                        f"(give due_start and due_end, or event_at with a [standards] "
                        f"entry for kind {kind!r})")
        return None
    try:
        event = lk.when(text, zone)
    except ValueError:
        problems.append(f"event_at {text[:40]!r} is not an ISO 8601 date-time "
                        f"(e.g. 2026-11-22T14:00)")
        return None
    if span is None:
        problems.append(f"no window: kind {kind!r} has no contract standard for this team "
                        f"(add {kind} = \"48h\" to [standards] in the config, or give "
                        f"due_start and due_end)")
        return None
    return event


def _lookups(session: Session) -> _Lookups:
    teams = {t.key: (t.id, ZoneInfo(t.zone)) for t in session.exec(select(Team))}
    people = {p.handle: p.id for p in session.exec(select(Person).where(Person.active == True))}  # noqa: E712
    standards = {t.key: dict(t.standards or {}) for t in session.exec(select(Team))}
    return _Lookups(teams=teams, people=people, standards=standards, gated=gated_refs(session))


def import_contacts(engine: Engine, path: str | Path) -> ImportResult:
    """Import in one transaction: any bad row rolls everything back and is reported."""
    path = Path(path)
    with session_scope(engine) as session:
        lk = _lookups(session)
    result = ImportResult()
    with session_scope(engine) as session:
        batch: list[dict] = []
        for parsed in checked(path, COLUMNS, lambda row: _parse(row, lk)):
            batch.append(parsed)
            if len(batch) >= BATCH:
                _write(session, batch, result, lk)
                batch = []
        if batch:
            _write(session, batch, result, lk)
        _set_risks(session, result, lk)
    return result


ROTA_COLUMNS = ["person", "team", "starts_at", "ends_at"]


def import_rota(engine: Engine, path: str | Path) -> ImportResult:
    """`carebot import rota`: on-call shifts; idempotent on (person, team, starts_at)."""
    path = Path(path)
    with session_scope(engine) as session:
        lk = _lookups(session)
    result = ImportResult()
    with session_scope(engine) as session:
        for shift in checked(path, ROTA_COLUMNS, lambda row: _parse_shift(row, lk)):
            result.rows += 1
            row = session.exec(select(OnCallShift).where(
                OnCallShift.person_id == shift["person_id"], OnCallShift.team_id == shift["team_id"],
                OnCallShift.starts_at == shift["starts_at"])).first()
            if row is None:
                session.add(OnCallShift(**shift))
                result.inserted += 1
            elif row.ends_at != shift["ends_at"]:
                row.ends_at = shift["ends_at"]
                session.add(row)
                result.updated += 1
            else:
                result.unchanged += 1
    return result


def _parse_shift(row: dict, lk: _Lookups) -> dict:
    problems = []
    handle = (row.get("person") or "").strip().lower().lstrip("@")
    if handle not in lk.people:
        problems.append(f"unknown person {handle!r}")
    team = lk.teams.get((row.get("team") or "").strip().lower())
    if team is None:
        problems.append(f"unknown team {row.get('team')!r}")
    times = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = when(row.get(name) or "", team[1] if team else ZoneInfo("UTC"))
        except ValueError:
            problems.append(f"{name} {row.get(name)!r} is not an ISO 8601 date-time "
                            f"(e.g. 2026-11-24T17:00)")
    if len(times) == 2 and times["ends_at"] <= times["starts_at"]:
        problems.append("ends_at is not after starts_at")
    if problems:
        raise ValueError("; ".join(problems))
    return {"person_id": lk.people[handle], "team_id": team[0],
            "starts_at": times["starts_at"].astimezone(UTC), "ends_at": times["ends_at"].astimezone(UTC)}


def _among(conn: Connection, column, values):
    """`column IN values`; on PostgreSQL one array parameter instead of thousands of them."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(values)


_CLIENT = Client.__table__
_CONTACT = Contact.__table__
_PLAN = [_CONTACT.c[k] for k in PLAN_FIELDS]
_SET_PLAN = (update(_CONTACT).where(_CONTACT.c.id == bindparam("b_id"))
             .values({k: bindparam(f"b_{k}") for k in PLAN_FIELDS}))


def _clients(conn: Connection, refs: list[str]):
    return conn.execute(core_select(_CLIENT.c.ref, _CLIENT.c.id, _CLIENT.c.risk)
                        .where(_among(conn, _CLIENT.c.ref, refs)))


def _set_risks(session: Session, result: ImportResult, lk: _Lookups) -> None:
    """Each client's risk from its last row, written once at the end of the import (a file
    may list a client many times): one UPDATE per risk level and chunk of ids."""
    conn = session.connection()
    changed: dict[str, list[int]] = {}
    for ref, risk in lk.risks.items():
        id_, stored = lk.clients[ref]
        if stored != risk:
            changed.setdefault(risk, []).append(id_)
    for risk, ids in changed.items():
        for i in range(0, len(ids), 5000):  # SQLite caps the parameters of one statement
            conn.execute(update(_CLIENT).where(_CLIENT.c.id.in_(ids[i:i + 5000])).values(risk=risk))
        result.clients_written += len(ids)


def _write(session: Session, batch: list[dict], result: ImportResult, lk: _Lookups) -> None:
    """Upsert one batch with Core statements over plain tuples (the ORM's per-object work was
    most of an import): clients already seen by this import are not looked up again, new
    contacts go in by COPY on PostgreSQL, and only changed rows are updated."""
    conn = session.connection()
    result.rows += len(batch)
    risks = {r["ref"]: r["risk"] for r in batch}
    unknown = [ref for ref in risks if ref not in lk.clients]
    if unknown:
        lk.clients.update((ref, (id_, risk)) for ref, id_, risk in _clients(conn, unknown))
    new = [{"ref": ref, "risk": risks[ref]} for ref in unknown if ref not in lk.clients]
    if new:
        bulk_insert(session, _CLIENT, new)
        lk.clients.update((ref, (id_, risk)) for ref, id_, risk in
                          _clients(conn, [c["ref"] for c in new]))
    lk.risks.update(risks)
    result.clients_written += len(new)

    existing = {row[0]: row[1:] for row in conn.execute(
        core_select(_CONTACT.c.source_id, _CONTACT.c.id, *_PLAN)
        .where(_among(conn, _CONTACT.c.source_id, [r["source_id"] for r in batch])))}
    inserts, updates = [], []
    for r in batch:
        values = (lk.clients[r["ref"]][0], *(r[k] for k in PLAN_FIELDS[1:]))
        old = existing.get(r["source_id"])
        if old is None:
            inserts.append((r["source_id"], "open", *values))
        elif tuple(old[1:]) != values:
            updates.append({"b_id": old[0], **{f"b_{k}": v for k, v in zip(PLAN_FIELDS, values)}})
    _insert_contacts(session, inserts, lk)
    if updates:
        conn.execute(_SET_PLAN, updates)
    result.inserted += len(inserts)
    result.updated += len(updates)
    result.unchanged += len(batch) - len(inserts) - len(updates)


_NEW_CONTACT = ("source_id", "status", *PLAN_FIELDS)


def _insert_contacts(session: Session, rows: list[tuple], lk: _Lookups) -> None:
    """COPY on PostgreSQL; on SQLite the driver's executemany over plain tuples, each distinct
    time converted to its stored form once (SQLAlchemy would convert every cell)."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        bulk_insert(session, _CONTACT, [dict(zip(_NEW_CONTACT, row)) for row in rows])
        return
    stored = lk.stored
    convert = _CONTACT.c.due_start.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    for i, row in enumerate(rows):
        start, end = row[5], row[6]
        if (a := stored.get(start)) is None:
            a = stored[start] = convert(start)
        if (b := stored.get(end)) is None:
            b = stored[end] = convert(end)
        rows[i] = (*row[:5], a, b, *row[7:])
    names = ", ".join(_NEW_CONTACT)
    conn.exec_driver_sql(f"INSERT INTO {_CONTACT.name} ({names}) "
                         f"VALUES ({', '.join('?' * len(_NEW_CONTACT))})", rows)
