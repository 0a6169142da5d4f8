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
Telegram (no history for bots) at least once: a transport `in_parts` (Telegram) stores a
partial receipt as each part of a split post goes, and a retry sends only the missing parts. A team post whose revision moved on since a
transport sent it is edited in place through that transport.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from datetime import timedelta
from typing import Callable, Sequence

from sqlalchemy.engine import Engine

from bot.transport import Refused, Transport, Unreachable
from handlers.base import Clock
from handlers.contacts import fresh_payload
from messages import catalog
from messages.reply import MASKED, Reply
from storage import outbox, repo
from storage.db import session_scope
from storage.escalations import with_role
from storage.outbox import Address

log = logging.getLogger(__name__)
IN_FLIGHT = 20  # sends at once per platform (each transport paces within its platform's limits)
BATCH = 50  # rows leased at a time: a fan-out's first sends start after one lease, not several
AHEAD = 200  # rows leased and not finished yet: how far Slack may run ahead of Telegram's pacing


async def deliver_due(engine: Engine, clock: Clock, transports: Sequence[Transport],
                      lease: timedelta = repo.LEASE) -> int:
    """Send what is due now; return how many rows were completed.

    Rows go side by side, each platform on its own: a row's Slack post does not wait for its
    Telegram messages, nor for the rows before it on Telegram, only for the earlier posts to
    the same target on the same platform (a channel's posts keep their order). More rows are
    leased as soon as there is room, up to AHEAD unfinished, so a slow platform never holds
    back a fast one; AHEAD also keeps a sweep's Telegram messages well inside the lease."""
    limits = {t.name: asyncio.Semaphore(IN_FLIGHT) for t in transports}
    receipts = Receipts(engine)
    turns: dict[tuple[str, str], asyncio.Future] = {}  # (target, platform) -> its last send
    running: set[asyncio.Task] = set()
    done, more, incomplete = 0, True, False
    try:
        while True:
            room = AHEAD - len(running)
            if room > 0 and (more or (not running and incomplete)):
                # A row not completed may have queued its managers' DMs: one more pass.
                incomplete = False
                want = min(BATCH, room)
                leased = await _write(engine, _lease, engine, clock, want, lease)
                loop = asyncio.get_running_loop()
                for job in leased:
                    order = {}
                    for t in transports:  # wait for the target's previous send on t, then go
                        mine = loop.create_future()
                        order[t.name] = (turns.get((job["target_key"], t.name)), mine)
                        turns[(job["target_key"], t.name)] = mine
                    running.add(asyncio.create_task(
                        _send(engine, clock, transports, job, limits, order, receipts)))
                more = len(leased) == want
                if not running:
                    return done
                if more:
                    continue
            if not running:
                # A short lease took every row due when it was leased, and all completed: rows
                # queued or marked stale since are the next sweep's (their command asked for
                # one). Leasing on while commands keep marking a live list would edit it once per
                # command, never ending.
                return done
            finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            results = [task.result() for task in finished]
            done += sum(results)
            incomplete = incomplete or 0 in results
    finally:  # stopped (shutdown) or failed: its sends end with it, none left running unowned
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")


async def _write(engine: Engine, fn, *args):
    """Run an outbox write. On SQLite (one writer at a time) every write of this process goes
    through one thread: writers queued in threads of their own wait in SQLite's busy handler,
    which sleeps in steps of up to 100 ms, so a fan-out's receipts and leases stalled each other."""
    if engine.dialect.name != "sqlite":
        return await asyncio.to_thread(fn, *args)
    return await asyncio.get_running_loop().run_in_executor(_WRITER, functools.partial(fn, *args))


