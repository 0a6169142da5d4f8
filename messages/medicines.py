"""What the protected medicines capability says. Client refs and duty ids only: never a
drug name. The first line of a post names the team, never a person or a client."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from messages.catalog import HIGH, day_label
from messages.reply import Block, Button, Reply

STATUS = {"open": "open", "given": "given ✓", "late": "late (exception logged)",
          "missed": "missed (exception logged)"}
EXAMPLE_LATE = 'meds late D-14 "handover delay" action="given 08:40, GP told" informed="Dr Shah"'


def duty_line(duty, zone: ZoneInfo, *, with_status: bool = True) -> str:
    due = duty.due_at.astimezone(zone)
    parts = [f"{HIGH} {duty.duty_id}" if duty.time_critical else duty.duty_id, duty.client_ref,
             f"due {due:%H:%M} (±{duty.window_minutes} min)"]
    if duty.time_critical:
        parts.append("time-critical")
    if with_status:
        parts.append(STATUS.get(duty.status, duty.status))
    return " · ".join(parts)


def round_post(team_name: str, round_name: str, day: date, lead: str | None, duties: list,
               zone: ZoneInfo) -> Reply:
    blocks = [Block(kind="header",
                    text=f"{team_name}: {round_name} medicines round {day_label(day)}"),
              Block(text=f"Protected medicines lead: {lead or 'not named — set one in the config'}"
                         f" · {len(duties)} dut{'y' if len(duties) == 1 else 'ies'}")]
    if not duties:
        blocks.append(Block(text="No protected medicines duties this round."))
    for duty in duties:
        buttons = []
        if duty.status == "open":
            buttons = [Button(label="Given", action=f"meds_done:{duty.duty_id}", style="primary"),
                       Button(label="Late / missed…", action=f"meds_late:{duty.duty_id}")]
        blocks.append(Block(text=duty_line(duty, zone), ref=duty.duty_id, status=duty.status,
                            buttons=buttons))
    # The example names a duty of this round, never a fixed sample.
    example = (f"meds done {duties[0].duty_id} · meds late {duties[0].duty_id} REASON "
               f"action=WHAT WAS DONE informed=WHO" if duties else "meds done DUTY")
    blocks.append(Block(kind="context", text=f"{HIGH} time-critical: paged if unrecorded. "
                                             f"Log: {example}"))
    return Reply(blocks=blocks)


def duty_list(team_name: str, day: date, duties: list, zone: ZoneInfo) -> Reply:
    if not duties:
        return Reply.text(f"{team_name}: no protected medicines duties on {day_label(day)}.",
                          ephemeral=True)
    lines = [f"{d.round}: {duty_line(d, zone)}" for d in duties]
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text=f"{team_name}: medicines duties {day_label(day)}"),
        Block(text="\n".join(lines))])


def given(duty_id: str, at: datetime, zone: ZoneInfo) -> Reply:
    return Reply.text(f"✓ {duty_id} given, recorded at {at.astimezone(zone):%H:%M}.", ephemeral=True)


def already(duty_id: str, status: str) -> Reply:
    return Reply.text(f"{duty_id} is already recorded {STATUS.get(status, status)}; nothing changed.",
                      ephemeral=True)


def exception_logged(duty_id: str, kind: str, *, after_window: bool = False) -> Reply:
    why = " (recorded after its window)" if after_window else ""
    return Reply.text(f"{duty_id} logged {kind}{why} with reason, immediate action and person "
                      f"informed.", ephemeral=True)


_NEEDS = {"reason": "the reason", "action": "the immediate action (action=…)",
          "informed": "who was informed (informed=…)"}


def exception_example(duty, verb: str, now: datetime, zone: ZoneInfo, lead: str | None) -> str:
    """An example built from the duty at hand: its id, the time now, the round's lead."""
    reason = "why it was missed" if verb == "missed" else "why it was late"
    action = f"{'reported' if verb == 'missed' else 'given'} {now.astimezone(zone):%H:%M}"
    return f'meds {verb} {duty.duty_id} "{reason}" action="{action}" informed="{lead or "round lead"}"'


def exception_missing(duty_id: str, kind: str, missing: list[str], example: str) -> str:
    what = ", ".join(_NEEDS[m] for m in missing)
    return f"Nothing saved yet: a {kind} entry for {duty_id} needs {what}. Example: {example}"


def done_after_window(duty, zone: ZoneInfo, missing: list[str], example: str) -> str:
    due = duty.due_at.astimezone(zone)
    what = ", ".join(_NEEDS[m] for m in missing)
    return (f"Nothing saved yet: {duty.duty_id} was due {due:%a %-d %b %H:%M} "
            f"(±{duty.window_minutes} min), so this is a late entry and needs {what}. "
            f"Example: {example}")


