"""Delivering the outbox: leasing due rows, storing each platform's receipt, finishing or
failing a row, and the backlog /healthz reads. Queueing, keys and addresses: storage/outbox.py."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, func, update
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from storage.db import lock_for_claim
from storage.models import Outbox
from storage.outbox import PAGE, PERSON_LIKE

LEASE = timedelta(minutes=2)


def lease_due(session: Session, *, now: datetime, limit: int = 20,
              lease: timedelta = LEASE) -> list[Outbox]:
    """Take pending rows whose time has come; another sweeper skips them (locked, then leased).
    The payload is not loaded (read it with payload_texts): a fan-out leases hundreds of lists."""
    lock_for_claim(session)
    query = (select(Outbox).options(defer(Outbox.payload))
             .where(Outbox.status == "pending", col(Outbox.next_attempt_at) <= now)
             .order_by(col(Outbox.id)).limit(limit).with_for_update(skip_locked=True))
    rows = list(session.exec(query))
    # Rows tried before (a lease ran out, or a send failed): a platform may have sent without
    # a receipt, so delivery looks for the post before sending it again. Only a new row's
    # next_attempt_at is still its created_at.
    retried = session.info.setdefault("retried", set())
    for row in rows:
        if row.attempts or row.next_attempt_at > row.created_at:
            retried.add(row.id)
        row.next_attempt_at = now + lease
        session.add(row)
    session.flush()
    return rows


def payload_texts(session: Session, ids: list[int]) -> dict[int, str]:
    """Each row's payload as its JSON text, unparsed: the sender validates it straight from
    the text (pydantic reads JSON itself), and the lease's thread holds the interpreter lock
    for less: a lease that parsed 50 lists stalled the event loop's sends."""
    if not ids:
        return {}
    query = select(Outbox.id, cast(Outbox.payload, Text)).where(col(Outbox.id).in_(ids))
    return dict(session.exec(query).all())


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


def record_receipt(session: Session, *, row_id: int, transport: str, receipt: dict) -> None:
    """One platform has sent: store its receipt now (under the row lock, merged with the
    others), so a crash before the other platforms finish never re-sends this one. Only the
    receipts are read and written: a fan-out stores hundreds, and the row's payload is a list."""
    lock_for_claim(session)
    stored = session.exec(select(Outbox.receipts).where(Outbox.id == row_id)
                          .with_for_update()).one()
    session.execute(update(Outbox).where(col(Outbox.id) == row_id)
                    .values(receipts=merge_receipts(stored, {transport: receipt})))


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
