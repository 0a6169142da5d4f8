"""help and whoami."""
from __future__ import annotations

from handlers.base import Context, UserError
from handlers.phone import closest
from handlers.registry import COMMANDS, command, lookup, sub_commands
from messages import catalog
from storage import repo
from storage.models import at_least

# What each role uses day to day, shown first by `help` (the rest: `help all`). A role sees
# its own and those of the roles below it.
EVERYDAY = {
    "staff": ("mine", "due", "done", "missed", "meds", "meds done", "meds late", "learn ack",
              "ack", "escalations", "whoami"),
    "supervisor": ("cover", "reconcile", "learn", "incident open", "plan", "status", "sample",
                   "audit", "routes ok", "referral add", "referrals"),
    "manager": ("status export", "action close", "incident close", "status month",
                "referral authorise"),
}


@command("help", args="topic*", summary="Your everyday commands; `help all` for every one, "
         "`help CMD` for one", example="help missed")
def help_(ctx: Context, args) -> "catalog.Reply":
    topic = (args.topic or "").strip().lower().split()
    mine = [s for s in COMMANDS.values() if at_least(ctx.person, s.min_role)]
    if topic == ["all"]:
        once = {}  # one line per handler: `referral` is `referrals` again
        for spec in mine:
            once.setdefault(spec.fn, spec)
        return catalog.help_text(list(once.values()), everyday=False)
    if topic:
        spec, rest = lookup(topic)
        subs = sub_commands(topic[0]) if spec is None and len(topic) == 1 else []
        if subs:  # `help incident`: the incident commands
            return catalog.help_text([s for s in subs if s in mine] or subs, everyday=False)
        if spec is None or rest:
            verbs = [s.verb for s in COMMANDS.values()]
            raise UserError(catalog.unknown_help(" ".join(topic)[:40],
                                                 closest(" ".join(topic), verbs, limit=2)))
        return catalog.help_one(spec, allowed=spec in mine)
    daily = [v for role, verbs in EVERYDAY.items()
             if at_least(ctx.person, role) for v in verbs]
    return catalog.help_text([COMMANDS[v] for v in daily if v in COMMANDS], everyday=True)


@command("whoami", summary="Who carebot thinks you are, your role and teams")
def whoami(ctx: Context, args):
    teams = [t.key for t in repo.teams_of(ctx.session, ctx.person)]
    return catalog.whoami(ctx.person.name, ctx.person.handle, ctx.person.role, teams, ctx.team.name)