def round_not_started(duty, starts: datetime, zone: ZoneInfo) -> str:
    at = starts.astimezone(zone)
    return (f"The {duty.round} round for {duty.duty_id} starts at {at:%H:%M} on "
            f"{at:%a %-d %b}: it cannot be late yet. Nothing saved. After {at:%H:%M}, e.g.: "
            f"meds done {duty.duty_id}")


def check_not_started(round_name: str, starts: datetime, zone: ZoneInfo, rounds: list[str]) -> str:
    at = starts.astimezone(zone)
    return (f"The {round_name} round starts at {at:%H:%M} today ({at:%a %-d %b}): check it after "
            f"the round. Nothing saved. Example, from {at:%H:%M}: meds check {round_name} yes")


def unknown_duty(duty_id: str) -> str:
    return f"No medicines duty {duty_id!r} on your teams. Check the id with `meds`. Example: meds done D-14"


def check_prompt(team_name: str, round_name: str, day: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"{team_name}: daily medicines check, {round_name} round {day_label(day)}\n"
             f"Were administration times met this round?",
        buttons=[Button(label="Yes", action=f"meds_check:{round_name}:yes", style="primary"),
                 Button(label="No…", action=f"meds_check:{round_name}:no")])])


def check_chase(team_name: str, round_name: str, day: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: daily medicines check missing — {team_name}\n"
             f"The {round_name} round check for {day_label(day)} is not recorded. "
             f"Reply: meds check {round_name} yes (or no WHAT HAPPENED)",
        buttons=[Button(label="Yes", action=f"meds_check:{round_name}:yes", style="primary"),
                 Button(label="No…", action=f"meds_check:{round_name}:no")])])


def check_logged(round_name: str, day: date, met: bool, updated: bool) -> Reply:
    verb = "updated" if updated else "recorded"
    return Reply.text(f"Daily check {verb}: {round_name} round {day_label(day)}, times "
                      f"{'met ✓' if met else 'not met'}.", ephemeral=True)


def check_bad(rounds: list[str], round_name: str | None = None, met: str | None = None) -> str:
    example = f"meds check {rounds[0] if rounds else 'morning'} yes"
    if round_name is not None and round_name not in rounds:
        return f"Unknown round {round_name!r}. Rounds: {', '.join(rounds) or 'none configured'}. Example: {example}"
    if met is None:
        return f"Say yes or no: were administration times met? Example: {example}"
    return f"Answer yes or no, not {met!r}. Example: {example}"


def check_needs_note(round_name: str) -> str:
    return (f"Nothing saved yet: say briefly what happened. "
            f"Example: meds check {round_name} no WHAT HAPPENED")


def baseline_set(team_name: str, value: float) -> Reply:
    return Reply.text(f"{team_name}: medicines baseline set to {value:g} late entries per week.",
                      ephemeral=True)


def bad_number(text: str) -> str:
    return f"{text!r} is not a number of late entries per week. Example: meds baseline 10"


def _verdict(on_track: bool | None, unrecorded: int) -> str:
    if on_track:
        return "on track ✓"
    return f"not on track ⚠: {unrecorded} not recorded" if unrecorded else "off track ⚠"


def trend(team_name: str, weeks: list[tuple[date, int, float, int]], baseline: float | None,
          target_pct: int, target_weeks: int, change: float | None, on_track: bool | None,
          unrecorded: int = 0) -> Reply:
    """`unrecorded`: duties with no record in the last full week and this one so far."""
    if baseline is None:
        return Reply.text(f"{team_name}: no medicines baseline yet. A manager sets one: "
                          f"meds baseline 10", ephemeral=True)
    lines = [f"Week of {day_label(start)}: {n} late" + (f" · {gap} not recorded" if gap else "")
             + f" (target ≤ {expected:.1f})" for start, n, expected, gap in weeks]
    goal = baseline * (1 + target_pct / 100)
    summary = f"Baseline {baseline:g}/week · target {target_pct:+d}% ({goal:.1f}/week) in {target_weeks} weeks"
    if change is not None:
        summary += f"\nLast full week vs baseline: {change:+.0f}% · " + _verdict(on_track, unrecorded)
    else:
        summary += "\nNo full week yet."
    total = sum(gap for *_, gap in weeks)
    if total:
        summary += (f"\n{total} dut{'y' if total == 1 else 'ies'} not recorded by the end of "
                    f"their day, counted beside the late entries (record each late, with reason, "
                    f"action= and informed=)")
    return Reply(ephemeral=True, blocks=[
        Block(kind="header", text=f"{team_name}: medicines late entries and unrecorded duties per week"),
        Block(text=summary), Block(text="\n".join(lines) or "No duties yet.")])
