"""Handover learning points: posted with an I've read this button; each read is recorded once
with name and time (the "names of staff present" record); the unread get one reminder by DM
at the team's next morning post time."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError
from handlers.grammar import record_id
from handlers.jobs import team_job
from handlers.registry import command
from messages import learning as words
from messages.reply import Reply
from storage import learning as store
from storage import outbox
from storage.models import LearningPoint, Team

REMIND_WITHIN = timedelta(days=7)  # older points are not chased (e.g. for people who joined later)


def _point(ctx: Context, text: str | None) -> LearningPoint:
    if text is None:
        point = store.latest_point(ctx.session, team_id=ctx.team.id)
        if point is None:
            raise UserError(words.no_points(ctx.team.name))
        return point
    number = record_id(text, "L-")
    point = ctx.session.get(LearningPoint, number) if number else None
    if point is None or point.team_id not in ctx.visible_team_ids:
        raise UserError(words.unknown_point(text))
    return point


# A learning point is posted for the whole team to read, so it may run longer than a note.
MAX_POINT = 6_000


@command("learn", args="text*", options=("incident",), min_role="supervisor",
         max_text=MAX_POINT, summary="Share a handover learning point with an I've read this button",
         example=words.EXAMPLE)
def learn(ctx: Context, args) -> Reply:
    text = (args.text or "").strip()
    if not text:
        raise UserError(words.needs_text())
    incident = None
    if args.incident:
        from handlers.incidents import find_incident  # an incident's learning clock

        incident = find_incident(ctx, args.incident)
    point = LearningPoint(team_id=incident.team_id if incident else ctx.team.id, text=text,
                          incident_id=incident.id if incident else None, at=ctx.now,
                          by_id=ctx.person.id)
    ctx.session.add(point)
    ctx.session.flush()
    # The person who shared it was there: their name starts the record.
    store.add_ack(ctx.session, point_id=point.id, person_id=ctx.person.id, at=ctx.now,
                  via=ctx.transport)
    ctx.audit("learning:share", subject=words.label(point.id), team_id=point.team_id, text=text,
              incident=incident.ref if incident else None)
    team = ctx.session.get(Team, point.team_id)
    ctx.post_to_team(outbox.LEARN.key(point=point.id), words.point_post(
        team.name, point.id, text, ctx.person.name, incident.ref if incident else None), team=team)
    return words.posted(point.id)


@command("learn ack", args="point", summary="Record that you have read a learning point",
         example="learn ack L-3")
def learn_ack(ctx: Context, args) -> Reply:
    point = _point(ctx, args.point)
    if point.team_id not in {t.id for t in ctx.teams}:
        raise UserError(words.not_your_team(point.id))
    if not store.add_ack(ctx.session, point_id=point.id, person_id=ctx.person.id, at=ctx.now,
                         via=ctx.transport):
        return words.already_acked(point.id)
    ctx.audit("learning:read", subject=words.label(point.id), team_id=point.team_id)
    return words.acked(point.id, ctx.now, ctx.zone)


@command("learn who", args="point?", summary="Who has and hasn't read a learning point",
         example="learn who L-3")
def learn_who(ctx: Context, args) -> Reply:
    point = _point(ctx, args.point)
    team = ctx.session.get(Team, point.team_id)
    read = store.acks(ctx.session, point_id=point.id)
    read_ids = {p.id for _, p in read}
    unread = [p.name for p in store.members(ctx.session, team_id=team.id) if p.id not in read_ids]
    return words.who(team.name, point.id, point.text, [(p.name, a.at) for a, p in read], unread,
                     ZoneInfo(team.zone))


@team_job("learn_remind", times=lambda team: [team.morning_post])
def remind_unread(session: Session, team: Team, now: datetime) -> bool:
    """One DM per person per learning point, at the first morning post after it was shared."""
    queued = False
    people = store.members(session, team_id=team.id)
    for point in store.points_since(session, team_id=team.id, start=now - REMIND_WITHIN, end=now):
        read = {p.id for _, p in store.acks(session, point_id=point.id)}
        for person in people:
            if person.id not in read:
                key = outbox.LEARN_REMIND.key(point=point.id, handle=person.handle)
                queued |= outbox.notify(session, person.handle, key,
                                        words.reminder(team.name, point.id, point.text), now=now)
    return queued