def _lease(engine: Engine, clock: Clock, limit: int = BATCH,
           lease: timedelta = repo.LEASE) -> list[dict]:
    with session_scope(engine) as session:
        rows = repo.lease_due(session, now=clock.now(), limit=limit, lease=lease)
        addresses = {row.target: astuple(Address.parse(row.target)) for row in rows}
        # Every team and person of the lease in one query each (a fan-out: 200 teams a lease).
        teams = repo.teams_by_key(session, [n for k, n in addresses.values() if k == "team"])
        people = repo.people_by_handle(session, [n for k, n in addresses.values() if k != "team"])
        homes = {handle: (repo.teams_of(session, person) or [None])[0]
                 for handle, person in people.items()}
        jobs = []
        for row in rows:
            kind, name = addresses[row.target]
            target = teams.get(name) if kind == "team" else people.get(name)
            home = homes.get(name) if kind != "team" else None
            jobs.append({"id": row.id, "key": row.key, "kind": kind, "target": target,
                         "target_key": row.target,
                         "home": home, "payload": row.payload,  # JSON text
                         "receipts": dict(row.receipts or {}), "revision": row.revision,
                         "stale": row.stale, "created_at": row.created_at,
                         "retried": bool(row.retried)})
        return jobs


def _render(engine: Engine, clock: Clock, key: str) -> dict | None:
    """A stale post's content (e.g. the morning list after a `done`), rendered here rather than
    by the command, and outside the lease's write transaction (SQLite has one writer)."""
    with session_scope(engine) as session:
        return fresh_payload(session, key, clock.now())


async def _send(engine: Engine, clock: Clock, transports: Sequence[Transport], job: dict,
                limits: dict[str, asyncio.Semaphore], order: dict[str, tuple],
                store: Receipts) -> int:
    try:
        return await _send_row(engine, clock, transports, job, limits, order, store)
    finally:  # whatever happened, the target's next posts must not wait for ever
        for _, mine in order.values():
            if not mine.done():
                mine.set_result(None)


async def _send_row(engine: Engine, clock: Clock, transports: Sequence[Transport], job: dict,
                    limits: dict[str, asyncio.Semaphore], order: dict[str, tuple],
                    store: Receipts) -> int:
    fresh = await asyncio.to_thread(_render, engine, clock, job["key"]) if job["stale"] else None
    target, receipts, rev, errors = job["target"], job["receipts"], job["revision"], []
    refused: list[str] = []
    team_post = job["kind"] == "team"
    fallback = target is not None and not team_post and job["home"] is not None and \
        not any(t.reaches_person(target) for t in transports)
    if fallback:
        target, team_post = job["home"], True

    def the_reply() -> Reply:
        """Made afresh for each platform, only when its turn comes, and not kept: a fan-out's
        replies (hundreds of objects each) are garbage before their sends wait on the network,
        rather than surviving into the collector's oldest generation (full collections)."""
        reply = Reply.model_validate(fresh, context=MASKED) if fresh else \
            Reply.model_validate_json(job["payload"], context=MASKED)
        if fallback:
            # No way to DM this person: say it in their home team's channel instead, first
            # line naming nobody, and keep that in the receipts (how they were told).
            reply = catalog.dm_fallback(job["home"].name, job["target"].name, reply)
        return reply

    async def via(t: Transport) -> None:
        before, mine = order.get(t.name, (None, None))
        try:
            if before is not None:
                await asyncio.shield(before)
            await after_turn(t)
        finally:
            if mine is not None and not mine.done():
                mine.set_result(None)

    async def after_turn(t: Transport) -> None:
        sent = receipts.get(t.name)
        if target is None or (sent is not None and not sent.get("partial")
                              and (sent["rev"] >= rev or not team_post)):
            return
        if not (t.reaches_team(target) if team_post else t.reaches_person(target)):
            return
        await send(t, sent)

    async def send(t: Transport, sent: dict | None) -> None:
        async def progress(partial: dict) -> None:  # a split post: each part stored as it goes
            receipts[t.name] = {"ref": partial, "rev": rev, "partial": True}
            await store.add(job["id"], t.name, receipts[t.name])

        parts = {"progress": progress} if getattr(t, "in_parts", False) else {}
        try:
            # The platform's slot is held for the send only, not for the receipt's write.
            async with limits[t.name]:
                ref, post = None, prepared(t, the_reply)
                if sent is None and job["retried"] and getattr(t, "find_post", None):
                    # Tried before without a receipt: it may have gone out just before a crash.
                    ref = await t.find_post(target, key=job["key"], team_post=team_post,
                                            since=job["created_at"])
                if ref is not None:
                    log.info("outbox %s: found already sent via %s", job["key"], t.name)
                    if team_post and rev:  # it may show an older revision: bring it up to date
                        ref = await t.update_team_post(target, post, key=job["key"], ref=ref)
                elif sent is not None:  # an older revision, or (DMs too) a send cut short
                    ref = await t.update_team_post(target, post, key=job["key"],
                                                   ref=sent["ref"], **parts)
                elif team_post:
                    ref = await t.post_to_team(target, post, key=job["key"], **parts)
                else:
                    ref = await _notify(engine, clock, t, job, post, the_reply, parts)
            receipts[t.name] = {"ref": ref, "rev": rev}
            await store.add(job["id"], t.name, receipts[t.name])
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
        await _write(engine, _fail, engine, clock, job, team, where, receipts,
                                "; ".join(refused))
        return 0
    errors += refused
    if target is None:
        errors.append(f"no such {job['kind']} any more")
    elif not receipts and not errors:  # nothing reached it: keep it queued, never drop it
        errors.append(f"no transport reaches {job['kind']} {job['key']}")
    await _write(engine, _finish, engine, clock, job["id"], receipts, rev, errors, fresh)
    return 0 if errors else 1


