"""Words for the front door (handlers/referrals.py): client refs, bases and staff names only.
The first line of a DM or post never identifies a client (it shows on a locked phone)."""
from __future__ import annotations

from datetime import date, datetime

from messages.reply import Block, Reply

EXAMPLE_ADD = "referral add C-8K2W source=gp basis=gp_referral"


def _bases(bases: list[str]) -> str:
    return ", ".join(bases)


def bad_ref(ref: str, why: str) -> str:
    """Not echoed: a ref shaped like an NHS number or a birth date must not travel on."""
    return f"That ref {why}; use an opaque ref like C-8K2W. Example: {EXAMPLE_ADD}"


def unknown_basis(basis: str, bases: list[str], example: str) -> str:
    return (f"{basis[:40]!r} is not an eligibility basis. Use one of: {_bases(bases)}. "
            f"Example: {example}")


def bad_source(example: str) -> str:
    return f"Say who referred in one word or a few (source=gp, source=ward7). Example: {example}"


def exists(ref: str, status: str, team_name: str) -> str:
    return (f"{ref} is already referred ({status}, {team_name}); nothing was changed. "
            f"To see the pending ones: referrals")


def not_found(ref: str, keys: list[str],
              example: str = "referral authorise C-8K2W basis=gp_referral") -> str:
    return (f"No referral {ref[:40]!r} on your teams ({', '.join(keys)}). "
            f"Pending ones: referrals. Example: {example}")


def not_authoriser(verb: str) -> str:
    return (f"Only a manager or a named authoriser (config `authoriser = true`) can {verb} a "
            f"referral; nothing was changed. Ask one of them, or see: referrals")


def not_validator() -> str:
    return ("Only a supervisor, a manager or a named authoriser can validate a referral; "
            "nothing was changed. Example: referral validate C-8K2W ok")


def added(ref: str, team_name: str, basis: str | None, by: str, at: datetime) -> str:
    if basis:
        return (f"{ref} accepted for {team_name} on basis {basis} ({by}, {at:%H:%M}). "
                f"A sample of the day's accepted referrals is validated tomorrow.")
    return (f"{ref} is pending authorisation ({team_name}): no services until a manager or "
            f"authoriser decides. Next: referral authorise {ref} basis=gp_referral "
            f"or referral decline {ref} REASON")


def needs_basis(ref: str, bases: list[str]) -> str:
    return (f"{ref} has no eligibility basis yet: give one to authorise it ({_bases(bases)}). "
            f"Example: referral authorise {ref} basis={bases[0]}")


def already(ref: str, status: str, verb: str) -> str:
    return f"{ref} is already {status}: it cannot be {verb}; nothing was changed."


def authorised(ref: str, basis: str, by: str, at: datetime) -> str:
    return f"{ref} authorised on basis {basis} by {by} at {at:%H:%M}. Services may begin."


def declined(ref: str, by: str, at: datetime) -> str:
    return (f"{ref} declined by {by} at {at:%H:%M}: its client cannot be imported as a "
            f"contact. The reason is on the record.")


def need_reason(ref: str) -> str:
    return f"Say why it is declined. Example: referral decline {ref} out of area"


def bad_result(ref: str) -> str:
    return (f"Validate with ok or wrong (a note is needed for wrong). Example: referral validate "
            f"{ref} ok · referral validate {ref} wrong basis should be continuing_care")


def not_accepted(ref: str, status: str) -> str:
    return (f"{ref} is {status}: only an accepted (authorised) referral is validated; "
            f"nothing was changed.")


def own_decision(ref: str) -> str:
    return (f"You accepted {ref} yourself: a second person validates it; nothing was "
            f"changed. Ask a colleague to: referral validate {ref} ok")


def already_validated(ref: str, result: str, by: str) -> str:
    return f"{ref} was already validated ({result}) by {by}; nothing was changed."


def validated(ref: str, result: str, by: str) -> str:
    if result == "ok":
        return f"{ref} validated by {by}: the eligibility basis is right."
    return (f"{ref} validated by {by}: the basis is WRONG; recorded with your note. "
            f"The authoriser should review it (referral decline {ref} REASON if ineligible).")


def pending_list(team_name: str, items: list[tuple[str, str, datetime]], now: datetime,
                 decides: bool = True) -> Reply:
    """`referrals`: (ref, source, received local time) of the pending ones; `decides`: the
    reader may authorise (else the hint says who does, not commands they would be refused)."""
    if not items:
        return Reply.text(f"{team_name}: no referrals pending authorisation.", ephemeral=True)
    lines = [f"{ref} · from {source[:30]} · waiting {_age(now - at)}" for ref, source, at in items]
    return Reply(ephemeral=True, blocks=[
        Block(text=f"{team_name}: {len(items)} referral{'s' * (len(items) != 1)} pending "
                   "authorisation"),
        Block(text="\n".join(lines)),
        Block(kind="context", text="referral authorise REF basis=… · referral decline REF REASON"
              if decides else "A manager or a named authoriser decides each one.")])


def _age(delta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h"


def pending_reminder(team_name: str, ref: str, hours: int) -> Reply:
    return Reply(blocks=[
        Block(text=f"carebot: a referral waits for authorisation — {team_name}"),
        Block(text=f"{ref} has been pending for over {hours} h: no services until it is "
                   f"decided. referral authorise {ref} basis=… · referral decline {ref} REASON")])


def sample_post(team_name: str, day: date, accepted: int, refs: list[tuple[str, str, str]]) -> Reply:
    """The morning's validation sample: (ref, basis, who accepted it)."""
    lines = [f"{ref} · basis {basis} · accepted by {by}" for ref, basis, by in refs]
    return Reply(blocks=[
        Block(text=f"carebot: referrals to validate today — {team_name}"),
        Block(text=f"{len(refs)} of {accepted} referral{'s' * (accepted != 1)} accepted "
                   f"{day:%a %-d %b} sampled for a second check of the eligibility basis:\n"
                   + "\n".join(lines)),
        Block(kind="context", text="Not the person who accepted it: referral validate REF ok · "
                                   "referral validate REF wrong NOTE")])


def chase(team_name: str, refs: list[tuple[str, date]]) -> Reply:
    lines = [f"{ref} · sampled {day:%a %-d %b}" for ref, day in refs]
    return Reply(blocks=[
        Block(text=f"carebot: referral validation overdue — {team_name}"),
        Block(text=f"{len(refs)} sampled referral{'s' * (len(refs) != 1)} not validated by the "
                   "end of the next day:\n" + "\n".join(lines)),
        Block(kind="context", text="referral validate REF ok · referral validate REF wrong NOTE")])


def wrong_basis(team_name: str, ref: str, basis: str | None, by: str, at: datetime,
                note: str | None) -> Reply:
    """To the person who accepted it and the team's managers: the second check found the basis
    wrong. The first line names no client; the note as stored (masked on the way in)."""
    return Reply(blocks=[
        Block(text=f"carebot: a referral's eligibility basis was judged wrong — {team_name}"),
        Block(text=f"{ref}: basis {basis or '?'} judged wrong by {by} at {at:%H:%M} "
                   f"({at:%a %-d %b})." + (f" Note: {note}" if note else "")),
        Block(kind="context", text=f"Review it: referral decline {ref} REASON if it is not "
                                   "eligible; the validation is on the record.")])
