"""What escalation pages and commands say. First lines name a team, never a person or client."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from messages.reply import Block, Button, Reply

LEVEL_NAMES = {"oncall": "on-call lead", "manager": "registered manager",
               "nominated": "nominated individual"}


def level_name(role: str) -> str:
    return "named lead" if role.startswith("person:") else LEVEL_NAMES.get(role, role)


def label(esc_id: int) -> str:
    return f"E-{esc_id}"


def _hm(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%H:%M")


def headline(trigger: str, team_name: str) -> str:
    """The lock-screen line: what kind of thing, which team; nobody identified."""
    if trigger == "reason:safety":
        return f"carebot: safety concern logged — {team_name}"
    if trigger == "meds_time_critical":
        return f"carebot: time-critical medicines not recorded — {team_name}"
    if trigger == "incident_overdue":
        return f"carebot: incident past its 7-day learning clock — {team_name}"
    return f"carebot: 1 high-risk contact unresolved — {team_name}"


def page(esc_id: int, trigger: str, team_name: str, ref: str, summary: str, level_role: str,
         repeat: int, before: dict[str, list[datetime]], zone: ZoneInfo) -> Reply:
    lines = [f"{label(esc_id)} · {ref} · {summary}",
             f"You are paged as {level_name(level_role)}"
             + (f" (reminder {repeat})." if repeat else ".")]
    if before:
        lines.append("Paged before: " + "; ".join(
            f"{name} {', '.join(_hm(at, zone) for at in times)}" for name, times in before.items())
            + " (no acknowledgement)")
    lines.append(f"Own it: ack {esc_id} · close it: resolve {esc_id} NOTE")
    return Reply(blocks=[
        Block(text=headline(trigger, team_name)),
        Block(text="\n".join(lines), buttons=[
            Button(label="Acknowledge", action=f"ack:{esc_id}", style="primary"),
            Button(label="Resolve…", action=f"resolve:{esc_id}")]),
    ])


def nobody_at_level(esc_id: int, team_name: str, role: str, next_role: str | None) -> Reply:
    then = (f"{label(esc_id)} went straight to the {level_name(next_role)}."
            if next_role else f"Nobody could be paged for {label(esc_id)}: trying again shortly.")
    return Reply(blocks=[Block(text=f"carebot: no {level_name(role)} available — "
                                    f"{team_name}\n{then}")])


def owned(esc_id: int, team_name: str, by: str, at: datetime, zone: ZoneInfo) -> Reply:
    return Reply(blocks=[Block(text=f"carebot: escalation owned — {team_name}\n"
                                    f"{label(esc_id)} acknowledged by {by} at {_hm(at, zone)}. "
                                    f"Pages stopped.")])


def resolved(esc_id: int, team_name: str, by: str, note: str) -> Reply:
    return Reply(blocks=[Block(text=f"carebot: escalation resolved — {team_name}\n"
                                    f"{label(esc_id)} resolved by {by}: {note}")])


def acked(esc_id: int) -> Reply:
    return Reply.text(f"You own {label(esc_id)} now; pages stopped. "
                      f"Close it with: resolve {esc_id} what was done", ephemeral=True)


def already_owned(esc_id: int, by: str, at: datetime, zone: ZoneInfo) -> Reply:
    return Reply.text(f"{label(esc_id)} is already owned by {by} (acknowledged {_hm(at, zone)}).",
                      ephemeral=True)


def resolved_ok(esc_id: int) -> Reply:
    return Reply.text(f"{label(esc_id)} resolved and closed. ✓", ephemeral=True)


def already_resolved(esc_id: int, by: str, at: datetime, zone: ZoneInfo) -> str:
    return f"{label(esc_id)} was already resolved by {by} at {_hm(at, zone)}; nothing changed."


def unknown(text: str, verb: str) -> str:
    return f"No escalation {text!r}. See `escalations`. Example: {verb} 12"


def note_needed(esc_id: int) -> str:
    return (f"Resolving {label(esc_id)} needs a short note of what was done. "
            f"Example: resolve {esc_id} WHAT WAS DONE")


def not_in_chain(esc_id: int, team_name: str) -> str:
    return (f"Only the escalation chain for {team_name} (on-call, managers) can act on "
            f"{label(esc_id)}. Nothing was changed.")


def listing(rows: list[dict], zone: ZoneInfo) -> Reply:
    if not rows:
        return Reply.text("No open escalations. ✓", ephemeral=True)
    lines = []
    for r in rows:
        lines.append(f"{label(r['id'])} · {r['team']} · {r['ref']} · {r['summary']}")
        if r["owner"]:
            lines.append(f"  owned by {r['owner']} · open {r['age']}")
        else:
            holders = ", ".join(r["holders"]) or "nobody"
            lines.append(f"  paging {level_name(r['role'])} ({holders}) · "
                         f"open {r['age']}")
    return Reply(ephemeral=True, blocks=[Block(kind="header", text=f"Open escalations ({len(rows)})"),
                                         Block(text="\n".join(lines))])


def age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
