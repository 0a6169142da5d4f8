"""Delivers queued posts and DMs. Runs after each command and on a timer; safe to run twice.

A sweep leases due rows (row lock with SKIP LOCKED on PostgreSQL, then `next_attempt_at`
pushed past the lease and committed) and sends each through every transport that reaches its
target and has not sent it yet, the platforms of a row side by side, each receipt stored as
soon as its send completes. A failure keeps the row pending with a back-off: never dropped,
unless a platform refused the post itself (Refused, e.g. Telegram's 400 twice): then it is
marked failed, not retried, and the team's managers get a DM saying so. A crash mid-send
leaves the lease to expire and the row is tried again, skipping the transports whose receipts
were stored; a transport with `find_post` (Slack: the key is in the message metadata) first
looks for a post that went out without its receipt, so Slack is exactly once across crashes,
Telegram (no history for bots) at least once. A team post whose revision moved on since a
transport sent it is edited in place through that transport.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Sequence

from sqlalchemy.engine import Engine

from bot.transport import Refused, Transport
from handlers.base import Clock
from handlers.contacts import fresh_payload
from messages import catalog
from messages.reply import Reply
from storage import repo
from storage.db import session_scope
from storage.escalations import with_role

log = logging.getLogger(__name__)
IN_FLIGHT = 20  # sends at once per platform (Telegram's own rate limiter paces within that)


async def deliver_due(engine: Engine, clock: Clock, transports: Sequence[Transport]) -> int:
    """Send what is due now; return how many rows were completed."""
    done, limits = 0, {t.name: asyncio.Semaphore(IN_FLIGHT) for t in transports}
    while True:
        leased = await asyncio.to_thread(_lease, engine, clock)
        if not leased:
            return done
        # Targets side by side, each target's rows in order (a channel's posts keep theirs).
        by_target: dict[str, list[dict]] = {}
        for job in leased:
            by_target.setdefault(job["target_key"], []).append(job)

        async def in_order(jobs: list[dict]) -> int:
            return sum([await _send(engine, clock, transports, job, limits) for job in jobs])

        completed = sum(await asyncio.gather(*(in_order(jobs) for jobs in by_target.values())))
        done += completed
        if len(leased) < repo.LEASE_BATCH and completed == len(leased):
            # A short batch took every row due when it was leased; rows queued or marked stale
            # since are the next sweep's (their command asked for one). Leasing on while commands
            # keep marking a live list would edit it once per command and never end. (A row not
            # completed may have queued its managers' DMs: those go out in this sweep.)
            return done


def _lease(engine: Engine, clock: Clock) -> list[dict]:
    with session_scope(engine) as session:
        rows = repo.lease_due(session, now=clock.now())
        jobs = []
        for row in rows:
            kind, _, name = row.target.partition(":")
            target = (repo.team_by_key(session, name) if kind == "team"
                      else repo.person_by_handle(session, name))
            home = (repo.teams_of(session, target) or [None])[0] if kind == "person" and target \
                else None
            jobs.append({"id": row.id, "key": row.key, "kind": kind, "target": target,
                         "target_key": row.target,
                         "home": home, "payload": row.payload,
                         "receipts": dict(row.receipts or {}), "revision": row.revision,
                         "stale": row.stale, "created_at": row.created_at,
                         "retried": row.id in session.info.get("retried", ())})
        return jobs


def _render(engine: Engine, clock: Clock, key: str) -> dict | None:
    """A stale post's content (e.g. the morning list after a `done`), rendered here rather than
    by the command, and outside the lease's write transaction (SQLite has one writer)."""
    with session_scope(engine) as session:
        return fresh_payload(session, key, clock.now())


