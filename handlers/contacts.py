"""The contacts-due list, and logging a contact done or missed with a reason code."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.jobs import team_job
from handlers.phone import closest, near_codes, reason_code, ref_variants
from handlers.registry import command
from messages import catalog
from messages import cover as day_words
from messages import escalation as esc_words
from messages.reply import Block, Reply
from storage import escalations as store_escalations
from storage import outbox, repo
from storage.models import Client, Contact, Escalation, ReasonCode, Team


# A concern raised by a reason code (safety, no_reply) is closed by a person, never by a
# later outcome; an escalation for a missing outcome closes itself when the outcome arrives.
ESCALATING_REASONS = ("reason:safety", "reason:no_reply")


def day_items(session: Session, team: Team, now: datetime,
              assignee_id: int | None = None) -> tuple[list[catalog.Item], date]:
    """The team's list for its local today: due today, plus earlier contacts still open (only
    one person's, given `assignee_id`)."""
    zone = ZoneInfo(team.zone)
    day = now.astimezone(zone).date()
    start, end = day_bounds(day, zone)
    rows = repo.contacts_for_day(session, team_id=team.id, start=start, end=end)
    if assignee_id is not None:
        rows = [r for r in rows if r.assignee_id == assignee_id]
    # Unpacked, not read by name: a row's attributes cost more than the Items (every tap).
    items = [catalog.Item(ref=ref, kind=kind, risk=risk, start=due_start, end=due_end,
                          status=status, reason=reason, assignee=name if person else None,
                          id=source_id, carried=status == "open" and due_end < start)
             for ref, kind, risk, due_start, due_end, status, reason, source_id, person, name
             in rows]
    return items, day


def due_reply(session: Session, team: Team, now: datetime) -> Reply:
    items, day = day_items(session, team, now)
    return catalog.due_list(team.name, day, ZoneInfo(team.zone), items)


@command("due", args="team?", summary="Today's contacts-due list for your team (`due mine`: "
         "yours)", example="due north")
def due(ctx: Context, args) -> Reply:
    if (args.team or "").lower() == "mine":
        return mine(ctx, args)
    team = ctx.named_team(args.team) if args.team else ctx.team
    return due_reply(ctx.session, team, ctx.now)


@command("mine", summary="Your own day: your contacts in every team, the pages you hold",
         example="mine")
def mine(ctx: Context, args) -> Reply:
    """Also the Slack App Home: the shortest thing staff type on a phone."""
    items = [item for team in ctx.teams
             for item in day_items(ctx.session, team, ctx.now, assignee_id=ctx.person.id)[0]]
    held = store_escalations.held_by(ctx.session, person_id=ctx.person.id,
                                     team_ids=ctx.visible_team_ids)
    return day_words.my_day(ctx.today, ctx.zone, items, [(e.id, e.ref, e.summary, e.state)
                                                       for e in held])


@team_job("morning", times=lambda team: [team.morning_post])
def morning_post(session: Session, team: Team, now: datetime) -> bool:
    """The scheduled morning list: queued once per team per local day."""
    day = now.astimezone(ZoneInfo(team.zone)).date()
    key = outbox.MORNING.key(team=team.key, day=day)
    queued = outbox.post_to_team(session, team.key, key, due_reply(session, team, now), now=now)
    if queued:
        repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                       action="post:morning", subject=team.key, team=team.key, detail={"key": key})
    return queued


def find_today(ctx: Context, ref: str,
               verb: str = "done") -> tuple[Contact, Client, Escalation | None]:
    """Today's contact by contact id or client ref, as typed or with the hyphen a phone left
    out (C2M9Q), and its live escalation (for escalation.settle); not found, the refs on
    today's list that look like it are suggested."""
    start, end = day_bounds(ctx.today, ctx.zone)
    for typed in dict.fromkeys([ref, *ref_variants(ref)]):
        found = repo.find_contact(ctx.session, ref=typed, team_ids=ctx.visible_team_ids,
                                  start=start, end=end)
        if found is not None:
            return found
    refs = repo.refs_between(ctx.session, team_ids=ctx.visible_team_ids, start=start, end=end)
    raise UserError(catalog.unknown_ref(ref, ctx.today, closest(ref_variants(ref)[-1], refs),
                                        verb=verb))


def _record(ctx: Context, contact: Contact, status: str, reason: str | None, note: str | None,
            at: datetime | None = None) -> str:
    """Set the outcome; the latest log wins and the audit trail keeps every earlier one."""
    previous = (f"missed, {contact.reason_code}" if contact.status == "missed"
                else contact.status)
    if not note and (status, reason) == (contact.status, contact.reason_code):
        note = contact.note  # the same outcome again: its note stays
    repo.set_outcome(ctx.session, contact, status=status, reason_code=reason, note=note or None,
                     outcome_at=at or ctx.now, logged_by_id=ctx.person.id,
                     logged_via=ctx.transport)
    ctx.audit(f"contact:{status}", subject=contact.source_id, team_id=contact.team_id,
              reason=reason, previous=previous, note=contact.note,
              **({"at": at.isoformat()} if at else {}))
    refresh_morning_post(ctx.session, contact.team_id, ctx.now)
    return previous


def refresh_morning_post(session: Session, team_id: int, now: datetime) -> None:
    """Keep today's channel list showing today's truth (edited in place where the platform can).
    Only marked here (no list posted today: nothing to mark); the delivery sweep renders it
    (fresh_payload), so a `done` does not pay for rendering the whole list."""
    team = session.get(Team, team_id)
    day = now.astimezone(ZoneInfo(team.zone)).date()
    outbox.mark_stale(session, key=outbox.MORNING.key(team=team.key, day=day), now=now)


