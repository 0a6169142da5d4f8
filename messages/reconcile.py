"""Reconciliation words: the check so far, the end-of-day log, and `carebot post reconcile`'s
summary. Client refs only; the first line names the team."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from messages.catalog import HIGH, Item, by_urgency, day_label, item_line
from messages.reply import Block, Reply


def reconciliation(team_name: str, day: date, zone: ZoneInfo, counts: dict[str, int],
                   open_items: list[Item], missed_by_reason: dict[str, int], *,
                   at: datetime, so_far: bool = False, escalated: list[int] = (), runs: int = 1,
                   end_of_day: str = "17:30", overdue: set[str] = frozenset()) -> Reply:
    """The end-of-day log made `at`, or (`so_far`) a check so far that stores nothing.

    `open_items` holds today's open contacts and those carried over from earlier days;
    `overdue` the ids of items whose window (plus grace) has ended.
    """
    title = (f"so far at {at.astimezone(zone):%H:%M}, {day_label(day)}" if so_far
             else f"end of day {day_label(day)}")
    today = [i for i in open_items if not i.carried]
    carried = [i for i in open_items if i.carried]
    summary = (f"Planned {counts['planned']} · done {counts['completed']} · "
               f"missed {counts['missed']} · open {counts['open']}")
    if carried:
        summary += f"\nCarried over {len(carried)}: still open from earlier days, not in Planned."
    blocks = [Block(kind="header", text=f"{team_name}: {title}"), Block(text=summary)]
    if missed_by_reason:
        blocks.append(Block(text="Missed by reason: " + ", ".join(
            f"{code} {n}" for code, n in sorted(missed_by_reason.items()))))

    def line(item: Item) -> str:
        text = item_line(item, zone, day, with_status=False, with_assignee=True)
        flagged = item.risk == "high" and (not so_far or item.id in overdue)
        if so_far and item.id in overdue and not item.carried:
            text += " · window ended"
        return text + (" · escalated" if flagged else "")

    if today:
        head = (f"Open ({len(today)}): each needs an outcome or a reason code by the end of its window."
                if so_far else f"Still open ({len(today)}): each needs an outcome or a reason code.")
        blocks.append(Block(text="\n".join([head, *(line(i) for i in by_urgency(today))])))
    if carried:
        blocks.append(Block(text="\n".join([f"Carried over ({len(carried)}): open from earlier days.",
                                            *(line(i) for i in by_urgency(carried))])))
    if not open_items:
        blocks.append(Block(text="Every contact has an outcome. ✓"))
    ids = f" ({', '.join(f'E-{e}' for e in escalated)})" if escalated else ""
    if so_far:
        blocks.append(Block(text=(
            f"{HIGH} {len(escalated)} high-risk past their window with no outcome: "
            f"escalated to the on-call lead{ids}." if escalated else
            "Nothing escalated: no high-risk contact is past its window yet.")))
        blocks.append(Block(kind="context", text=(
            f"A check so far: nothing stored. The day's log is made at {end_of_day}.")))
        return Reply(blocks=blocks)
    if escalated:
        blocks.append(Block(text=f"{HIGH} {len(escalated)} high-risk open: escalated to the "
                                 f"on-call lead{ids}."))
    if runs > 1:
        blocks.append(Block(kind="context", text=(
            f"Today's log updated at {at.astimezone(zone):%H:%M} (run {runs}); "
            "every version is kept in the audit.")))
    return Reply(blocks=blocks)


def reconcile_report(team_key: str, zone: ZoneInfo, at: datetime, end_of_day: str,
                     counts: dict[str, int], escalated: list[tuple[int, str]], *, runs: int,
                     so_far: bool, posted: str) -> str:
    """`carebot post reconcile`: what was stored, posted and escalated (a terminal, not chat)."""
    local = at.astimezone(zone)
    figures = (f"planned {counts['planned']} · done {counts['completed']} · "
               f"missed {counts['missed']} · open {counts['open']} · "
               f"carried over {counts['carried_over']}")
    if so_far:
        head = (f"reconcile for {team_key}: a check so far at {local:%H:%M}, before the end-of-day "
                f"time {end_of_day}; nothing stored or posted (the day's log is made at {end_of_day}).")
    else:
        head = (f"reconcile for {team_key}: stored the log for {day_label(local.date())} "
                f"(run {runs}); " + {"queued": "post queued.",
                                     "updated": "already posted today: the post is updated in place."
                                     }.get(posted, "not posted."))
    esc = ", ".join(f"E-{e} {ref}" for e, ref in escalated) or "none"
    return f"{head}\n{figures}\nescalated: {esc}"
