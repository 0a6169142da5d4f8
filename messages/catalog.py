"""Every sentence carebot says. Handlers pass facts in; words and layout live here.

Lines stay short for phones; the first line of anything posted names a team, never a person
or a client (it shows on a locked screen). Client refs only: never names or drug names.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from messages.reply import Block, Button, NotePrompt, Option, Reply, Select

KIND_LABELS = {"post_referral": "referral", "post_discharge": "discharge",
               "home_visit": "home visit", "review": "review", "other": "other"}
HIGH = "⚠"
# A list line's controls: (label, mark) by verb. Renderers show the mark beside the line's ref
# where room is short; the action, not the words, is what a press runs.
LIST_BUTTONS = {"done": ("Done", "✓"), "missed": ("Missed…", "✗")}


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
    return _window(item.start, item.end, zone, day)


@lru_cache(maxsize=4096)
def _window(start: datetime, end: datetime, zone: ZoneInfo, day: date) -> str:
    """Kept: a list is rebuilt after every tap with the same windows (times only, no names)."""
    start, end = start.astimezone(zone), end.astimezone(zone)
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


def by_urgency(items: list[Item]) -> list[Item]:
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
        blocks += item_group(f"{name} ({len(groups[name])})", groups[name], zone, day)
    if gaps:
        blocks += item_group(f"Needs cover: no one assigned ({len(gaps)})", gaps, zone, day,
                             cover=True)
    blocks.append(Block(kind="context",
                        text="Log: done REF · missed REF REASON (e.g. missed C-7F3K hospital)"))
    return Reply(blocks=blocks)


def item_group(title: str, items: list[Item], zone: ZoneInfo, day: date,
               cover: bool = False) -> list[Block]:
    blocks = [Block(text=f"\n{title}")]
    for item in by_urgency(items):
        buttons = []
        if item.status == "open":
            buttons = [Button(label=label, action=f"{verb}:{item.ref}", mark=mark,
                              style="primary" if verb == "done" else None)
                       for verb, (label, mark) in LIST_BUTTONS.items()]
            if item.assignee is None and cover:  # a gap: a supervisor picks who covers it
                buttons.append(Button(label="Cover…", action=f"cover:{item.ref}", mark="👤"))
        blocks.append(Block(text=item_line(item, zone, day), ref=item.ref, status=item.status,
                            buttons=buttons))
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


def picker(question: str, placeholder: str, verb: str, ref: str,
           choices: list[tuple[str, str]]) -> Reply:
    """A question with one option per (code, label): picking one runs `verb REF CODE`."""
    options = [Option(label=label, action=f"{verb}:{ref}:{code}", code=code)
               for code, label in choices]
    return Reply(ephemeral=True, blocks=[Block(
        text=question, select=Select(placeholder=placeholder, options=options))])


def reason_picker(ref: str, codes: list[tuple[str, str]]) -> Reply:
    return picker(f"Why was {ref} missed? Pick a reason, or type e.g. `missed {ref} hospital`.",
                  "Reason codes", "missed", ref, codes)


def unknown_reason(reason: str, ref: str, codes: list[str], near: list[str] | None = None) -> str:
    guess = f" Did you mean {' or '.join(near)}?" if near else ""
    return (f"Unknown reason code {reason!r}.{guess} Use one of: {', '.join(codes)}. "
            f"Example: missed {ref} {(near or ['hospital'])[0]}")


def note_required(ref: str, code: str) -> str:
    return f"Reason {code!r} needs a short note. Example: missed {ref} {code} WHAT HAPPENED"


def ask_note(ref: str, code: str, label: str) -> Reply:
    """A reason that needs a note, given without one: nothing logged; the transport asks."""
    reply = Reply.error(note_required(ref, code))
    reply.ask_note = NotePrompt(action=f"missed:{ref}:{code}", title=f"Missed: {label}"[:24],
                                question=f"What happened with {ref}? (no names)")
    return reply


def unknown_ref(ref: str, day: date, near: list[str] | None = None, verb: str = "done") -> str:
    """`verb`: the command typed (done, missed, cover), so its example is the one shown."""
    if near:
        return (f"No contact {ref!r} on your teams' list for {day_label(day)}. Did you mean "
                f"{' or '.join(near)}? Example: {verb} {near[0]}")
    return (f"No contact {ref!r} on your teams' list for {day_label(day)}. "
            f"Check the ref with `due`. Example: {verb} C-2M9Q")


def unknown_team(key: str, keys: list[str], verb: str = "due") -> str:
    return (f"Unknown team {key[:40]!r}. Teams: {', '.join(keys)}. "
            f"Example: {verb} {keys[0] if keys else 'north'}")


def not_your_team(team_name: str, keys: list[str]) -> str:
    """Refused by the access rule: said the same for a named team, a channel and a record."""
    mine = f" Your teams: {', '.join(keys)}." if keys else ""
    return (f"You are not in {team_name}, so you can't see or change its records; nothing "
            f"was changed.{mine}")


# ---------------------------------------------------------------- general


def help_text(specs: list, everyday: bool) -> Reply:
    """The commands a person may run: their everyday few, or all of them (`help all`)."""
    lines = [f"{spec.usage}\n  {_sentence(spec.summary)} e.g. {spec.example}" for spec in specs]
    more = ("More: help all (every command you may run) · help CMD for one, e.g. help missed. "
            if everyday else "help CMD for one, e.g. help missed. ")
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text="Your everyday commands" if everyday else "carebot commands"),
        Block(text="\n".join(lines)),
        Block(kind="context", text=more + "In Slack start with /care (e.g. /care due); "
                                          "in Telegram with / (e.g. /due)."),
    ])


def help_one(spec, allowed: bool) -> Reply:
    who = "" if allowed else f"\nOnly a {spec.min_role} or above may run it."
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text=spec.verb),
        Block(text=f"{_sentence(spec.summary)}\nUse: {spec.usage}\ne.g. {spec.example}{who}")])


def _sentence(summary: str) -> str:
    """A summary ending in `?` (meds check) keeps it rather than gaining a full stop."""
    return summary if summary.endswith((".", "?", "!")) else f"{summary}."


def unknown_help(topic: str, near: list[str]) -> str:
    guess = f" Did you mean {' or '.join(near)}?" if near else ""
    return f"No command {topic!r}.{guess} Type `help all` for the list. Example: help missed"


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


def unknown_user(actor, chat, unbound: bool = False) -> str:
    """`unbound`: this group or channel is not linked to a team either, so say its id too (the
    set-up step that asks for it comes before anyone in it is linked)."""
    text = "Sorry, carebot doesn't know you yet, so nothing was recorded."
    if actor.transport == "console":
        return text + f" No person with handle {actor.user_id!r} in the config. Example: --as amira"
    field = {"slack": "slack_user", "telegram": "telegram_user"}.get(actor.transport, "handle")
    value = actor.user_id if actor.transport == "telegram" else f'"{actor.user_id}"'
    text += f" Ask your manager to add {field} = {value} to your entry in carebot.toml."
    if actor.transport == "telegram":
        text += " Or ask your supervisor for an invite link (they type: invite @yourname)."
    return text + (" " + unbound_chat(chat) if unbound else "")


def unbound_chat(chat) -> str:
    field = {"slack": "slack_channel", "telegram": "telegram_chat"}.get(chat.transport, "key")
    value = chat.id if chat.transport == "telegram" else f'"{chat.id}"'
    return (f"This chat isn't linked to a team. Ask an admin to add {field} = {value} "
            f"to the team in carebot.toml, then restart carebot"
            + (", or a manager types here: bind TEAM" if chat.transport in ("slack", "telegram")
               else "") + ".")


def no_team(handle: str) -> str:
    return f"@{handle} is not in any team. Ask your manager to add teams = [\"north\"] to your entry."


def unknown_command(verb: str, near: list[str] | None = None) -> str:
    guess = f" Did you mean {' or '.join(near)}?" if near else ""
    return f"Unknown command {verb!r}.{guess} Type `help` for the list. Example: due"


def needs_sub(verb: str, specs: list) -> str:
    """`routes` or `incident` alone: the commands it starts, one of which was meant."""
    return (f"{verb!r} needs one more word: {', '.join(s.verb for s in specs)}. "
            f"Nothing was changed. Example: {specs[0].example}")


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
