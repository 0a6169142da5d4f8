"""What handover learning points say. First lines name the team, never a person or client."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from messages.reply import Block, Button, Reply

EXAMPLE = "learn Bed rails must be checked after every transfer incident=INC-31"


def label(point_id: int) -> str:
    return f"L-{point_id}"


def point_post(team_name: str, point_id: int, text: str, by: str, incident: str | None) -> Reply:
    head = f"{team_name}: handover learning point {label(point_id)}"
    if incident:
        head += f" (incident {incident})"
    return Reply(blocks=[Block(text=head), Block(
        text=f"{text}\nShared by {by}. Tap when you have read and understood it.",
        buttons=[Button(label="I've read this", action=f"learn_ack:{point_id}", style="primary")])])


def posted(point_id: int) -> Reply:
    return Reply.text(f"Learning point {label(point_id)} posted to the team with an "
                      f"I've read this button. See who has read it: learn who {point_id}",
                      ephemeral=True)


def needs_text() -> str:
    return f"Say the learning point. Example: {EXAMPLE}"


def unknown_point(text: str) -> str:
    return f"No learning point {text!r} on your teams. Example: learn who L-3"


def no_points(team_name: str) -> str:
    return f"{team_name} has no learning points yet. Example: {EXAMPLE}"


def acked(point_id: int, at: datetime, zone: ZoneInfo) -> Reply:
    return Reply.text(f"✓ Thanks: you have read {label(point_id)} "
                      f"(recorded {at.astimezone(zone):%H:%M}).", ephemeral=True)


def already_acked(point_id: int) -> Reply:
    return Reply.text(f"You had already read {label(point_id)}; nothing changed.", ephemeral=True)


def not_your_team(point_id: int) -> str:
    return f"{label(point_id)} belongs to another team's handover; nothing was recorded."


def who(team_name: str, point_id: int, text: str, read: list[tuple[str, datetime]],
        unread: list[str], zone: ZoneInfo) -> Reply:
    total = len(read) + len(unread)
    lines = [f"Read ({len(read)}/{total}): " + (", ".join(
        f"{name} {at.astimezone(zone):%-d %b %H:%M}" for name, at in read) or "nobody yet")]
    lines.append(f"Not yet ({len(unread)}): " + (", ".join(unread) or "nobody — everyone has read it ✓"))
    return Reply(ephemeral=True, blocks=[
        Block(text=f"{team_name}: who has read {label(point_id)}"),
        Block(text=f"“{text}”"), Block(text="\n".join(lines))])


def reminder(team_name: str, point_id: int, text: str) -> Reply:
    return Reply(blocks=[Block(text=f"carebot: a handover learning point to read — {team_name}"),
                         Block(text=text, buttons=[Button(label="I've read this",
                                                          action=f"learn_ack:{point_id}",
                                                          style="primary")])])