def fresh_payload(session: Session, key: str, now: datetime) -> dict | None:
    """The up-to-date content of a post marked stale, or None to send it as it is (not a
    morning list, or one of an earlier day: that day's list is history)."""
    morning = outbox.MORNING.parse(key)
    team = repo.team_by_key(session, morning["team"]) if morning else None
    if team is None or morning["day"] != now.astimezone(ZoneInfo(team.zone)).date().isoformat():
        return None
    return outbox.payload_of(due_reply(session, team, now))


@command("done", args="ref note*", options=("at",), example="done C-2M9Q",
         summary="Log a contact as completed (at=HH:MM: when the visit really happened)")
def done(ctx: Context, args) -> Reply:
    contact, client, live = find_today(ctx, args.ref)
    at = _visit_time(ctx, args.at, client.ref) if args.at is not None else None
    if contact.status == "done" and not args.note and at is None:  # a second tap changes nothing
        return _shown_on(ctx, contact, catalog.already_logged(client.ref, "done"))
    previous = _record(ctx, contact, "done", None, args.note, at=at)
    escalation.settle(ctx, f"contact:{contact.source_id}", "contact logged done",
                      keep=ESCALATING_REASONS, live=live)
    return _shown_on(ctx, contact, catalog.logged_done(client.ref, previous, at or ctx.now,
                                                       ctx.zone))


def _visit_time(ctx: Context, text: str, ref: str) -> datetime:
    """`at=09:40` today in the team's zone: on-time is judged on it, not on when it was typed."""
    example = f"Example: done {ref} at=09:40"
    try:
        moment = time.fromisoformat(text.strip().zfill(5))
    except ValueError:
        raise UserError(f"Can't read at={text[:20]!r} as a time today (HH:MM). {example}") from None
    when = datetime.combine(ctx.today, moment, ctx.zone).astimezone(UTC)
    if when > ctx.now:
        raise UserError(f"at={moment:%H:%M} is later than now "
                        f"({ctx.now.astimezone(ctx.zone):%H:%M}): give when the visit happened. "
                        f"{example}")
    return when


@command("missed", args="ref reason? note*", summary="Log a contact missed, with a reason code",
         example="missed C-7F3K hospital")
def missed(ctx: Context, args) -> Reply:
    contact, client, live = find_today(ctx, args.ref)
    codes = repo.reason_codes(ctx.session)
    if args.reason is None:
        return catalog.reason_picker(client.ref, [(c.code, c.label) for c in codes])
    code, args.note = reason_code(codes, args.reason, args.note)
    if code is None:
        raise UserError(catalog.unknown_reason(args.reason, client.ref, [c.code for c in codes],
                                               near_codes(codes, args.reason)))
    if code.needs_note and not args.note:  # any code the config says needs one
        return catalog.ask_note(client.ref, code.code, code.label)
    if (contact.status, contact.reason_code) == ("missed", code.code) and not args.note:
        return _shown_on(ctx, contact, catalog.already_logged(client.ref, f"missed: {code.label}"))
    previous = _record(ctx, contact, "missed", code.code, args.note)
    team = ctx.session.get(Team, contact.team_id)
    esc = _escalate_missed(ctx, team, contact, client, code, live)
    owns = esc is not None and esc.acked_by_id == ctx.person.id and esc.acked_at == ctx.now
    reply = catalog.logged_missed(client.ref, code.label, previous,
                                  esc.id if esc and not owns else None)
    if owns:  # on call: owned at once, nobody paged
        reply.blocks.append(Block(text=esc_words.raiser_owns(esc.id)))
    return _shown_on(ctx, contact, reply)


def _shown_on(ctx: Context, contact: Contact, reply: Reply) -> Reply:
    """An outcome (new or already there): the list a button sat on is shown afresh, built
    here for a button (one unit of work, not a second `due` command from the transport)."""
    team = ctx.session.get(Team, contact.team_id)
    reply.refresh = f"due {team.key}"
    if ctx.from_button:
        reply.refreshed = due_reply(ctx.session, team, ctx.now)
    return reply


def _escalate_missed(ctx: Context, team: Team, contact: Contact, client: Client,
                     code: ReasonCode, live: Escalation | None) -> Escalation | None:
    """What a missed reason does to the contact's escalation (README: reason × risk).

    A concern (`escalates`, e.g. safety) opens a fresh one whatever the risk. On a high-risk
    client only `done` or a reason that accounts for the client (hospital) settles it: any
    other reason opens one, or keeps the open one and says the reason in its next page.
    Elsewhere a missed outcome is an outcome: a "no outcome" escalation settles.
    """
    subject, summary = f"contact:{contact.source_id}", f"missed: {code.label}"
    high = client.risk == "high"
    if code.escalates or not high or code.accounts_for_client:
        why = f"logged {summary}" + ("; a new escalation replaces this one" if code.escalates else "")
        escalation.settle(ctx, subject, why, keep=ESCALATING_REASONS, live=live)
    if not (code.escalates or (high and not code.accounts_for_client)):
        return None
    esc, new = escalation.open_escalation(
        ctx.session, team=team, subject=subject, trigger=f"reason:{code.code}", ref=client.ref,
        summary=summary, now=ctx.now, opened_by=ctx.person.handle, transport=ctx.transport,
        reopen=code.escalates, raised_by=ctx.person)
    if esc.state == "resolved":  # a person closed it with a note: that stands
        return None
    if not new and esc.trigger not in ESCALATING_REASONS:
        # Kept open under the new reason: its next page names it, and a concern (no_reply)
        # now needs a person to close it, as if it had opened with it.
        esc.trigger, esc.summary = f"reason:{code.code}", summary
        ctx.session.add(esc)
    return esc
