"""What the CAP's accountability says (issue 18 §2): the seeds' action fields, the outcome
metric against its target, milestones with their RAG, reopening, the "sustained?" re-check,
CQC deadline reminders and the plan as the table CQC expects. Like messages/actions.py: first
lines name a team or an action id, never a person or a client."""
from __future__ import annotations

from datetime import date

from messages.actions import RAG_MARK, RAG_WORD, day, due_in, label
from messages.reply import Block, Reply

EXAMPLE_SET = ('action set A-3 failure_mode="evening round runs late" metric=missed_rate '
               'target=5% priority=high regulation="Reg 12"')
EXAMPLE_MILESTONE = 'action milestone A-3 "Named lead on every evening round" due="in 2 weeks"'
EXAMPLE_REOPEN = "action reopen A-3 late entries are back above target"
FIELD_NAMES = {"failure_mode": "Failure mode", "root_cause": "Root cause",
               "immediate_control": "Immediate control", "control": "Control",
               "regulation": "Regulation / quality statement", "priority": "Priority"}


def m_label(milestone_id: int) -> str:
    return f"M-{milestone_id}"


def metric_line(metric, value_text: str, target: float | None, met: bool | None) -> str:
    sign = "≤" if metric.lower_is_better else "≥"
    goal = "no target set" if target is None else f"target {sign} {target:g}{metric.unit}"
    state = {True: " · on target", False: " · off target", None: ""}[met]
    return f"Metric: {metric.label} {value_text} · {goal}{state}"


def milestone_line(m, rag: str, today: date) -> str:
    when = "done" if m.state == "done" else f"due {day(m.due)} ({due_in(m.due, today)})"
    return f"{RAG_MARK[rag]} {m_label(m.id)} · {m.title} · {when}"


def fields_lines(action, control_owner: str | None) -> list[str]:
    lines = []
    for key, name in FIELD_NAMES.items():
        value = getattr(action, key)
        if value:
            if key == "control" and control_owner:
                value = f"{value} (control owner {control_owner})"
            lines.append(f"{name}: {value}")
    if control_owner and not action.control:
        lines.append(f"Control owner: {control_owner}")
    if action.reopened:
        lines.append(f"Reopened {action.reopened} time{'s' if action.reopened != 1 else ''}")
    return lines


def set_done(action, changes: list[str]) -> Reply:
    return Reply.text(f"{label(action.id)} updated: {'; '.join(changes)}. "
                      f"See it: action {label(action.id)}", ephemeral=True)


def milestone_added(action, m, rag: str, today: date) -> Reply:
    return Reply.text(f"{label(action.id)}: milestone {m_label(m.id)} added — "
                      f"{milestone_line(m, rag, today)}. Done: action milestone done "
                      f"{m_label(m.id)}", ephemeral=True)


def milestone_done(action, m) -> Reply:
    return Reply.text(f"{label(action.id)}: milestone {m_label(m.id)} done 🔵. "
                      f"See it: action {label(action.id)}", ephemeral=True)


def milestone_reminder(team_name: str, action, m, today: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: milestone reminder — {team_name}\n"
             f"{m_label(m.id)} of {label(action.id)} · {m.title} is due {due_in(m.due, today)} "
             f"({day(m.due)}).\nDone: action milestone done {m_label(m.id)}")])


def reopened(action, reason: str, due_moved: bool) -> Reply:
    moved = f" Deadline now {day(action.due)}." if due_moved else ""
    return Reply.text(f"{label(action.id)} reopened for review: {reason}.{moved} "
                      f"Owner told. See: action history {label(action.id)}", ephemeral=True)


def reopened_told(team_name: str, action, why: str, today: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: action {label(action.id)} reopened for review — {team_name}\n"
             f"{action.title}\nWhy: {why}\n"
             f"Due {day(action.due)} ({due_in(action.due, today)}). Record progress: action "
             f"evidence {label(action.id)} KIND TEXT")])


