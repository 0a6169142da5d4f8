"""Every sentence carebot says. Handlers pass facts in; words and layout live here.

Lines stay short for phones; the first line of anything posted names a team, never a person
or a client (it shows on a locked screen). Client refs only: never names or drug names.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from messages.reply import Block, Button, Option, Reply, Select

KIND_LABELS = {"post_referral": "referral", "post_discharge": "discharge",
               "home_visit": "home visit", "review": "review", "other": "other"}
HIGH = "⚠"


@dataclass(frozen=True)
class Item:
    """One contact as words need it: no names, no clinical detail."""

    ref: str
    kind: str
    risk: str
    start: datetime
    end: datetime
    status: str
    reason: str | None = None
    assignee: str | None = None  # a colleague's display name
    id: str = ""  # the contact id from the import file
    carried: bool = False  # still open from an earlier day: not part of today's plan


def day_label(day: date) -> str:
    return day.strftime("%a %-d %b")


def window(item: Item, zone: ZoneInfo, day: date) -> str:
    start, end = item.start.astimezone(zone), item.end.astimezone(zone)
    if end.date() < day:
        return f"overdue since {day_label(end.date())}"
    text = f"{start:%H:%M}–{end:%H:%M}"
    if start.date() != day or end.date() != day:
        text = f"{start:%-d %b %H:%M}–{end:%-d %b %H:%M}"
    return text


def item_line(item: Item, zone: ZoneInfo, day: date, *, with_status: bool = True,
              with_assignee: bool = False) -> str:
    parts = [f"{HIGH} {item.ref}" if item.risk == "high" else item.ref,
             KIND_LABELS.get(item.kind, item.kind), window(item, zone, day)]
    if with_status:
        parts.append({"done": "done ✓", "missed": f"missed: {item.reason}"}.get(item.status, "open"))
    if with_assignee:
        parts.append(item.assignee or "no one assigned")
    return " · ".join(parts)


def _order(items: list[Item]) -> list[Item]:
    return sorted(items, key=lambda i: (i.risk != "high", i.status != "open", i.start, i.ref))


# ---------------------------------------------------------------- contacts due


def due_list(team_name: str, day: date, zone: ZoneInfo, items: list[Item]) -> Reply:
    counts = {s: sum(1 for i in items if i.status == s) for s in ("done", "missed", "open")}
    gaps = [i for i in items if i.assignee is None]
    summary = (f"{len(items)} due · {counts['done']} done · {counts['missed']} missed · "
               f"{counts['open']} open")
    if gaps:
        summary += f" · {len(gaps)} need{'s' if len(gaps) == 1 else ''} cover"
    blocks = [Block(kind="header", text=f"{team_name}: contacts due {day_label(day)}"),
              Block(text=summary)]
    if not items:
        blocks.append(Block(text="No contacts due today."))
    groups: dict[str, list[Item]] = {}
    for item in items:
        if item.assignee:
            groups.setdefault(item.assignee, []).append(item)
    for name in sorted(groups):
        blocks += _group(f"{name} ({len(groups[name])})", groups[name], zone, day)
    if gaps:
        blocks += _group(f"Needs cover: no one assigned ({len(gaps)})", gaps, zone, day)
    blocks.append(Block(kind="context",
                        text="Log: done REF · missed REF REASON (e.g. missed C-7F3K hospital)"))
    return Reply(blocks=blocks)


def _group(title: str, items: list[Item], zone: ZoneInfo, day: date) -> list[Block]:
    blocks = [Block(text=f"\n{title}")]
    for item in _order(items):
        buttons = []
        if item.status == "open":
            buttons = [Button(label="Done", action=f"done:{item.ref}", style="primary"),
                       Button(label="Missed…", action=f"missed:{item.ref}")]
        blocks.append(Block(text=item_line(item, zone, day), buttons=buttons))
    return blocks


# ---------------------------------------------------------------- logging outcomes


def logged_done(ref: str, previous: str | None, at: datetime, zone: ZoneInfo) -> Reply:
    when = at.astimezone(zone).strftime("%H:%M")
    if previous == "done":
        return Reply.text(f"{ref} was already done; note updated ({when}).", ephemeral=True)
    change = f" (was {previous})" if previous and previous != "open" else ""
    return Reply.text(f"✓ {ref} done at {when}{change}.", ephemeral=True)


def already_logged(ref: str, outcome: str) -> Reply:
    return Reply.text(f"{ref} is already logged {outcome}; nothing changed.", ephemeral=True)


def logged_missed(ref: str, label: str, previous: str | None, escalation: int | None) -> Reply:
    text = f"{ref} logged missed: {label}."
    if previous and previous != "open":
        text = f"{ref} updated: missed, {label} (was {previous})."
    if escalation:
        text += f"\n{HIGH} Escalated as E-{escalation}: the on-call lead is being paged."
    return Reply.text(text, ephemeral=True)


def reason_picker(ref: str, codes: list[tuple[str, str]]) -> Reply:
    options = [Option(label=label, action=f"missed:{ref}:{code}") for code, label in codes]
    return Reply(ephemeral=True, blocks=[Block(
        text=f"Why was {ref} missed? Pick a reason, or type e.g. `missed {ref} hospital`.",
        select=Select(placeholder="Reason codes", options=options))])


def unknown_reason(reason: str, ref: str, codes: list[str]) -> str:
    return (f"Unknown reason code {reason!r}. Use one of: {', '.join(codes)}. "
            f"Example: missed {ref} hospital")


def note_required(ref: str, code: str) -> str:
    return f"Reason {code!r} needs a short note. Example: missed {ref} {code} WHAT HAPPENED"


def unknown_ref(ref: str, day: date) -> str:
    return (f"No contact {ref!r} on your teams' list for {day_label(day)}. "
            f"Check the ref with `due`. Example: done C-2M9Q")


def unknown_team(key: str, keys: list[str]) -> str:
    return f"Unknown team {key!r}. Teams: {', '.join(keys)}. Example: due {keys[0] if keys else 'north'}"


def not_your_team(team_name: str, keys: list[str]) -> str:
    """Refused by the access rule: said the same for a named team, a channel and a record."""
    mine = f" Your teams: {', '.join(keys)}." if keys else ""
    return (f"You are not in {team_name}, so you can't see or change its records; nothing "
            f"was changed.{mine}")


# ---------------------------------------------------------------- general


def help_text(specs: list) -> Reply:
    """The commands the person's role allows, as the dispatcher lets them through."""
    lines = []
    for spec in specs:
        lines.append(f"{spec.usage}\n  {spec.summary}. e.g. {spec.example}")
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text="carebot commands"),
        Block(text="\n".join(lines)),
        Block(kind="context", text="In Slack start with /care (e.g. /care due); "
                                   "in Telegram with / (e.g. /due)."),
    ])


