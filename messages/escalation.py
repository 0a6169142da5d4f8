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
    if trigger == "action_overdue":
        return f"carebot: improvement-plan action past its deadline — {team_name}"
    return f"carebot: 1 high-risk contact unresolved — {team_name}"


def _before(before: list[tuple[str, datetime]], zone: ZoneInfo) -> str:
    """The last three pages and how many there were: bounded, however long it has run."""
    runs: list[tuple[str, list[str]]] = []  # consecutive pages to one person read as one run
    for name, at in before[-3:]:
        if runs and runs[-1][0] == name:
            runs[-1][1].append(_hm(at, zone))
        else:
            runs.append((name, [_hm(at, zone)]))
    last = "; ".join(f"{name} {', '.join(times)}" for name, times in runs)
    count = len(before)
    return (f"Paged before: {count} page{'s' if count != 1 else ''}"
            + (f", last 3: {last}" if count > 3 else f": {last}") + " (no acknowledgement)")


def _reminder(repeat: int) -> str:
    return f" (reminder {repeat})" if repeat else ""


def page(esc_id: int, trigger: str, team_name: str, ref: str, summary: str, level_role: str,
         repeat: int, before: list[tuple[str, datetime]], zone: ZoneInfo) -> Reply:
    lines = [f"{label(esc_id)} · {ref} · {summary}",
             f"You are paged as {level_name(level_role)}{_reminder(repeat)}."]
    if before:
        lines.append(_before(before, zone))
    lines.append(f"Own it: ack {esc_id} · close it: resolve {esc_id} NOTE")
    return Reply(blocks=[
        Block(text=headline(trigger, team_name)),
        Block(text="\n".join(lines), ref=label(esc_id), buttons=[
            Button(label="Acknowledge", action=f"ack:{esc_id}", style="primary"),
            Button(label="Resolve…", action=f"resolve:{esc_id}")]),
    ])


GROUP_LINES = 20  # a page stays readable on a phone; the rest are counted


def group_page(items: list[dict], zone: ZoneInfo) -> Reply:
    """Every item one sweep pages a person about, as one DM. Each item: id, trigger, team,
    ref, summary, role, repeat, before (as for `page`)."""
    teams = sorted({i["team"] for i in items})
    safety = sum(i["trigger"] == "reason:safety" for i in items)
    what = (f"{len(items)} escalations need you" + (f", {safety} safety concern"
                                                    f"{'s' if safety > 1 else ''}" if safety else ""))
    lines = []
    for i in items[:GROUP_LINES]:
        line = (f"{label(i['id'])} · {i['ref']} · {i['summary']} · "
                f"{level_name(i['role'])}{_reminder(i['repeat'])}")
        if i["before"]:
            line += f" · paged {len(i['before'])}× before, last {_hm(i['before'][-1][1], zone)}"
        lines.append(line)
    if len(items) > GROUP_LINES:
        lines.append(f"… and {len(items) - GROUP_LINES} more: see `escalations`")
    lines.append("Own them all: ack all · one: ack ID · close one: resolve ID NOTE")
    return Reply(blocks=[
        Block(text=f"carebot: {what} — {', '.join(teams)}"),
        Block(text="\n".join(lines), buttons=[
            Button(label="Acknowledge all", action="ack:all", style="primary")]),
    ])


def unowned(esc_id: int, team_name: str, ref: str, summary: str, pages: int,
            since: datetime, zone: ZoneInfo) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: escalation unowned after the full chain — {team_name}\n"
             f"{label(esc_id)} · {ref} · {summary}\n"
             f"Open since {_hm(since, zone)}; {pages} pages, nobody acknowledged. Paging has "
             f"stopped; it stays open until someone owns it: ack {esc_id}")])


def raised_and_owned(esc_id: int, team_name: str, by: str, ref: str, summary: str,
                     at: datetime, zone: ZoneInfo) -> Reply:
    """To the channel: the on-call lead raised it and owns it, so nobody was paged."""
    return Reply(blocks=[Block(
        text=f"carebot: escalation raised and owned by the on-call lead — {team_name}\n"
             f"{label(esc_id)} · {ref} · {summary}: raised by {by} at {_hm(at, zone)}, "
             f"who is on call and owns it.")])


def raiser_owns(esc_id: int) -> str:
    return (f"You are on call, so you own {label(esc_id)} (nobody was paged; the channel was "
            f"told). Close it with: resolve {esc_id} what was done")


def owned_all(esc_ids: list[int], team_names: list[str], by: str, at: datetime,
              zone: ZoneInfo) -> Reply:
    ids = ", ".join(label(i) for i in esc_ids)
    return Reply(blocks=[Block(text=f"carebot: escalations owned — {', '.join(team_names)}\n"
                                    f"{ids} acknowledged by {by} at {_hm(at, zone)}. "
                                    f"Pages stopped.")])


def acked_all(esc_ids: list[int]) -> Reply:
    if not esc_ids:
        return Reply.text("Nothing to acknowledge: no open escalation you can own. "
                          "See `escalations`.", ephemeral=True)
    return Reply.text(f"You own {len(esc_ids)} escalation{'s' if len(esc_ids) > 1 else ''} now: "
                      f"{', '.join(label(i) for i in esc_ids)}; pages stopped. "
                      f"Close each with: resolve ID what was done", ephemeral=True)


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
        elif r.get("exhausted"):
            lines.append(f"  ⚠ unowned after the full chain · open {r['age']} · ack {r['id']}")
        else:
            holders = ", ".join(r["holders"]) or "nobody"
            lines.append(f"  paging {level_name(r['role'])} ({holders}) · "
                         f"open {r['age']}")
    return Reply(ephemeral=True, blocks=[Block(kind="header", text=f"Open escalations ({len(rows)})"),
                                         Block(text="\n".join(lines))])


def age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"
