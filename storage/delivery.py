"""Delivering the outbox: leasing due rows, storing each platform's receipt, finishing or
failing a row, and the backlog /healthz reads. Queueing, keys and addresses: storage/outbox.py."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Text, and_, cast, func, update
from sqlmodel import Session, col, select

from storage.db import lock_for_claim
from storage.models import Outbox
from storage.outbox import PAGE, PERSON_LIKE

LEASE = timedelta(minutes=2)


def lease_due(session: Session, *, now: datetime, limit: int = 20,
              lease: timedelta = LEASE) -> list[Row]:
    """Take pending rows whose time has come; another sweeper skips them (locked, then leased).

    One SELECT of the columns a send needs, the payload as its JSON text (the sender validates
    it straight from the text, and a fan-out's lease parses nothing while the event loop sends),
    then one UPDATE pushing every taken row's next_attempt_at past the lease. `retried`: tried
    before (a lease ran out, or a send failed), so a platform may have sent without a receipt
    and delivery looks for the post before sending again; only a new row's next_attempt_at is
    still its created_at."""
    lock_for_claim(session)
    retried = (Outbox.attempts > 0) | (col(Outbox.next_attempt_at) > col(Outbox.created_at))
    query = (select(Outbox.id, Outbox.key, Outbox.target, Outbox.receipts, Outbox.revision,
                    Outbox.stale, Outbox.created_at, cast(Outbox.payload, Text).label("payload"),
                    retried.label("retried"))
             .where(Outbox.status == "pending", col(Outbox.next_attempt_at) <= now)
             .order_by(col(Outbox.id)).limit(limit).with_for_update(skip_locked=True))
    rows = list(session.exec(query))
    if rows:
        session.execute(update(Outbox).where(col(Outbox.id).in_([row.id for row in rows]))
                        .values(next_attempt_at=now + lease))
    return rows


def merge_receipts(stored: dict | None, new: dict) -> dict:
    """Per platform, the receipt showing the newer revision wins: two sweepers (one whose lease
    ran out) never wipe each other's receipts, and a partial one (a split post cut short) never
    replaces a complete one of the same revision."""
    merged = dict(stored or {})
    for name, receipt in new.items():
        old = merged.get(name)
        if old is None or receipt["rev"] > old["rev"] or receipt["rev"] == old["rev"] and \
                (old.get("partial") or not receipt.get("partial")):
            merged[name] = receipt
    return merged


def record_receipts(session: Session, items: list[tuple[int, str, dict]]) -> None:
    """Platforms have sent: store each (row, platform, receipt) now, under the rows' locks and
    merged with the receipts stored, so a crash before a row's other platforms finish never
    re-sends these. Only the receipts are read and written (a row's payload is a list), in one
    SELECT and one executemany UPDATE however many a fan-out's group commit brings."""
    lock_for_claim(session)
    ids = sorted({row_id for row_id, _, _ in items})
    stored = dict(session.exec(select(Outbox.id, Outbox.receipts)
                               .where(col(Outbox.id).in_(ids)).with_for_update()).all())
    for row_id, transport, receipt in items:
        stored[row_id] = merge_receipts(stored[row_id], {transport: receipt})
    session.execute(update(Outbox), [{"id": i, "receipts": stored[i]} for i in ids])


def finish_delivery(session: Session, *, row_id: int, now: datetime, receipts: dict,
                    revision: int, error: str | None, payload: dict | None = None) -> None:
    """Keep the receipts; on error back off 30 s, 1, 2, 4 … minutes (capped at 30), else done.

    If the post was refreshed while it was being sent, it stays pending for the newer revision.
    `payload`: a stale post's content as rendered for this send (kept unless marked stale again).
    """
    lock_for_claim(session)
    stored, current, attempts = session.exec(
        select(Outbox.receipts, Outbox.revision, Outbox.attempts)
        .where(Outbox.id == row_id).with_for_update()).one()
    values: dict[str, Any] = {"receipts": merge_receipts(stored, receipts)}
    if payload is not None and current == revision:
        values.update(payload=payload, stale=False)
    if error:
        values.update(attempts=attempts + 1, last_error=error[:500],
                      next_attempt_at=now + timedelta(seconds=min(30 * 2 ** attempts, 1800)))
    else:
        values["next_attempt_at"] = now  # the lease is over
        if current == revision:
            values.update(status="sent", sent_at=now, last_error=None)
    session.execute(update(Outbox).where(col(Outbox.id) == row_id).values(**values))


def fail_delivery(session: Session, *, row_id: int, now: datetime, receipts: dict,
                  revision: int, error: str) -> bool:
    """A post a platform refused for good: status "failed", never retried (a refresh with new
    content gives it one more try). False if it was refreshed meanwhile and stays pending."""
    lock_for_claim(session)
    row = session.exec(select(Outbox).where(Outbox.id == row_id).with_for_update()).one()
    row.receipts = merge_receipts(row.receipts, receipts)
    row.attempts, row.last_error = row.attempts + 1, error[:500]
    row.next_attempt_at = now
    if row.revision == revision:
        row.status = "failed"
    session.add(row)
    return row.status == "failed"


def failed_posts(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Outbox)
                        .where(Outbox.status == "failed")).one()


def outbox_backlog(session: Session) -> dict[str, Any]:
    """Pending rows (how many, when the oldest was queued, how many are escalation pages)
    and failed rows, in one query: /healthz and /metrics read it on every probe."""
    pending = Outbox.status == "pending"
    page = and_(pending, col(Outbox.target).like(PERSON_LIKE), col(Outbox.key).like(PAGE.like()))
    count, oldest, pages, failed = session.exec(select(
        func.count().filter(pending), func.min(Outbox.created_at).filter(pending),
        func.count().filter(page), func.count().filter(Outbox.status == "failed"))
        .where(col(Outbox.status).in_(["pending", "failed"]))).one()
    return {"pending": count, "oldest": oldest, "pages": pages, "failed": failed}