def whoami(name: str, handle: str, role: str, teams: list[str], chat_team: str) -> Reply:
    return Reply.text(f"You are {name} (@{handle}), {role}.\nTeams: {', '.join(teams)}.\n"
                      f"This chat: {chat_team}.", ephemeral=True)


def dm_fallback(team_name: str, person_name: str, reply: Reply) -> Reply:
    """A DM that could not be sent, posted in the person's team channel instead."""
    return Reply(blocks=[Block(text=f"carebot: a message for a colleague — {team_name}"),
                         Block(text=f"For {person_name} (carebot cannot message you directly; "
                                    f"open a chat with carebot to get these privately):"),
                         *reply.blocks], files=reply.files)


def post_refused(team_name: str, key: str, where: str) -> Reply:
    """To the team's managers: a post a platform refused twice (as formatted, then as plain
    text) is kept as failed and not retried. The key names the post, never a person."""
    return Reply(blocks=[Block(text=f"carebot: a post could not be delivered — {team_name}"),
                         Block(text=f"{where} refused post {key} twice (as formatted and as plain "
                                    "text). It is kept as failed and will not be retried; "
                                    "/healthz counts it under failed_posts.")])


def crashed(ref: str) -> str:
    return f"Sorry, that failed and nothing was saved. Try again; if it keeps failing quote ref {ref}."


def unknown_user(actor, chat) -> str:
    text = "Sorry, carebot doesn't know you yet, so nothing was recorded."
    if actor.transport == "console":
        return text + f" No person with handle {actor.user_id!r} in the config. Example: --as amira"
    field = {"slack": "slack_user", "telegram": "telegram_user"}.get(actor.transport, "handle")
    value = actor.user_id if actor.transport == "telegram" else f'"{actor.user_id}"'
    return text + f" Ask your manager to add {field} = {value} to your entry in carebot.toml."


def unbound_chat(chat) -> str:
    field = {"slack": "slack_channel", "telegram": "telegram_chat"}.get(chat.transport, "key")
    value = chat.id if chat.transport == "telegram" else f'"{chat.id}"'
    return (f"This chat isn't linked to a team. Ask an admin to add {field} = {value} "
            f"to the team in carebot.toml, then restart carebot.")


def no_team(handle: str) -> str:
    return f"@{handle} is not in any team. Ask your manager to add teams = [\"north\"] to your entry."


def unknown_command(verb: str) -> str:
    return f"Unknown command {verb!r}. Type `help` for the list. Example: due"


def not_allowed(verb: str, min_role: str, role: str) -> str:
    who = {"supervisor": "supervisors and managers", "manager": "managers",
           "nominated": "the nominated individual"}.get(min_role, min_role)
    return f"Only {who} can use `{verb}`; you are {role}. Nothing was changed."


def file_missing(name: str) -> str:
    """Said in place of a file that is gone from disk (its outbox row must still complete)."""
    return f"(file no longer available: {name})"


def file_refused(name: str) -> str:
    """Said in place of a file the platform refused (too large, no permission to upload)."""
    return f"(file could not be sent: {name})"
