"""What staff improvement plans say. Every plan message is a DM or an ephemeral reply; first
lines name the plan (P-2), never the person, so a locked phone shows nothing about anyone."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from messages.actions import QUESTIONS, cadence, day
from messages.actions import due_in as when_from
from messages.reply import Block, Button, Reply

EXAMPLE_OPEN = "pip open @chloe escalation thresholds after two near misses"
EXAMPLE_OBJECTIVE = ('pip objective P-2 "Record escalation rationale for any change in '
                     'baseline" by="in 4 weeks" check="weekly notes audit"')
EXAMPLE_CHECKLIST = 'pip checklist P-2 "notes within 30 min; rationale recorded; handover read"'
EXAMPLE_REVIEW = "pip review P-2 O1=green O2=amber audit 9 of 10 notes on time"
EXAMPLE_CLOSE = "pip close P-2 achieved · pip close P-2 extend by=\"in 2 weeks\" REASON · " \
                "pip close P-2 formal REASON"
RAG_MARK = {"red": "🔴", "amber": "🟠", "green": "🟢"}
RATED = {"met": "met", "partly": "partly met", "not": "not met"}
KIND_WORD = {"observe": "observed shift", "debrief": "end-of-shift debrief",
             "signoff": "senior sign-off", "review": "review", "comment": "their comment",
             "extend": "extended", "formal": "referred to the formal process",
             "achieved": "achieved", "ack": "acknowledged", "checklist": "checklist set"}
PRIVATE = "Only you, your supervisors and managers see this plan."


def label(pip_id: int) -> str:
    return f"P-{pip_id}"


def _when(at, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%a %-d %b %H:%M}"


# ---------------------------------------------------------------- refusals (one line each)

def use_dm() -> str:
    return ("Improvement plans are private: send pip commands to me in a direct message, not in "
            "a team chat; nothing was changed. Example: pip P-2")


def unknown(text: str) -> str:
    return f"No improvement plan {text!r} that you can see. Example: pip P-2 (or pip for your list)"


def not_theirs(pid: int, what: str) -> str:
    return (f"Only the person whose plan it is can {what} {label(pid)}; nothing was changed. "
            f"Example: pip comment {label(pid)} I have started using the prompts")


def not_on_own(pid: int) -> str:
    return (f"{label(pid)} is your own plan: your supervisor or manager records that; nothing "
            f"was changed. Example: pip comment {label(pid)} YOUR WORDS")


def closed_already(pid: int) -> str:
    return f"{label(pid)} is closed; nothing was changed. See it: pip {label(pid)}"


def needs_who() -> str:
    return f"Say whose plan it is. Example: {EXAMPLE_OPEN}"


def unknown_who(text: str) -> str:
    return f"No active colleague {text!r} in your teams. Example: {EXAMPLE_OPEN}"


def not_yourself() -> str:
    return f"You can't open a plan for yourself. Example: {EXAMPLE_OPEN}"


def already_open(pid: int, name: str) -> str:
    return (f"{name} already has an open plan, {label(pid)}; add to it rather than opening "
            f"another. Example: pip objective {label(pid)} \"…\" by=\"in 4 weeks\" check=\"…\"")


def needs(what: str, example: str) -> str:
    return f"Say {what}. Example: {example}"


def bad_rating(text: str | None, pid: int) -> str:
    return (f"{text!r} is not a rating: say met, partly or not. "
            f"Example: pip observe {label(pid)} partly rationale recorded late once")


def bad_checklist(pid: int, why: str) -> str:
    return (f"{why}. Example: pip checklist {label(pid)} \"notes within 30 min; rationale "
            "recorded; handover read\"")


def no_checklist(pid: int) -> str:
    return bad_checklist(pid, f"{label(pid)} has no checklist yet")


def bad_item(text: str | None, pid: int, n: int) -> str:
    return (f"{text!r} is not an item of {label(pid)}'s checklist (1 to {n}); nothing was "
            f"changed. Example: pip tick {label(pid)} 1")


def no_objectives(pid: int) -> str:
    return (f"{label(pid)} has no objectives to review yet. Example: "
            f"pip objective {label(pid)} \"…\" by=\"in 4 weeks\" check=\"weekly audit\"")


def bad_review(pid: int, why: str) -> str:
    return f"{why}; nothing was recorded. Example: pip review {label(pid)} O1=green O2=amber NOTE"


def bad_outcome(text: str | None, pid: int) -> str:
    return (f"{text!r} is not an outcome: say achieved, extend or formal. Example: "
            f"pip close {label(pid)} achieved")


def close_needs_review(pid: int) -> str:
    return (f"{label(pid)} has no review yet: review it before closing it as achieved. "
            f"Example: pip review {label(pid)} O1=green NOTE")


def extended_once(pid: int, until: date) -> str:
    return (f"{label(pid)} was extended once already (to {day(until)}): close it as achieved "
            f"or refer it to the formal process. Example: pip close {label(pid)} formal REASON")


# ---------------------------------------------------------------- replies to the caller

def opened(pip, name: str) -> Reply:
    p = label(pip.id)
    return Reply(ephemeral=True, blocks=[
        Block(text=f"Improvement plan {p} opened for {name}; they have a DM. Reviewed "
                   f"{cadence(pip.review_days)}, first review {day(pip.next_review)}."),
        Block(kind="context", text=f"Next: {EXAMPLE_OBJECTIVE.replace('P-2', p)} · "
                                   f"{EXAMPLE_CHECKLIST.replace('P-2', p)}")])


def done(text: str) -> Reply:
    return Reply.text(text, ephemeral=True)


def objective_added(pid: int, objective) -> Reply:
    return done(f"{label(pid)} O{objective.number} added: by {day(objective.by)}, checked by "
                f"{objective.check}. They have a DM.")


def checklist_set(pid: int, items: list[str], at: str) -> Reply:
    return done(f"{label(pid)} checklist set ({len(items)} items); sent to them by DM at the "
                f"end of each shift ({at}).")


def ticked(pid: int, done_n: int, total: int, again: bool) -> Reply:
    head = "Already ticked" if again else "Ticked"
    return done(f"{head}: {label(pid)} checklist {done_n} of {total} today.")


def entry_added(pid: int, kind: str, rating: str | None, to: str) -> Reply:
    what = KIND_WORD[kind] + (f" ({RATED[rating]})" if rating else "")
    return done(f"{label(pid)}: {what} recorded; {to} has a DM.")


def reviewed(pip, rags: dict[str, str]) -> Reply:
    marks = " ".join(f"{k} {RAG_MARK[v]} {v}" for k, v in rags.items())
    return done(f"{label(pip.id)} review recorded: {marks}. Next review {day(pip.next_review)}.")


def acked(pid: int, again: bool) -> Reply:
    if again:
        return done(f"You acknowledged {label(pid)} already; nothing changed.")
    return done(f"Thank you: {label(pid)} acknowledged. Add your own words any time: "
                f"pip comment {label(pid)} TEXT")


def closed_reply(pid: int, outcome: str) -> Reply:
    return done(f"{label(pid)} closed: {KIND_WORD[outcome]}. The person and reviewer have a DM.")


def extended_reply(pip) -> Reply:
    return done(f"{label(pip.id)} extended once, to {day(pip.extended_to)}. They have a DM.")


# ---------------------------------------------------------------- DMs

def dm(pid: int, head: str, *lines: str, buttons: list[Button] | None = None) -> Reply:
    return Reply(blocks=[Block(text=f"carebot: improvement plan {label(pid)} — {head}"),
                         Block(text="\n".join(line for line in lines if line),
                               buttons=buttons or [])])


def told_opened(pip, by: str, team_name: str) -> Reply:
    p = label(pip.id)
    return dm(pip.id, "opened for you",
              f"{by} opened it ({team_name}).", f"What it is about: {pip.note}" if pip.note else "",
              f"Reviewed {cadence(pip.review_days)}; first review {day(pip.next_review)}.",
              f"Acknowledge it: pip ack {p} · add your own words: pip comment {p} TEXT",
              PRIVATE, buttons=[Button(label="I acknowledge this plan", action=f"pip_ack:{pip.id}",
                                       style="primary")])


def told_objective(pid: int, o, today: date) -> Reply:
    return dm(pid, f"objective O{o.number}", o.text,
              f"By {day(o.by)} ({when_from(o.by, today)}); checked by: {o.check}.", PRIVATE)


def told_checklist(pid: int, items: list[str], at: str) -> Reply:
    return dm(pid, "daily checklist", *(f"{n}. {item}" for n, item in enumerate(items, 1)),
              f"At the end of each shift ({at}) you'll get these as buttons to tick.", PRIVATE)


def told_entry(pid: int, kind: str, rating: str | None, text: str, by: str) -> Reply:
    what = KIND_WORD[kind] + (f": {RATED[rating]}" if rating else "")
    return dm(pid, what, text, f"Recorded by {by}.", f"See the plan: pip {label(pid)}")


def told_review(pip, rags: dict[str, str], note: str, by: str) -> Reply:
    return dm(pip.id, "review", *(f"{k}: {RAG_MARK[v]} {v}" for k, v in rags.items()),
              f"Evidence: {note}", f"Reviewed by {by}; next review {day(pip.next_review)}.",
              f"Add your own words: pip comment {label(pip.id)} TEXT")


def told_outcome(pip, outcome: str, reason: str, closure: dict) -> Reply:
    lines = [f"{QUESTIONS[k]} {closure[k]}" for k in QUESTIONS if k in closure]
    if outcome == "extend":
        lines = [f"Extended once, to {day(pip.extended_to)}.", f"Reason: {reason}"]
    elif outcome == "formal":
        lines = [f"Reason: {reason}"]
    return dm(pip.id, KIND_WORD[outcome], *lines, f"See the plan: pip {label(pip.id)}")


def checklist_dm(pid: int, items: list[str], today: date, done_items: set[int]) -> Reply:
    blocks = [Block(text=f"carebot: improvement plan {label(pid)} — today's checklist"),
              Block(kind="context", text="Tap each one you did this shift.")]
    for n, item in enumerate(items, 1):
        buttons = [] if n in done_items else [Button(
            label="Done", mark="✓", style="primary", action=f"pip_tick:{pid}:{n}:{today}")]
        blocks.append(Block(text=f"{n}. {item}", ref=str(n),
                            status="done" if n in done_items else "open", buttons=buttons))
    return Reply(blocks=blocks)


def review_due(pip, name: str, overdue_days: int, ticks: tuple[int, int]) -> Reply:
    late = f" ({overdue_days} days overdue)" if overdue_days > 0 else ""
    p = label(pip.id)
    return dm(pip.id, f"review due{late}", f"Plan for {name}, due {day(pip.next_review)}.",
              f"Checklist in the 7 days before today: {ticks[0]} of {ticks[1]} items ticked.",
              f"Record it: {EXAMPLE_REVIEW.replace('P-2', p)}")


# ---------------------------------------------------------------- the plan itself

def card(pip, person: str, reviewer: str, objectives: list, entries: list, names: dict[int, str],
         ticks: tuple[int, int], today_ticks: tuple[int, int], today: date,
         zone: ZoneInfo) -> Reply:
    p = label(pip.id)
    state = ("open" if pip.state == "open" else f"closed: {KIND_WORD[pip.outcome]}")
    lines = [f"Improvement plan {p} · {person} · {state}",
             f"Opened {day(pip.opened_at.astimezone(zone).date())} · reviewer {reviewer}"]
    if pip.state == "open":
        lines.append(f"Reviewed {cadence(pip.review_days)}, next {day(pip.next_review)} "
                     f"({when_from(pip.next_review, today)})")
    if pip.extended_to:
        lines.append(f"Extended once to {day(pip.extended_to)}: {pip.extend_reason}")
    if pip.note:
        lines.append(f"About: {pip.note}")
    for o in objectives:
        rag = f"{RAG_MARK[o.rag]} {o.rag}" if o.rag else "not reviewed yet"
        lines.append(f"O{o.number} · {o.text} — by {day(o.by)} · checked by {o.check} · {rag}")
    if pip.checklist:
        lines.append("Checklist: " + "; ".join(f"{n}. {i}" for n, i in enumerate(pip.checklist, 1)))
        before = (f"; the 7 days before {ticks[0]} of {ticks[1]}" if ticks[1]
                  else " (no earlier days yet)")  # a plan set today has no 7 days before
        lines.append(f"Ticked today {today_ticks[0]} of {today_ticks[1]}{before}")
    lines.append(f"Acknowledged {_when(pip.acked_at, zone)}" if pip.acked_at
                 else "Not acknowledged yet")
    history = [f"{_when(e.at, zone)} · {KIND_WORD[e.kind]}"
               + (f" ({RATED[e.rating]})" if e.rating else "")
               + (f" · {e.text}" if e.text else "") + f" · {names.get(e.by_id, '?')}"
               for e in entries if e.kind != "ack"]
    blocks = [Block(text="\n".join(lines))]
    if history:
        blocks.append(Block(text="\n".join(history[-12:])))
    for k in QUESTIONS:
        if k in (pip.closure or {}):
            blocks.append(Block(kind="context", text=f"{QUESTIONS[k]} {pip.closure[k]}"))
    return Reply(ephemeral=True, blocks=blocks)


def listing(rows: list[tuple], today: date, own: bool) -> Reply:
    if not rows:
        return done("No improvement plans for you." if own else
                    f"No improvement plans in your teams. Open one: {EXAMPLE_OPEN}")
    lines = [f"{label(pip.id)} · {person.name} · "
             + (f"next review {day(pip.next_review)} ({when_from(pip.next_review, today)})"
                if pip.state == "open" else f"closed: {KIND_WORD[pip.outcome]}")
             for pip, person in rows]
    return Reply(ephemeral=True, blocks=[
        Block(text=f"Improvement plans ({len(rows)})"), Block(text="\n".join(lines)),
        Block(kind="context", text=f"One plan: pip {label(rows[0][0].id)}")])
