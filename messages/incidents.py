"""What the incident learning clock says. Incident refs only; first lines name the team."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from messages.catalog import HIGH
from messages.reply import Block, Reply

EXAMPLE_OPEN = "incident open INC-31 falls risk=high"
NAMES = {"review": "management review (incident review REF TEXT)",
         "action": "action (incident action REF TEXT)",
         "learning": "learning point (learn TEXT incident=REF)"}


def _when(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %-d %b %H:%M")


def opened(team_name: str, ref: str, category: str, risk: str, review_by: datetime,
           due: datetime, zone: ZoneInfo, reopened_because: str | None = None) -> Reply:
    verb = "reopened" if reopened_because else "opened"
    lines = [f"{team_name}: incident {ref} {verb} ({category}, {risk} risk)"]
    if reopened_because:
        lines.append(f"Reason: {reopened_because}. A new action is needed.")
    else:
        lines.append(f"Same-day management review due by {_when(review_by, zone)}.")
    lines.append(f"Review + action + learning point due by {_when(due, zone)}.")
    return Reply(blocks=[Block(text="\n".join(lines))])


def opened_reply(ref: str, due: datetime, zone: ZoneInfo) -> Reply:
    return Reply.text(f"Incident {ref} opened; the 7-day clock runs to {_when(due, zone)}.",
                      ephemeral=True)


def ref_taken(ref: str) -> str:
    return f"The ref {ref} is already in use; nothing changed. Pick another. Example: {EXAMPLE_OPEN}"


def exists(ref: str, state: str) -> str:
    hint = f"incident reopen {ref} REASON" if state == "closed" else f"incident review {ref} TEXT"
    return f"Incident {ref} already exists ({state}); nothing changed. Next: {hint}"


def bad_ref(ref: str) -> str:
    return f"{ref!r} is not an incident ref (letters, digits and -). Example: {EXAMPLE_OPEN}"


def personal_ref(why: str) -> str:
    # The ref is not echoed: it would be personal data in the reply.
    return (f"That incident ref {why}: refs go into every post and the audit, so they must "
            f"identify nobody. Example: {EXAMPLE_OPEN}")


def bad_category(category: str | None, categories: list[str]) -> str:
    got = f"Unknown category {category!r}. " if category else "Say the category. "
    return f"{got}Use one of: {', '.join(categories)}. Example: {EXAMPLE_OPEN}"


def bad_risk(risk: str) -> str:
    return f"Risk {risk!r} must be high, medium or low. Example: {EXAMPLE_OPEN}"


def unknown(ref: str) -> str:
    return f"No incident {ref!r} on your teams. See them with `incident list`. Example: incident review INC-31 TEXT"


def needs_text(verb: str, ref: str) -> str:
    what = {"review": "WHAT THE REVIEW FOUND", "action": "WHAT WILL CHANGE",
            "reopen": "WHY IT IS REOPENED"}[verb]
    return f"Nothing saved: say what the {verb} is. Example: incident {verb} {ref} {what}"


def recorded(ref: str, what: str, missing: list[str]) -> Reply:
    text = f"Incident {ref}: {what} recorded."
    text += (f" Still needed before closing: {', '.join(missing)}." if missing
             else f" Ready to close: incident close {ref}")
    return Reply.text(text, ephemeral=True)


def close_refused(ref: str, missing: list[str]) -> str:
    return (f"Incident {ref} can't close yet; missing: "
            + "; ".join(NAMES[m].replace("REF", ref) for m in missing) + ".")


def closed(team_name: str, ref: str, in_time: bool) -> Reply:
    return Reply(blocks=[Block(text=f"{team_name}: incident {ref} closed "
                                    + ("within 7 days ✓" if in_time else "after its 7-day clock")
                                    + "\nReview, action and learning point recorded.")])


def already_closed(ref: str) -> Reply:
    return Reply.text(f"Incident {ref} is already closed; nothing changed.", ephemeral=True)


def not_closed(ref: str) -> str:
    return f"Incident {ref} is still open, so there is nothing to reopen. See: incident list"


def listing(team_name: str, rows: list[tuple], zone: ZoneInfo, now: datetime) -> Reply:
    """rows: (incident, missing) in priority order."""
    if not rows:
        return Reply.text(f"{team_name}: no open incidents.", ephemeral=True)
    lines = []
    for inc, missing in rows:
        flag = f"{HIGH} " if inc.risk == "high" else ""
        due = "overdue" if inc.due_at <= now else f"due {_when(inc.due_at, zone)}"
        review = " · review overdue" if not inc.review and inc.review_due_at <= now else ""
        lines.append(f"{flag}{inc.ref} · {inc.category} · {inc.risk} · {due}{review} · "
                     + (f"needs {', '.join(missing)}" if missing else "ready to close"))
    return Reply(ephemeral=True, blocks=[
        Block(text=f"{team_name}: open incidents ({len(rows)})"), Block(text="\n".join(lines))])


def review_missing(team_name: str, ref: str, category: str) -> Reply:
    return Reply(blocks=[Block(
        text=f"carebot: a same-day incident review is missing — {team_name}\n"
             f"{ref} ({category}) has no management review yet. "
             f"Record it: incident review {ref} TEXT")])
