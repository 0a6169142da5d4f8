"""The one path every command takes: who is asking, where, may they, then the handler.

Identity and chat are checked before anything else; a refusal, bad input or a crash rolls
the unit of work back, so nothing is half-written.
"""
from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from handlers.base import (Actor, Chat, Clock, Command, Context, UserError,
                           team_access)
from handlers.grammar import bind, command_tokens
from handlers.phone import closest
from handlers.registry import COMMANDS, lookup, sub_commands
from messages import catalog
from messages.reply import Reply
from storage import repo
from storage.db import session_scope
from storage.models import Person, Team, at_least
from storage.privacy import masking_day, opaque_token, set_day

log = logging.getLogger(__name__)


def dispatch(engine: Engine, clock: Clock, command: Command) -> Reply:
    """Run one command and return what to show the caller."""
    try:
        with masking_day(), session_scope(engine) as session:  # the day covers the commit
            return _run(session, clock, command)
    except UserError as exc:
        return Reply.error(str(exc))
    except Exception:
        ref = opaque_token(4)  # quoted back to support: never masked in the reply
        log.exception("command failed ref=%s verb=%s", ref, command.verb)
        return Reply.error(catalog.crashed(ref)).model_copy(update={"crashed": True})


def dispatch_line(engine: Engine, clock: Clock, actor: Actor, chat: Chat, text: str,
                  event_id: str | None = None) -> Reply:
    """A typed line (`/care due`, `/due`, `due`) through the same path."""
    try:
        verb, args = command_tokens(text)
    except UserError as exc:
        return Reply.error(str(exc))
    return dispatch(engine, clock, Command(actor, chat, verb, args, event_id=event_id))


# Verbs that work in a group or channel no team is bound to yet (it is how one gets bound).
UNBOUND_OK = {"bind"}


def _run(session: Session, clock: Clock, command: Command) -> Reply:
    chat = command.chat
    if command.verb.lower() == "start" and command.args:  # a Telegram invite link, opened
        from handlers.people import start

        return start(session, clock.now(), command)
    # One query for the person and the chat's team; memberships come from the cache.
    person, team = repo.caller(session, command.actor.transport, command.actor.user_id,
                               chat.transport, chat.id if chat.id and not chat.private else None)
    if person is None:
        unbound = bool(chat.id and not chat.private and chat.transport != "console"
                       and repo.chat_team(session, chat.transport, chat.id) is None)
        raise UserError(catalog.unknown_user(command.actor, command.chat, unbound))
    team = _team_for(session, person, command, team)
    spec, rest = lookup([command.verb.lower(), *command.args])
    if spec is None:
        subs = sub_commands(command.verb.lower())
        if subs:  # `routes`, `incident`: the first word of commands that need a second
            allowed = [s for s in subs if at_least(person, s.min_role)] or subs
            raise UserError(catalog.needs_sub(command.verb.lower(), allowed))
        verbs = sorted({s.verb.split()[0] for s in COMMANDS.values()})
        raise UserError(catalog.unknown_command(command.verb[:40],
                                                closest(command.verb[:40], verbs, limit=2)))
    if not at_least(person, spec.min_role):
        raise UserError(catalog.not_allowed(spec.verb, spec.min_role, person.role))
    args = bind(spec.args, spec.options, rest, spec.usage, spec.example, spec.greedy,
                spec.max_text)
    now = clock.now()
    if command.event_id and not repo.first_time(session, key=command.event_id, now=now):
        return Reply(ok=True, ephemeral=True, duplicate=True)
    ctx = Context(session=session, now=now, person=person, team=team,
                  transport=command.actor.transport, chat_id=command.chat.id,
                  from_button=command.from_button, private=command.chat.private)
    set_day(ctx.today)  # free text stored or shown is masked as of the team's day
    reply = spec.fn(ctx, args)
    reply.queued = ctx.queued
    return reply


def _team_for(session: Session, person: Person, command: Command, team: Team | None) -> Team:
    """A team's channel (`team`, found by the chat) gives that team, but only to people who
    belong to it (typed or tapped, whatever a button's payload says); a DM or the console gives
    the person's home team. team_access's rule, read from the cached memberships."""
    chat = command.chat
    if chat.id and not chat.private and not (team is None and command.verb.lower() in UNBOUND_OK
                                             and not command.from_button):
        if team is None:
            raise UserError(catalog.unbound_chat(chat))
        if team.id not in repo.visible_team_ids(session, person):
            mine = team_access(session, person)
            raise UserError(catalog.not_your_team(team.name, [t.key for t in mine]))
        return team
    ids = repo.team_ids_of(session, person)
    if not ids:
        raise UserError(catalog.no_team(person.handle))
    return session.get(Team, ids[0])
