"""The audit log as a hash chain: the one way audit rows are written, and the check that they
were not changed since.

Each row has a sequence number and `hash = sha256(prev_hash + "\\n" + canonical JSON of its
fields)`, where prev_hash is the hash of the row before (GENESIS for the first). The chain head
(last seq and hash) is kept in its own one-row table, so rows deleted from the end, or appended
outside carebot, show too. Rows are chained as their transaction commits, under the head row's
lock, so two processes writing at once on one PostgreSQL still make one line. On PostgreSQL a trigger (migration
0005_audit_chain) refuses UPDATE and DELETE on the audit table. Audit rows are never purged:
retention (handlers/retention.py) leaves them alone.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Iterator

from sqlalchemy import Integer, bindparam, event
from sqlalchemy import text as sql
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, func, select

from storage.models import AuditEvent, AuditHead
from storage.privacy import mask_posted, mask_tree

GENESIS = "0" * 64
# pg_advisory_xact_lock key: any constant no other lock in carebot uses ("AUDT").
LOCK_KEY = 0x41554454
PENDING = "audit_pending"  # session.info key: rows waiting for the commit
FIELDS = ("seq", "at", "actor", "transport", "action", "team", "subject", "detail")


def canonical(values: dict[str, Any]) -> str:
    """The row's fields as one stable string: sorted keys, no spaces, times in UTC."""
    at = values["at"]
    if at.tzinfo is None:  # stored times are UTC; SQLite may hand back naive ones
        at = at.replace(tzinfo=UTC)
    row = {k: values[k] for k in FIELDS}
    row["at"] = at.astimezone(UTC).isoformat()
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(values)}".encode()).hexdigest()


def _fields(row: AuditEvent) -> dict[str, Any]:
    return {k: getattr(row, k) for k in FIELDS}


# Built once: every command that writes runs both (built anew, a statement costs more than
# running it). RETURNING (PostgreSQL, SQLite >= 3.35): the bump and the read in one round trip.
_HEAD = AuditHead.__table__
_BUMP = (_HEAD.update().where(_HEAD.c.id == 1)
         .values(seq=_HEAD.c.seq + bindparam("n", type_=Integer))
         .returning(_HEAD.c.seq, _HEAD.c.hash))
_SET_HASH = _HEAD.update().where(_HEAD.c.id == 1).values(hash=bindparam("b_hash"))
_INSERT_ROWS = AuditEvent.__table__.insert()