async def _send(engine: Engine, clock: Clock, transports: Sequence[Transport], job: dict,
                limits: dict[str, asyncio.Semaphore] | None = None) -> int:
    fresh = await asyncio.to_thread(_render, engine, clock, job["key"]) if job["stale"] else None
    reply = Reply.model_validate(fresh or job["payload"])
    target, receipts, rev, errors = job["target"], job["receipts"], job["revision"], []
    refused: list[str] = []
    team_post = job["kind"] == "team"
    if target is not None and not team_post and job["home"] is not None and \
            not any(t.reaches_person(target) for t in transports):
        # No way to DM this person: say it in their home team's channel instead, first line
        # naming nobody, and keep that in the receipts (the record of how they were told).
        reply = catalog.dm_fallback(job["home"].name, target.name, reply)
        target, team_post = job["home"], True

    async def via(t: Transport) -> None:
        sent = receipts.get(t.name)
        if target is None or (sent is not None and (sent["rev"] >= rev or not team_post)):
            return
        if not (t.reaches_team(target) if team_post else t.reaches_person(target)):
            return
        async with (limits or {}).get(t.name) or contextlib.nullcontext():
            await send(t, sent)

    async def send(t: Transport, sent: dict | None) -> None:
        try:
            ref = None
            if sent is None and job["retried"] and getattr(t, "find_post", None):
                # Tried before without a receipt: it may have gone out just before a crash.
                ref = await t.find_post(target, key=job["key"], team_post=team_post,
                                        since=job["created_at"])
            if ref is not None:
                log.info("outbox %s: found already sent via %s", job["key"], t.name)
                if team_post and rev:  # it may show an older revision: bring it up to date
                    ref = await t.update_team_post(target, reply, key=job["key"], ref=ref)
            elif sent is not None:
                ref = await t.update_team_post(target, reply, key=job["key"], ref=sent["ref"])
            elif team_post:
                ref = await t.post_to_team(target, reply, key=job["key"])
            else:
                ref = await t.notify(target, reply, key=job["key"])
            receipts[t.name] = {"ref": ref, "rev": rev}
            await asyncio.to_thread(_receipt, engine, job["id"], t.name, receipts[t.name])
        except Refused as exc:  # the post itself is the problem: retrying cannot help
            log.error("outbox %s refused by %s: %s", job["key"], t.name, exc)
            refused.append(f"{t.name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure means "try later"
            log.warning("outbox %s via %s failed: %s", job["key"], t.name, exc)
            errors.append(f"{t.name}: {exc}")

    # Each platform on its own: Slack never waits for Telegram's pacing, and each receipt is
    # stored the moment its send completes.
    await asyncio.gather(*(via(t) for t in transports))
    if refused and not errors:  # with another platform still failing for now, retry it first
        team = target if team_post else job["home"]
        where = ", ".join(r.split(":")[0].title() for r in refused)
        await asyncio.to_thread(_fail, engine, clock, job, team, where, receipts,
                                "; ".join(refused))
        return 0
    errors += refused
    if target is None:
        errors.append(f"no such {job['kind']} any more")
    elif not receipts and not errors:  # nothing reached it: keep it queued, never drop it
        errors.append(f"no transport reaches {job['kind']} {job['key']}")
    await asyncio.to_thread(_finish, engine, clock, job["id"], receipts, rev, errors, fresh)
    return 0 if errors else 1


def _receipt(engine: Engine, row_id: int, transport: str, receipt: dict) -> None:
    with session_scope(engine) as session:
        repo.record_receipt(session, row_id=row_id, transport=transport, receipt=receipt)


def _finish(engine: Engine, clock: Clock, row_id: int, receipts: dict, rev: int,
            errors: list[str], payload: dict | None = None) -> None:
    with session_scope(engine) as session:
        repo.finish_delivery(session, row_id=row_id, now=clock.now(), receipts=receipts,
                             revision=rev, error="; ".join(errors) or None, payload=payload)


def _fail(engine: Engine, clock: Clock, job: dict, team, where: str, receipts: dict,
          error: str) -> None:
    """Mark the row failed and queue one DM per manager of the team (once per row)."""
    with session_scope(engine) as session:
        failed = repo.fail_delivery(session, row_id=job["id"], now=clock.now(), receipts=receipts,
                                    revision=job["revision"], error=error)
        if not failed or team is None or job["key"].startswith("failed:"):
            return  # a refused alert is not alerted about again
        reply = catalog.post_refused(team.name, job["key"], where).model_dump(mode="json")
        for manager in with_role(session, team_id=team.id, role="manager"):
            repo.enqueue(session, key=f"failed:{job['id']}:{manager.handle}",
                         target=f"person:{manager.handle}", payload=reply, now=clock.now())
