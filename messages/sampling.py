"""The words of documentation sampling: the week's sample to audit, the audit's answers and
the reminders. Client refs and contact ids only; staff names are colleagues' (never in a first
line); a defect's note is never posted, only stored."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from messages.catalog import KIND_LABELS, picker
from messages.reply import Block, Button, Reply

# A line's controls: (label, mark) by result.
AUDIT_BUTTONS = {"ok": ("OK", "✓"), "defect": ("Defect…", "✗")}
MAX_ACTION = 64  # bytes: Telegram's callback_data


@dataclass(frozen=True)
class Line:
    ref: str
    contact: str  # the contact id: what a button names (a client may be sampled twice)
    kind: str
    due: datetime
    result: str | None = None
    code: str | None = None


@dataclass
class Group:
    """One person's records in the sample, and why there are more of them, if there are."""

    name: str
    lines: list[Line] = field(default_factory=list)
    why: str | None = None  # e.g. "×2: missing_outcome 2 times in 4 weeks"


def week_span(first: date, last: date, week: str) -> str:
    return f"{first:%a %-d %b} – {last:%a %-d %b %Y} ({week})"


def repeat_why(factor: int, repeats: dict[str, int]) -> str:
    said = ", ".join(f"{code} {n} times" for code, n in sorted(repeats.items()))
    return f"sample ×{factor}: repeat defect ({said} in 4 weeks)"


def _handle(line: Line, codes: list[str]) -> str:
    """What a button names: the contact id (the picker's longest action must fit), or the
    client ref if it would not."""
    longest = f"audit:{line.contact}:defect:{max(codes, key=len, default='')}"
    return line.contact if len(longest.encode()) <= MAX_ACTION else line.ref


def _state(line: Line) -> str:
    if line.result is None:
        return "to audit"
    return "ok ✓" if line.result == "ok" else f"defect: {line.code}"


def _line(line: Line, zone: ZoneInfo, codes: list[str], twice: bool = False) -> Block:
    """`twice`: the client is in the sample more than once, so `audit REF` needs the contact
    id the line shows beside the ref."""
    shown = f"{line.ref} ({line.contact})" if twice else line.ref
    text = " · ".join([shown, KIND_LABELS.get(line.kind, line.kind),
                       f"{line.due.astimezone(zone):%a %-d %b}", _state(line)])
    buttons = []
    if line.result is None:
        buttons = [Button(label=label, action=f"audit:{_handle(line, codes)}:{result}", mark=mark,
                          style="primary" if result == "ok" else None)
                   for result, (label, mark) in AUDIT_BUTTONS.items()]
    return Block(text=text, ref=line.ref, status=line.result or "open", buttons=buttons)


def sample_list(team_name: str, span: str, groups: list[Group], zone: ZoneInfo,
                codes: list[str], *, first_line: str | None = None) -> Reply:
    """The sample grouped by whose record, each line with OK / Defect… while still to audit.
    `first_line`: a DM's opening line (names only the team)."""
    every = [line for g in groups for line in g.lines]
    audited = sum(1 for line in every if line.result)
    defects = sum(1 for line in every if line.result == "defect")
    blocks = [Block(text=first_line)] if first_line else []
    blocks += [Block(kind="header", text=f"{team_name}: documentation sample"),
               Block(text=f"Records of {span}\n{len(every)} drawn · {audited} audited · "
                          f"{defects} defect{'s' if defects != 1 else ''} · "
                          f"{len(every) - audited} to audit")]
    if not every:
        blocks.append(Block(text="No records were done that week: nothing to audit."))
    refs = Counter(line.ref for line in every)
    for group in groups:
        why = f" · {group.why}" if group.why else ""
        blocks.append(Block(text=f"\n{group.name} ({len(group.lines)}){why}"))
        blocks += [_line(line, zone, codes, refs[line.ref] > 1) for line in group.lines]
    twice = " (REF: the id in brackets for a client listed twice)" if max(
        refs.values(), default=0) > 1 else ""
    blocks.append(Block(kind="context", text=f"Audit: audit REF ok · audit REF defect CODE "
                                             f"[NOTE]{twice}. Codes: {', '.join(codes)}"))
    return Reply(blocks=blocks, ephemeral=first_line is None)


