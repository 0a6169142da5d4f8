"""Words for a person's own day (`mine`, the Slack App Home), cover for gaps and the routes
check (handlers/cover.py): refs and windows only."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from messages.catalog import LIST_BUTTONS, Item, day_label, item_group, picker
from messages.reply import Block, Button, Reply


def cover_picker(ref: str, people: list[tuple[str, str]]) -> Reply:
    example = f"cover {ref} @{people[0][0] if people else 'ben'}"
    return picker(f"Who covers {ref}? Pick a colleague, or type e.g. `{example}`.",
                  "The team's people", "cover", ref, people)


def cover_not_open(ref: str, status: str) -> str:
    return (f"{ref} is already logged {status}: cover is for open contacts. "
            f"Example: cover C-9X2P @ben")


def cover_who(who: str, team_name: str, ref: str, handles: list[str]) -> str:
    return (f"No one {who[:40]!r} in {team_name} to cover it. People: "
            f"{', '.join('@' + h for h in handles)}. Example: cover {ref} @{handles[0] if handles else 'ben'}")


def covered(team_name: str, ref: str, start: datetime, end: datetime, by: str) -> Reply:
    """To the person now covering a contact: the ref and window only."""
    return Reply(blocks=[Block(text=f"carebot: a contact for you — {team_name}"),
                         Block(text=f"{ref} · {start:%H:%M}–{end:%H:%M} today, from {by}.",
                               ref=ref, status="open",
                               buttons=[Button(label=label, action=f"{verb}:{ref}", mark=mark)
                                        for verb, (label, mark) in LIST_BUTTONS.items()])])


def routes_confirmed(team_name: str, at: datetime, by: str, again: bool = False) -> str:
    if again:
        return f"{team_name}: today's routes were already confirmed at {at:%H:%M} by {by}."
    return f"{team_name}: today's routes confirmed at {at:%H:%M} by {by}."


def routes_unconfirmed(team_name: str, by: str) -> Reply:
    return Reply(blocks=[Block(text=f"carebot: routes not confirmed — {team_name}"),
                         Block(text=f"Today's routes were due to be confirmed by {by}. Check the "
                                    f"cover for gaps, then: routes ok")])


def my_day(day: date, zone: ZoneInfo, items: list[Item],
           held: list[tuple[int, str, str, str]]) -> Reply:
    """`mine` and the Slack App Home: the person's own contacts today (every team) and the
    escalations they hold, (id, ref, summary, state), paging ones first."""
    counts = {s: sum(1 for i in items if i.status == s) for s in ("done", "missed", "open")}
    blocks = [Block(kind="header", text=f"Your day · {day_label(day)}"),
              Block(text=f"{len(items)} yours · {counts['done']} done · {counts['missed']} "
                         f"missed · {counts['open']} open")]
    blocks += item_group("Your contacts", items, zone, day) if items else \
        [Block(text="No contacts assigned to you today. The team's list: due")]
    if held:
        blocks.append(Block(text=f"\nPages you hold ({len(held)})"))
    for esc_id, ref, summary, state in held:
        paging = state == "open"
        blocks.append(Block(
            text=f"E-{esc_id} · {ref} · {summary} · {'paging you' if paging else 'yours'}",
            ref=f"E-{esc_id}", status=state,
            buttons=[Button(label="Acknowledge", action=f"ack:{esc_id}", mark="✓",
                            style="primary")] if paging else []))
    blocks.append(Block(kind="context",
                        text="Log: done REF · missed REF REASON · own a page: ack ID"))
    return Reply(blocks=blocks, ephemeral=True)