def prepared(t: Transport, make: Callable[[], Reply]):
    """The reply in the transport's wire form if it has one (Transport.prepare), else made."""
    prepare = getattr(t, "prepare", None)
    return prepare(make) if prepare is not None else make()


async def _notify(engine: Engine, clock: Clock, t: Transport, job: dict, post,
                  the_reply: Callable[[], Reply], parts: dict) -> dict:
    """A DM; one the platform cannot deliver (Unreachable) goes to the person's home team
    channel on that platform instead, first line naming nobody, and is audited."""
    person, home = job["target"], job["home"]
    try:
        return await t.notify(person, post, key=job["key"], **parts)
    except Unreachable:
        if home is None or not t.reaches_team(home):
            raise
    told = prepared(t, lambda: catalog.dm_fallback(home.name, person.name, the_reply()))
    ref = await t.post_to_team(home, told, key=job["key"], **parts)
    await _write(engine, _fell_back, engine, clock, job, t.name)
    return {"fallback": home.key, "post": ref}


def _fell_back(engine: Engine, clock: Clock, job: dict, transport: str) -> None:
    with session_scope(engine) as session:
        repo.add_audit(session, at=clock.now(), actor="scheduler", transport=transport,
                       action="notify:fallback", subject=job["target"].handle,
                       team=job["home"].key, detail={"key": job["key"], "team": job["home"].key})


class Receipts:
    """Receipts are stored as their sends complete, and those that complete while one write is
    under way go together in the next: one transaction for many (a fan-out's hundreds of
    receipts each took a transaction of its own, and a Telegram list's next part waited behind
    them). `add` returns once its receipt is committed."""

    def __init__(self, engine: Engine):
        self.engine, self.waiting, self.writing = engine, [], None

    async def add(self, row_id: int, transport: str, receipt: dict) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append(((row_id, transport, receipt), done))
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self._write_waiting())
        await done

    async def _write_waiting(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            try:
                await _write(self.engine, _receipts, self.engine, [item for item, _ in batch])
            except asyncio.CancelledError:  # the sweep is stopping: its senders stop too
                for _, done in batch + self.waiting:
                    done.cancel()
                self.waiting = []
                raise
            except BaseException as exc:  # noqa: BLE001 - each sender gets it, as if its own write
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


def _receipts(engine: Engine, items: list[tuple[int, str, dict]]) -> None:
    with session_scope(engine) as session:
        repo.record_receipts(session, items)


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
        if not failed or team is None or outbox.FAILED.parse(job["key"]):
            return  # a refused alert is not alerted about again
        reply = catalog.post_refused(team.name, job["key"], where)
        for manager in with_role(session, team_id=team.id, role="manager"):
            key = outbox.FAILED.key(row=job["id"], handle=manager.handle)
            outbox.notify(session, manager.handle, key, reply, now=clock.now())
