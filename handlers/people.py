"""People joining: `invite @handle` (a one-time Telegram deep link, 72 h), `/start CODE` (the
link opened: binds that Telegram account) and `bind TEAM` (a manager binds the Slack channel or
Telegram group they type it in to a team). Imports of people are `carebot import people`
(storage/people.py)."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from handlers.base import Command, Context, UserError
from handlers.registry import command
from messages import people as words
from messages.reply import Reply
from storage import people as store
from storage.escalations import members
from storage import repo
from storage.models import Person, Team

# The Telegram bot's username for the t.me link (TELEGRAM_BOT_USERNAME, set by bot/app.py);
# without it the invite says to type `/start CODE` to the bot instead.
BOT_USERNAME: str | None = None


@command("invite", args="who", min_role="supervisor", example="invite @ben",
         summary="A one-time Telegram link (72 h) that connects a colleague's Telegram account")
def invite(ctx: Context, args) -> Reply:
    person = ctx.person_named(args.who)
    mine = set(ctx.visible_team_ids)
    if person is None or not person.active or not set(repo.team_ids_of(ctx.session, person)) & mine:
        handles = [p.handle for p in members(ctx.session, team_id=ctx.team.id)]
        raise UserError(words.invite_who(args.who, handles))
    if ctx.transport == "telegram" and not ctx.private:
        raise UserError(words.invite_in_group())
    code, expires = store.new_invite(ctx.session, person=person, by=ctx.person, now=ctx.now)
    ctx.audit("person:invite", subject=person.handle, expires=expires.isoformat())
    link = f"https://t.me/{BOT_USERNAME.lstrip('@')}?start={code}" if BOT_USERNAME else None
    return words.invite(person.name, person.handle, code, link, expires.astimezone(ctx.zone))


def start(session: Session, now: datetime, command: Command) -> Reply:
    """`/start CODE` from a Telegram invite link: the sender's account becomes that person's.
    Runs before the caller is known (they are not, yet); single use, refused once expired."""
    actor, chat = command.actor, command.chat
    if actor.transport != "telegram" or not chat.private or not actor.user_id.isdigit():
        raise UserError(words.start_where())
    if command.event_id and not repo.first_time(session, key=command.event_id, now=now):
        return Reply(ok=True, ephemeral=True, duplicate=True)
    invite = store.invite_for(session, command.args[0])
    person = session.get(Person, invite.person_id) if invite else None
    if invite is None or person is None or not person.active:
        raise UserError(words.start_invalid())
    if invite.used_at is not None:
        raise UserError(words.start_used())
    if invite.expires_at <= now:
        raise UserError(words.start_expired(invite.expires_at))
    user = int(actor.user_id)
    other = store.person_by_telegram(session, user)
    if other is not None and other.id != person.id:
        raise UserError(words.start_taken(other.handle))
    previous = person.telegram_user
    invite.used_at, invite.used_by = now, user
    person.telegram_user = user
    session.add(invite)
    session.add(person)
    home = repo.team_ids_of(session, person)
    repo.add_audit(session, at=now, actor=person.handle, transport="telegram",
                   action="person:telegram_bound", subject=person.handle,
                   detail={"invite": invite.id, "replaced": previous is not None,
                           "chat": chat.id, "button": False},
                   team=session.get(Team, home[0]).key if home else None)
    return Reply.text(words.started(person.name))


@command("bind", args="team", min_role="manager", example="bind north",
         summary="Make the Slack channel or Telegram group you type it in your team's chat")
def bind(ctx: Context, args) -> Reply:
    team = ctx.named_team(args.team, "bind")
    if ctx.private or not ctx.chat_id:
        return Reply.text(words.bind_where(team.name, team.key), ephemeral=True)
    bound = repo.chat_team(ctx.session, ctx.transport, ctx.chat_id)
    if bound is not None and bound.id != team.id:
        raise UserError(words.bind_taken(team.name, bound.name))
    if bound is not None or ctx.transport not in ("slack", "telegram"):
        return Reply.text(words.bound(team.name, already=True, moved=False), ephemeral=True)
    if ctx.transport == "slack":
        moved, team.slack_channel = team.slack_channel, ctx.chat_id
    else:
        moved, team.telegram_chat = team.telegram_chat, int(ctx.chat_id)
    ctx.session.add(team)
    store.remember_binding(ctx.session, team_id=team.id, transport=ctx.transport,
                           chat_id=ctx.chat_id, now=ctx.now, by_id=ctx.person.id)
    ctx.audit("team:bind", subject=team.key, team_id=team.id, to=ctx.chat_id,
              previous=str(moved) if moved else None)
    return Reply.text(words.bound(team.name, already=False, moved=moved is not None))