def _claim(session: Session, n: int) -> tuple[int, str]:
    """Move the chain head on by n rows; return (the first of our seqs, the hash before it).

    The head is bumped by an UPDATE before it is read: on PostgreSQL that locks the head row
    to commit, so a second writer waits and then reads our rows as its previous ones; on
    SQLite it takes the write lock, so the read cannot be stale.
    """
    moved = session.execute(_BUMP, {"n": n}).first()
    if moved is None:  # no head row yet (an empty database)
        head = AuditHead.__table__
        bump = head.update().where(head.c.id == 1).values(seq=head.c.seq + n)
        if session.connection().dialect.name == "postgresql":
            session.execute(sql("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        if session.execute(bump).rowcount == 0:
            session.execute(head.insert().values(id=1, seq=n, hash=GENESIS))
        moved = session.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).one()
    last, prev = moved
    return last - n + 1, prev


def append(session: Session, *, at: datetime, actor: str, transport: str, action: str,
           team: str | None = None, subject: str | None = None,
           detail: dict | None = None) -> None:
    """Record one audit row; it joins the chain when the caller's transaction commits.

    Chaining at commit keeps the head row's lock the last one any transaction takes and holds
    it only for the commit itself: writers queue briefly and can never deadlock on it.
    A rollback drops the row with everything else.
    """
    session.connection()  # join (or begin) the transaction, so a rollback drops the row too
    # What is hashed must be what the JSON column gives back.
    detail = json.loads(json.dumps(detail or {}, default=str))
    # Masked before hashing (the column gives back what was hashed). Details mix typed notes
    # with timestamps, so outside a team's day only the unambiguous shapes are masked.
    detail = mask_tree(detail, mask_posted)
    session.info.setdefault(PENDING, []).append(
        {"at": at, "actor": actor, "transport": transport, "action": action, "team": team,
         "subject": subject, "detail": detail})


@event.listens_for(OrmSession, "before_commit")
def _chain_pending(session: OrmSession) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the rows wait for the commit
        return  # (chained here, they cost 3 statements per savepoint and took the head lock early)
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    seq, prev = _claim(session, len(pending))
    rows = []
    for values in pending:
        values = {**values, "seq": seq}
        rows.append({**values, "prev_hash": prev, "hash": digest(prev, values)})
        seq, prev = seq + 1, rows[-1]["hash"]
    session.execute(_INSERT_ROWS, rows)  # Core: no ORM unit of work for rows nobody reads back
    session.execute(_SET_HASH, {"b_hash": prev})
    session.flush()


@event.listens_for(OrmSession, "after_transaction_end")
def _drop_pending(session: OrmSession, transaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(PENDING, None)


@dataclass
class Verdict:
    ok: bool
    rows: int  # rows checked
    head_seq: int
    head_hash: str
    problem: str | None = None  # the first broken link, naming the row

    def line(self) -> str:
        if self.ok:
            return (f"audit chain OK: {self.rows} rows checked, head #{self.head_seq} "
                    f"{self.head_hash}")
        return f"audit chain BROKEN: {self.problem}"


def _name(row: AuditEvent) -> str:
    return f"#{row.seq} (id {row.id}, {row.at.isoformat()} {row.action} by {row.actor})"


def _rows(session: Session, first: int, last: int | None) -> Iterator[AuditEvent]:
    """Rows in chain order, in batches (a year of audit need not fit in memory)."""
    after, batch = first - 1, 1000
    while True:
        query = select(AuditEvent).where(col(AuditEvent.seq) > after)
        if last is not None:
            query = query.where(col(AuditEvent.seq) <= last)
        rows = list(session.exec(query.order_by(col(AuditEvent.seq), col(AuditEvent.id))
                                 .limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the chain's last row as recorded: (0, GENESIS) before the first."""
    table = AuditHead.__table__
    row = session.execute(select(table.c.seq, table.c.hash).where(table.c.id == 1)).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def verify(session: Session, *, start: datetime | None = None,
           end: datetime | None = None) -> Verdict:
    """Walk the chain (or the stretch holding rows dated in [start, end)) and name the first
    broken link: a row changed, missing (deleted) or not written by carebot (inserted)."""
    head_seq, head_hash = head(session)
    first, last = 1, None
    if start is not None or end is not None:
        query = select(func.min(AuditEvent.seq), func.max(AuditEvent.seq))
        if start is not None:
            query = query.where(col(AuditEvent.at) >= start)
        if end is not None:
            query = query.where(col(AuditEvent.at) < end)
        low, high = session.exec(query).one()
        if low is None:
            return Verdict(True, 0, head_seq, head_hash)
        first, last = low, high
    expected_seq, expected_prev = first, GENESIS
    if first > 1:
        before = session.exec(select(AuditEvent).where(AuditEvent.seq == first - 1)).first()
        expected_prev = before.hash if before else None  # a missing one is named below
        if before is None:
            expected_seq = first - 1

    def broken(problem: str) -> Verdict:
        return Verdict(False, checked, head_seq, head_hash, problem)

    checked = 0
    for row in _rows(session, first, last):
        checked += 1
        if row.seq > head_seq:
            return broken(f"row {_name(row)} is past the chain head #{head_seq}: "
                          "it was inserted outside carebot")
        if row.seq < expected_seq:
            return broken(f"row {_name(row)} repeats sequence number #{row.seq}: "
                          "it was inserted outside carebot")
        if row.seq > expected_seq:
            gap = f"#{expected_seq}" + (f"–#{row.seq - 1}" if row.seq - 1 > expected_seq else "")
            return broken(f"{gap} missing before {_name(row)}: deleted")
        if digest(row.prev_hash, _fields(row)) != row.hash:
            return broken(f"row {_name(row)} does not match its hash: it was edited "
                          "(or inserted) after it was written")
        if expected_prev is not None and row.prev_hash != expected_prev:
            return broken(f"row {_name(row)} does not link to #{row.seq - 1}: #{row.seq - 1} "
                          f"was rewritten, or #{row.seq} was inserted")
        expected_seq, expected_prev = row.seq + 1, row.hash
    if last is None and expected_seq - 1 < head_seq:
        gap = f"#{expected_seq}" + (f"–#{head_seq}" if head_seq > expected_seq else "")
        return broken(f"{gap} missing at the end of the chain (head #{head_seq}): deleted")
    if last is None and head_seq and expected_prev != head_hash:
        return broken(f"the last row #{head_seq} does not match the recorded chain head")
    return Verdict(True, checked, head_seq, head_hash)


def rows_for(session: Session, *, team_keys: list[str], start: datetime,
             end: datetime) -> list[AuditEvent]:
    """The period's audit rows for these teams, plus rows about no team (e.g. retention)."""
    query = (select(AuditEvent).where(col(AuditEvent.at) >= start, col(AuditEvent.at) < end)
             .where((col(AuditEvent.team).in_(team_keys)) | (col(AuditEvent.team).is_(None)))
             .order_by(col(AuditEvent.seq)))
    return list(session.exec(query))


def pack_table(session: Session, *, team_keys: list[str], start: datetime, end: datetime):
    """The evidence pack's audit.csv: the period's rows with their links, so a reader can
    re-hash any run of consecutive rows (the chain head is in the HTML report)."""
    from storage.export import table

    return table("audit", "Audit log (hash-chained)",
                 ["seq", "at", "actor", "transport", "action", "team", "subject", "detail",
                  "prev_hash", "hash"],
                 [(r.seq, r.at, r.actor, r.transport, r.action, r.team, r.subject, r.detail,
                   r.prev_hash, r.hash)
                  for r in rows_for(session, team_keys=team_keys, start=start, end=end)])
