"""What the action tracker says. Actions are about the service, not about clients: titles and
evidence are masked free text, and first lines name a team or an action id, never a person."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from messages.reply import Block, Reply

EXAMPLE_ADD = ('action add "Evening meds late" owner=@amira due="in 6 weeks" risk=medicines '
               'finding="Inspection 2026-10: late evening meds"')
EXAMPLE_EVIDENCE = 'action evidence A-12 audit "MAR audit week 3: 2 late of 140"'
RAG_MARK = {"red": "🔴", "amber": "🟠", "green": "🟢", "blue": "🔵"}
RAG_WORD = {"red": "red", "amber": "amber", "green": "green", "blue": "closed"}
QUESTIONS = {"changed": "What changed?",
             "measured": "How was the change measured?",
             "controlled": "How is the risk controlled now?",
             "monitoring": "What monitoring continues?"}


def label(action_id: int) -> str:
    return f"A-{action_id}"


def add_evidence(action_id: int) -> str:
    """How to record progress on this action (built from it, never a sample about another)."""
    a = label(action_id)
    return f"action evidence {a} KIND TEXT, or note a review: action review {a} TEXT"


def day(d: date) -> str:
    return f"{d:%a %-d %b %Y}"


def due_in(d: date, today: date) -> str:
    days = (d - today).days
    if days == 0:
        return "today"
    if days < 0:
        return f"{-days} day{'s' if days != -1 else ''} overdue"
    return f"in {days} day{'s' if days != 1 else ''}"


def cadence(days: int) -> str:
    return "weekly" if days == 7 else "fortnightly" if days == 14 else f"every {days} days"


def rag_line(rag: str) -> str:
    return f"{RAG_MARK[rag]} {RAG_WORD[rag]}"


def summary(action, owner: str, rag: str, today: date, evidence_n: int) -> list[str]:
    lines = [f"{RAG_MARK[rag]} {label(action.id)} · {action.title}"]
    if action.finding:
        lines.append(f"Finding: {action.finding}")
    if action.state == "closed":
        lines.append(f"Owner: {owner} · closed")
    else:
        lines.append(f"Owner: {owner} · due {day(action.due)} ({due_in(action.due, today)})")
        lines.append(f"Risk: {action.risk} · reviewed {cadence(action.review_days)}, "
                     f"next {day(action.next_review)} ({due_in(action.next_review, today)})")
    lines.append(f"Evidence: {evidence_n} · RAG {RAG_WORD[rag]}")
    return lines


def added(action, owner: str, rag: str, today: date) -> Reply:
    return Reply(ephemeral=True, blocks=[
        Block(text=f"Action {label(action.id)} added"),
        Block(text="\n".join(summary(action, owner, rag, today, 0))),
        Block(kind="context", text=f"Add evidence: {add_evidence(action.id)}")])


def card(action, owner: str, rag: str, today: date, evidence: list,
         extra: list[str] = ()) -> Reply:
    lines = summary(action, owner, rag, today, len(evidence))
    lines += [f"· {e.kind.replace('_', ' ')}: {e.text}" for e in evidence]
    lines += extra  # the CAP fields, metric and milestones (handlers/cap.py)
    return Reply(ephemeral=True, blocks=[Block(text="\n".join(lines)), Block(
        kind="context", text=f"History: action history {label(action.id)}")])


def usage() -> Reply:
    return Reply(ephemeral=True, blocks=[Block(text="\n".join([
        "The action tracker (CAP / CQC plan):",
        EXAMPLE_ADD,
        EXAMPLE_EVIDENCE,
        "action review A-12 on track, 2 late entries this week",
        'action update A-12 owner=@ben due="next Friday"',
        "action close A-12 (asks for the closure summary, one question at a time)",
        "action A-12 · action history A-12 · plan",
        'action set A-12 failure_mode="…" metric=missed_rate target=5% priority=high',
        'action milestone A-12 "Named lead on every round" due="in 2 weeks" · '
        "action milestone done M-4",
        "action reopen A-12 REASON · plan export (the table CQC expects)"]))])


def owner_told(team_name: str, action, today: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: an action on the {team_name} plan is yours\n"
             f"{label(action.id)} · {action.title}\n"
             f"Due {day(action.due)} ({due_in(action.due, today)}); reviewed "
             f"{cadence(action.review_days)}. Record progress: {add_evidence(action.id)}")])


def reminder(team_name: str, action, what: str, today: date) -> Reply:
    when = {"due": f"is due {due_in(action.due, today)} ({day(action.due)})",
            "review": "has a review due today"}[what]
    return Reply(blocks=[Block(
        text=f"carebot: action reminder — {team_name}\n"
             f"{label(action.id)} · {action.title} {when}.\n"
             f"Add evidence: {add_evidence(action.id)}")])


def evidence_added(action, kind: str, n: int, rag: str) -> Reply:
    return Reply.text(f"{label(action.id)}: {kind.replace('_', ' ')} evidence added "
                      f"({n} in all). RAG {rag_line(rag)}. Next review {day(action.next_review)}.",
                      ephemeral=True)


def reviewed(action, rag: str) -> Reply:
    return Reply.text(f"{label(action.id)}: review recorded. RAG {rag_line(rag)}. "
                      f"Next review {day(action.next_review)}.", ephemeral=True)


def updated(action, changes: list[str], rag: str) -> Reply:
    return Reply.text(f"{label(action.id)} updated: {'; '.join(changes)}. RAG {rag_line(rag)}.",
                      ephemeral=True)


def ask_closure(action, field: str, step: int) -> Reply:
    a = label(action.id)
    return closure_question(a, f"action close {a}", field, step)


def closure_question(ref: str, retype: str, field: str, step: int) -> Reply:
    """One of the four closure questions (actions and improvement plans close alike)."""
    return Reply(ephemeral=True, blocks=[
        Block(text=f"Closing {ref} — {step} of 4: {QUESTIONS[field]}"),
        Block(kind="context", text=f"Reply: {retype} YOUR ANSWER "
                                   f"(or {field}=YOUR ANSWER)")])


def closed(team_name: str, action, owner: str, closure: dict, evidence_n: int) -> Reply:
    return Reply(blocks=[
        Block(text=f"{team_name}: action {label(action.id)} closed 🔵"),
        Block(text=action.title, fields=[(QUESTIONS[k], closure[k]) for k in QUESTIONS]
              + [("Owner", owner), ("Evidence", str(evidence_n))])])


def closed_reply(action, team_name: str) -> Reply:
    return Reply.text(f"{label(action.id)} closed 🔵 with its evidence and closure summary; "
                      f"posted to {team_name}. See: action history {label(action.id)}",
                      ephemeral=True)


def history(action, rows: list[tuple], zone: ZoneInfo) -> Reply:
    lines = []
    for version, person in rows:
        snap = version.snapshot
        lines.append(f"v{version.version} · {version.at.astimezone(zone):%-d %b %Y %H:%M} · "
                     f"{person.name} · {version.change}\n"
                     f"   owner {snap['owner']} · due {snap['due']} · {snap['state']}")
    return Reply(ephemeral=True, blocks=[
        Block(text=f"{label(action.id)} · {action.title}: {len(rows)} versions"),
        Block(text="\n".join(lines))])


def plan(title: str, rows: list[tuple], evidence: dict[int, list], today: date,
         request=None, team_names: dict[int, str] | None = None,
         extra: dict[int, list[str]] | None = None) -> Reply:
    """The action plan table as a card per action: item, action, deadline, owner, RAG, key
    documents (a table does not fit a phone)."""
    counts = {k: sum(1 for r in rows if r[1] == k) for k in RAG_MARK}
    head = [f"{title}: action plan ({len(rows)} action{'' if len(rows) == 1 else 's'})",
            " · ".join(f"{RAG_MARK[k]} {counts[k]} {RAG_WORD[k]}" for k in RAG_MARK)]
    if request is not None:
        left = (request.submit_by - today).days
        state = f"{left} days left" if left >= 0 else f"{-left} days late"
        head.append(f"CQC action plan due {day(request.submit_by)} ({state}; request received "
                    f"{day(request.received)})")
    blocks = [Block(text="\n".join(head))]
    for action, rag, owner in rows:
        docs = evidence.get(action.id, [])
        lines = [f"{RAG_MARK[rag]} {label(action.id)} · {action.title}",
                 *([f"Team: {team_names[action.team_id]}"] if team_names else []),
                 f"Item: {action.finding or '—'}",
                 f"Owner: {owner.name} · deadline {day(action.due)} · {RAG_WORD[rag]}",
                 "Key documents: " + ("; ".join(f"{e.kind.replace('_', ' ')}: {e.text}"
                                                for e in docs) or "none yet"),
                 *(extra or {}).get(action.id, [])]  # metric and milestones (handlers/cap.py)
        blocks.append(Block(text="\n".join(lines)))
    if not rows:
        blocks.append(Block(text=f"No actions yet. Add one: {EXAMPLE_ADD}"))
    return Reply(ephemeral=True, blocks=blocks)


def request_recorded(received: date, submit_by: date, today: date) -> Reply:
    return Reply.text(f"CQC request received {day(received)} recorded: the action plan is due "
                      f"{day(submit_by)} ({due_in(submit_by, today)}). See it: plan", ephemeral=True)


def submitted(submit_by: date, today: date) -> Reply:
    late = "" if today <= submit_by else f" ({(today - submit_by).days} days after the deadline)"
    return Reply.text(f"Action plan marked as submitted to CQC on {day(today)}{late}.",
                      ephemeral=True)


# ---- refusals: one line, what was wrong and an example


def unknown(text: str, open_ids: list[int] = ()) -> str:
    """`open_ids`: some open actions of the caller's teams, the refs they may have meant."""
    if open_ids:
        return (f"No action {text[:40]!r} on your teams. Open ones: "
                f"{', '.join(label(i) for i in open_ids)}. Example: action {label(open_ids[0])}")
    return f"No action {text[:40]!r} on your teams, and none is open. Example: action A-12"


