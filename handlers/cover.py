"""Cover for gaps (CAP: "confirm routes, assign coverage for gaps"): `cover REF @handle` gives
an open contact to someone in its team; the channel's list is updated in place and they get a DM.
`cover REF` alone offers the team's people to pick from (the list's **Cover…** control).
`routes ok` confirms today's routes; unconfirmed by the team's `routes_by`, supervisors hear."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError
from handlers.contacts import find_today, refresh_morning_post
from handlers.jobs import team_job
from handlers.registry import command
from messages import cover as words
from messages.reply import Reply
from storage import escalations as store
from storage import outbox, repo, routes
from storage.models import Person, Team

@command("cover", args="ref who?", min_role="supervisor", example="cover C-9X2P @ben",
         summary="Give an open contact to a colleague in its team (cover for a gap)")
def cover(ctx: Context, args) -> Reply:
    contact, client, _ = find_today(ctx, args.ref, verb="cover")
    team = ctx.session.get(Team, contact.team_id)
    if contact.status != "open":
        raise UserError(words.cover_not_open(client.ref, contact.status))
    staff = store.members(ctx.session, team_id=team.id)
    if args.who is None:
        return words.cover_picker(client.ref, [(p.handle, p.name) for p in staff])
    person = ctx.person_named(args.who)
    if person is None or person.id not in {p.id for p in staff}:
        raise UserError(words.cover_who(args.who, team.name, client.ref,
                                          [p.handle for p in staff]))
    if contact.assignee_id == person.id:
        return Reply.text(f"{client.ref} is already {person.name}'s; nothing changed.",
                          ephemeral=True)
    before = repo.people_by_id(ctx.session, [contact.assignee_id] if contact.assignee_id else [])
    contact.assignee_id = person.id
    ctx.session.add(contact)
    ctx.audit("contact:cover", subject=contact.source_id, team_id=team.id, to=person.handle,
              previous=next((p.handle for p in before.values()), None))
    refresh_morning_post(ctx.session, team.id, ctx.now)
    zone = ZoneInfo(team.zone)
    ctx.notify(person, outbox.COVER.key(contact=contact.id, handle=person.handle,
                                        at=int(ctx.now.timestamp())),
               words.covered(team.name, client.ref, contact.due_start.astimezone(zone),
                               contact.due_end.astimezone(zone), ctx.person.name))
    return Reply.text(f"{client.ref} is now covered by {person.name}: they have a DM, and the "
                      f"list shows it.", ephemeral=True)


@command("routes ok", args="note*", min_role="supervisor", example="routes ok two cars, Jo covers south",
         summary="Today's routes are confirmed for your team (with the time)")
def routes_ok(ctx: Context, args) -> Reply:
    done = routes.confirmed(ctx.session, team_id=ctx.team.id, day=ctx.today)
    if done is not None:
        by = ctx.session.get(Person, done.by_id)
        return Reply.text(words.routes_confirmed(ctx.team.name, done.at.astimezone(ctx.zone),
                                                   by.name, again=True), ephemeral=True)
    routes.confirm(ctx.session, team_id=ctx.team.id, day=ctx.today, at=ctx.now,
                   by_id=ctx.person.id, note=(args.note or "").strip() or None)
    ctx.audit("routes:ok", subject=ctx.team.key, team_id=ctx.team.id, day=ctx.today.isoformat())
    return Reply.text(words.routes_confirmed(ctx.team.name, ctx.now.astimezone(ctx.zone),
                                               ctx.person.name))


@team_job("routes_remind", times=lambda team: [team.routes_by] if team.routes_by else [])
def routes_remind(session: Session, team: Team, now: datetime) -> bool:
    """Routes not confirmed by the team's time: one reminder to each of its supervisors."""
    day = now.astimezone(ZoneInfo(team.zone)).date()
    if routes.confirmed(session, team_id=team.id, day=day) is not None:
        return False
    queued = False
    for person in store.with_role(session, team_id=team.id, role="supervisor"):
        key = outbox.ROUTES_REMIND.key(team=team.key, day=day, handle=person.handle)
        queued |= outbox.notify(session, person.handle, key,
                                words.routes_unconfirmed(team.name, team.routes_by), now=now)
    return queued