def drawn_first_line(team_name: str) -> str:
    return f"carebot: this week's documentation sample to audit — {team_name}"


def no_sample(team_name: str, when: str) -> Reply:
    nxt = f" The next draw is {when}." if when else " The team's sample_draw is off (\"\")."
    return Reply.text(f"{team_name}: no documentation sample drawn yet.{nxt}", ephemeral=True)


def audited(ref: str, result: str, code: str | None, left: int) -> Reply:
    said = "ok ✓" if result == "ok" else f"defect: {code}"
    more = f"{left} still to audit." if left else "The sample is fully audited."
    return Reply.text(f"{ref} audited: {said}. {more}", ephemeral=True)


def already_audited(ref: str, result: str, code: str | None, by: str, at: datetime,
                    zone: ZoneInfo) -> Reply:
    said = "ok" if result == "ok" else f"defect: {code}"
    return Reply.text(f"{ref} is already audited ({said}, by {by} at "
                      f"{at.astimezone(zone):%a %-d %b %H:%M}); nothing changed.", ephemeral=True)


def defect_picker(ref: str, handle: str, codes: list[str]) -> Reply:
    return picker(f"What is missing in {ref}'s record? Pick a defect code, or type e.g. "
                  f"`audit {ref} defect {codes[0]}`.", "Defect codes", "audit", f"{handle}:defect",
                  [(c, c.replace("_", " ")) for c in codes])


def unknown_code(code: str, ref: str, codes: list[str], near: list[str]) -> str:
    guess = f" Did you mean {' or '.join(near)}?" if near else ""
    return (f"Unknown defect code {code[:40]!r}.{guess} Use one of: {', '.join(codes)}. "
            f"Nothing was recorded. Example: audit {ref} defect {(near or codes)[0]}")


def bad_result(word: str, ref: str, codes: list[str]) -> str:
    return (f"Say ok or defect after the ref, not {word[:20]!r}. Nothing was recorded. "
            f"Example: audit {ref} ok · audit {ref} defect {codes[0]}")


def need_result(ref: str, codes: list[str]) -> str:
    return (f"Say whether {ref}'s record meets the standard. Nothing was recorded. "
            f"Example: audit {ref} ok · audit {ref} defect {codes[0]}")


def not_in_sample(ref: str, near: list[str]) -> str:
    guess = f" Did you mean {' or '.join(near)}?" if near else ""
    return (f"{ref[:40]!r} is not in your team's current documentation sample.{guess} "
            f"Nothing was recorded. See the records to audit with `sample`. "
            f"Example: audit {(near or ['C-2M9Q'])[0]} ok")


def ambiguous(ref: str, contacts: list[str]) -> str:
    return (f"{ref} is in the sample {len(contacts)} times ({', '.join(contacts)}): name the "
            f"contact. Nothing was recorded. Example: audit {contacts[0]} ok")


def remind(team_name: str, span: str, left: int, total: int, *, overdue: bool) -> Reply:
    """To supervisors (due) or managers (overdue): the first line names only the team."""
    if overdue:
        text = (f"{left} of {total} records of {span} are still not audited, after the "
                "supervisors' reminder. The CAP's documentation standard asks for every sampled "
                "record to be audited each week.")
    else:
        text = (f"{left} of {total} records of {span} are still to audit this week. "
                "Type `sample` for the list (OK / Defect… on each line).")
    head = "overdue" if overdue else "still to audit"
    return Reply(blocks=[Block(text=f"carebot: documentation sample {head} — {team_name}"),
                         Block(text=text)])