def needs_title() -> str:
    return f"Say what the action is, in quotes. Example: {EXAMPLE_ADD}"


def needs_owner() -> str:
    return f"Every action needs one accountable owner: add owner=@handle. Example: {EXAMPLE_ADD}"


def unknown_owner(text: str, option: str = "owner") -> str:
    return f"No one called {text[:40]!r} is set up in carebot. Example: {option}=@amira"


def owner_elsewhere(name: str, option: str = "owner") -> str:
    return (f"{name} is not in any of your teams, so you can't give them an action; nothing "
            f"was changed. Example: {option}=@amira")


def bad_risk(text: str | None, risks) -> str:
    return f"Risk {text!r} must be one of: {', '.join(risks)}. Example: {EXAMPLE_ADD}"


def bad_kind(text: str | None, kinds, action_id: int) -> str:
    shown = ", ".join(k.replace("_", " ") for k in kinds)
    return (f"Evidence kind {text!r} must be one of: {shown}. "
            f"Example: action evidence {label(action_id)} {kinds[0].replace('_', ' ')} TEXT")


def needs_evidence_text(action_id: int) -> str:
    return f"Say what the evidence shows. Example: action evidence {label(action_id)} KIND TEXT"


def needs_review_text(action_id: int) -> str:
    return f"Say what the review found. Example: action review {label(action_id)} TEXT"


def not_owner(action_id: int, owner: str) -> str:
    return (f"Only the owner ({owner}) or a supervisor can update {label(action_id)}; "
            f"nothing was changed. See it: action {label(action_id)}")


def nothing_to_update(action_id: int) -> str:
    return (f"Say what changes. Example: action update {label(action_id)} owner=@HANDLE "
            "due=DATE risk=RISK title=TEXT")


def close_needs_evidence(action_id: int) -> str:
    a = label(action_id)
    return f"{a} can't close without evidence. Add some first: action evidence {a} KIND TEXT"


def already_closed(action_id: int) -> str:
    return f"{label(action_id)} is already closed; nothing changed. See: action history {label(action_id)}"


def no_request() -> str:
    return "There is no open CQC request. Record one: plan cqc 20 Nov 2026"