def slipped(metric, value_text: str, target: float, weeks: int) -> str:
    sign = "≤" if metric.lower_is_better else "≥"
    return (f"sustained? {weeks}-week check after closure: {metric.label} {value_text}, "
            f"target {sign} {target:g}{metric.unit} — slipped")


def sustained(metric, value_text: str, target: float | None, weeks: int,
              met: bool | None) -> str:
    goal = "" if target is None else f" (target {target:g}{metric.unit})"
    held = "held" if met else "not judged (no data or no target)"
    return (f"sustained? {weeks}-week check after closure: {metric.label} {value_text}{goal}"
            f" — {held}")


def cqc_reminder(days: int, submit_by: date) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: CQC action plan due in {days} day{'s' if days != 1 else ''}\n"
             f"Submit by {day(submit_by)}. See the plan: plan · as CQC's table: plan export · "
             "once sent: plan submitted")])


def export(title: str, rows: list[dict], request, today: date) -> Reply:
    """The plan as the table CQC expects: item, actions, owner, deadline, RAG, evidence."""
    head = [f"{title}: action plan for CQC ({len(rows)} action{'' if len(rows) == 1 else 's'})"]
    if request is not None:
        head.append(f"Due to CQC {day(request.submit_by)} ({due_in(request.submit_by, today)})")
    head.append("Item | Actions | Owner | Deadline | RAG | Evidence")
    lines = [" | ".join([r["item"], r["actions"], r["owner"], r["deadline"], RAG_WORD[r["rag"]],
                         r["evidence"]]) for r in rows]
    blocks = [Block(text="\n".join(head))]
    if lines:
        blocks.append(Block(text="\n".join(lines)))
    else:
        blocks.append(Block(text="No actions yet."))
    return Reply(ephemeral=True, blocks=blocks)


# ---- refusals: one line, what was wrong and an example


def nothing_to_set(action_id: int) -> str:
    return f"Say which field to set. Example: {EXAMPLE_SET.replace('A-3', label(action_id))}"


def bad_metric(text: str, names) -> str:
    return (f"Metric {text!r} must be one of: {', '.join(names)}. "
            "Example: action set A-3 metric=missed_rate target=5%")


def bad_target(text: str) -> str:
    return f"Target {text!r} is not a number. Example: action set A-3 metric=missed_rate target=5%"


def target_needs_metric(action_id: int) -> str:
    return (f"A target needs a metric to measure: add metric=NAME. "
            f"Example: action set {label(action_id)} metric=missed_rate target=5%")


def bad_priority(text: str, names) -> str:
    return (f"Priority {text!r} must be one of: {', '.join(names)}. "
            "Example: action set A-3 priority=high")


def needs_milestone_title(action_id: int) -> str:
    return (f"Say what the milestone is, in quotes. Example: action milestone {label(action_id)} "
            '"Named lead on every evening round" due="in 2 weeks"')


def milestone_after_deadline(action, due: date) -> str:
    return (f"A milestone can't fall after {label(action.id)}'s deadline ({day(action.due)}); "
            f"{day(due)} is later. Example: {EXAMPLE_MILESTONE}")


def unknown_milestone(text: str, open_ids: list[int] = ()) -> str:
    """`open_ids`: some open milestones of the caller's teams, the refs they may have meant."""
    if open_ids:
        return (f"No milestone {text[:40]!r} on your teams. Open ones: "
                f"{', '.join(m_label(i) for i in open_ids)}. "
                f"Example: action milestone done {m_label(open_ids[0])}")
    return (f"No milestone {text[:40]!r} on your teams, and none is open. Example, to add "
            f"one: {EXAMPLE_MILESTONE}")


def milestone_already_done(m) -> str:
    return f"{m_label(m.id)} is already done; nothing changed. Example: action milestone done M-4"


def not_closed(action_id: int) -> str:
    return (f"{label(action_id)} is open, so there is nothing to reopen; nothing changed. "
            f"Example: {EXAMPLE_REOPEN}")


def needs_reason(action_id: int) -> str:
    return f"Say why it reopens. Example: action reopen {label(action_id)} late entries are back"
