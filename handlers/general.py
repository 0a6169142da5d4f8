"""help and whoami."""
from __future__ import annotations

from handlers.base import Context
from handlers.registry import COMMANDS, command
from messages import catalog
from storage import repo
from storage.models import at_least


@command("help", summary="Every command with an example")
def help_(ctx: Context, args) -> "catalog.Reply":
    return catalog.help_text([s for s in COMMANDS.values() if at_least(ctx.person, s.min_role)])


@command("whoami", summary="Who carebot thinks you are, your role and teams")
def whoami(ctx: Context, args):
    teams = [t.key for t in repo.teams_of(ctx.session, ctx.person)]
    return catalog.whoami(ctx.person.name, ctx.person.handle, ctx.person.role, teams, ctx.team.name)
