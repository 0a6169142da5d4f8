"""Words for people joining (handlers/people.py): invites, binding a chat. Staff names only,
never an email or any client detail."""
from __future__ import annotations

from datetime import datetime

from messages.reply import Reply


def invite_who(who: str, handles: list[str]) -> str:
    return (f"No one {who[:40]!r} in your teams to invite. Example: invite @"
            f"{handles[0] if handles else 'ben'}")


def invite_in_group() -> str:
    return ("Ask for an invite in a private chat with me: whoever opens the link becomes that "
            "person, so it must not be posted in a group. Example: /invite @ben")


def invite(name: str, handle: str, code: str, link: str | None, expires: datetime) -> Reply:
    how = (f"Send this link to {name} only; opening it in Telegram connects their account:\n"
           f"{link}" if link else
           f"Send {name} this code; they open a private chat with the Telegram bot and type:\n"
           f"/start {code}")
    return Reply.text(f"One-time invite for @{handle}. {how}\nIt works once and expires "
                      f"{expires:%a %d %b %H:%M} (72 hours).", ephemeral=True)


def start_where() -> str:
    return "Open your invite link in Telegram: it connects a Telegram account in a private chat."


def start_invalid() -> str:
    return ("That invite code is not valid; nothing was changed. Ask your supervisor for a new "
            "one (they type: invite @yourname).")


def start_used() -> str:
    return ("That invite link was already used, so it cannot be used again; nothing was changed. "
            "Ask your supervisor for a new one.")


def start_expired(expired: datetime) -> str:
    return (f"That invite link expired on {expired:%d %b %H:%M} UTC; nothing was changed. Ask "
            f"your supervisor for a new one.")


def start_taken(handle: str) -> str:
    return (f"This Telegram account is already connected to @{handle}; nothing was changed. "
            f"Ask your supervisor if that is wrong.")


def started(name: str) -> str:
    return (f"Welcome, {name}: this Telegram account is now connected to carebot. "
            f"Type /help to see your commands.")


def bind_where(team_name: str, key: str) -> str:
    return (f"Type `bind {key}` in the Slack channel or Telegram group where {team_name}'s "
            f"posts should go (invite the bot there first). Nothing was changed.")


def bind_taken(team_name: str, other: str) -> str:
    return (f"This chat already belongs to {other}; nothing was changed. Bind another chat to "
            f"{team_name}, or ask an admin to unbind this one from carebot.toml.")


def bound(team_name: str, already: bool, moved: bool) -> str:
    if already:
        return f"This chat is already {team_name}'s; nothing changed."
    extra = " (it moved here from its previous chat)" if moved else ""
    return f"This chat is now {team_name}'s: its morning list and posts come here{extra}."
