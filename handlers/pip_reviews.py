"""Improvement plans, continued (handlers/pips.py opens them): what happens on shift —
observed shifts, end-of-shift debriefs, senior sign-off at handover — weekly reviews with a
RAG per objective and evidence, reminders to the reviewer, and the outcome: achieved (the same
four-part closure summary as actions), extended once with a reason, or referred to the formal
process. Everything is told by DM; nothing reaches a team channel."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.actions import closure_answers
from handlers.base import Context, UserError
from handlers.dates import parse_day
from handlers.grammar import unquote
from handlers.jobs import team_job
from handlers.pips import add_entry, find_pip, managed, person_of, reviewer_of, tell, week_ticks
from handlers.registry import command
from messages import pips as words
from messages.actions import closure_question
from messages.reply import Reply
from storage import outbox
from storage import pips as store
from storage.models import CLOSURE_FIELDS, PIP_RAGS, PIP_RATINGS, Person, Team

_RATING = re.compile(r"(?<!\S)[Oo](\d{1,2})=(\S*)")


def _note(text: str | None, what: str, example: str) -> str:
    note = unquote((text or "").strip())
    if not note:
        raise UserError(words.needs(what, example))
    return note


@command("pip observe", args="id rating? note*", min_role="supervisor",
         example="pip observe P-2 partly escalation rationale recorded, once late",
         summary="Record an observed shift on a plan: met, partly or not, with a note")
def pip_observe(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    rating = (args.rating or "").lower()
    if rating not in PIP_RATINGS:
        raise UserError(words.bad_rating(args.rating, pip.id))
    note = _note(args.note, "what you observed",
                 f"pip observe {words.label(pip.id)} {rating} escalation rationale recorded")
    return _recorded(ctx, pip, "observe", note, rating)


@command("pip debrief", args="id note*", example="pip debrief P-2 rechecked obs after tea",
         summary="Record an end-of-shift reflective debrief on a plan (the person or a supervisor)")
def pip_debrief(ctx: Context, args) -> Reply:
    pip = find_pip(ctx, args.id)  # the person may write their own debrief
    if pip.state != "open":
        raise UserError(words.closed_already(pip.id))
    note = _note(args.note, "what the debrief found",
                 f"pip debrief {words.label(pip.id)} rechecked obs after tea, told the nurse")
    return _recorded(ctx, pip, "debrief", note)


@command("pip signoff", args="id note*", min_role="supervisor",
         example="pip signoff P-2 notes checked at handover, complete",
         summary="Record a senior's sign-off at handover on a plan")
def pip_signoff(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    note = _note(args.note, "what was signed off",
                 f"pip signoff {words.label(pip.id)} notes checked at handover, complete")
    return _recorded(ctx, pip, "signoff", note)


def _recorded(ctx: Context, pip, kind: str, note: str, rating: str | None = None) -> Reply:
    entry = add_entry(ctx, pip, kind, note, rating)
    # The person hears of what others record; a supervisor hears of the person's own debrief.
    to = person_of(ctx, pip) if ctx.person.id != pip.person_id else reviewer_of(ctx, pip)
    tell(ctx, pip, to, {"observe": "observed"}.get(kind, kind), entry.id,
         words.told_entry(pip.id, kind, rating, note, ctx.person.name))
    return words.entry_added(pip.id, kind, rating, to.name)


@command("pip review", args="id text*", min_role="supervisor", example=words.EXAMPLE_REVIEW,
         summary="Review a plan: a RAG for each objective (O1=green …) and the evidence")
def pip_review(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    objectives = store.objectives(ctx.session, pip_id=pip.id)
    if not objectives:
        raise UserError(words.no_objectives(pip.id))
    text = args.text or ""
    rags: dict[str, str] = {}
    numbers = {o.number for o in objectives}
    for number, colour in _RATING.findall(text):
        if int(number) not in numbers:
            raise UserError(words.bad_review(pip.id, f"{words.label(pip.id)} has no O{number}"))
        if colour.lower() not in PIP_RAGS:
            raise UserError(words.bad_review(
                pip.id, f"O{number}={colour!r} is not red, amber or green"))
        rags[f"O{int(number)}"] = colour.lower()
    missing = [f"O{o.number}" for o in objectives if f"O{o.number}" not in rags]
    if missing:
        raise UserError(words.bad_review(pip.id, f"Give every objective a RAG (missing: "
                                                 f"{', '.join(missing)})"))
    note = unquote(" ".join(_RATING.sub(" ", text).split()))
    if not note:
        raise UserError(words.bad_review(pip.id, "Say the evidence after the RAGs"))
    for o in objectives:
        o.rag = rags[f"O{o.number}"]
        ctx.session.add(o)
    pip.next_review = ctx.today + timedelta(days=pip.review_days)
    ctx.session.add(pip)
    entry = add_entry(ctx, pip, "review", note, data={"rag": dict(sorted(rags.items()))})
    tell(ctx, pip, person_of(ctx, pip), "reviewed", entry.id,
         words.told_review(pip, dict(sorted(rags.items())), note, ctx.person.name))
    return words.reviewed(pip, dict(sorted(rags.items())))


@command("pip close", args="id outcome? answer*",
         options=("by", *(f"{f}*" for f in CLOSURE_FIELDS)), min_role="manager",
         example=words.EXAMPLE_CLOSE,
         summary="A plan's outcome: achieved (four-part summary), extend once, or formal")
def pip_close(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    outcome = (args.outcome or "").lower()
    if outcome not in ("achieved", "extend", "formal"):
        raise UserError(words.bad_outcome(args.outcome, pip.id))
    p = words.label(pip.id)
    if outcome == "achieved":
        return _achieved(ctx, pip, args)
    reason = _note(args.answer, "the reason", f"pip close {p} {outcome} "
                   + ('by="in 2 weeks" ' if outcome == "extend" else "") + "REASON")
    if outcome == "extend":
        if pip.extended_to is not None:
            raise UserError(words.extended_once(pip.id, pip.extended_to))
        pip.extended_to = parse_day(args.by, now=ctx.now, zone=ctx.zone, future=True,
                                    what="date it is extended to",
                                    example=f'pip close {p} extend by="in 2 weeks" REASON')
        pip.extend_reason = reason
    else:
        pip.state, pip.outcome, pip.closed_at = "closed", "formal", ctx.now
    ctx.session.add(pip)
    entry = add_entry(ctx, pip, outcome, reason)
    _tell_outcome(ctx, pip, outcome, reason, entry.id)
    return words.extended_reply(pip) if outcome == "extend" else words.closed_reply(pip.id, outcome)


def _achieved(ctx: Context, pip, args) -> Reply:
    if not store.entries(ctx.session, pip_id=pip.id, kind="review"):
        raise UserError(words.close_needs_review(pip.id))
    closure, given = closure_answers(pip.closure, args)
    if given:
        pip.closure = closure
        ctx.session.add(pip)
        ctx.audit("pip:closure", subject=words.label(pip.id), team_id=pip.team_id,
                  parts=sorted(given))
    missing = [f for f in CLOSURE_FIELDS if f not in closure]
    if missing:
        p = words.label(pip.id)
        return closure_question(p, f"pip close {p} achieved", missing[0],
                                len(CLOSURE_FIELDS) - len(missing) + 1)
    pip.state, pip.outcome, pip.closed_at = "closed", "achieved", ctx.now
    ctx.session.add(pip)
    entry = add_entry(ctx, pip, "achieved")
    _tell_outcome(ctx, pip, "achieved", "", entry.id)
    return words.closed_reply(pip.id, "achieved")


def _tell_outcome(ctx: Context, pip, outcome: str, reason: str, n: int) -> None:
    what = "extended" if outcome == "extend" else "closed"
    reply = words.told_outcome(pip, outcome, reason, pip.closure or {})
    for to in (person_of(ctx, pip), reviewer_of(ctx, pip)):
        tell(ctx, pip, to, what, n, reply)


@team_job("pip_review_remind", times=lambda team: [team.morning_post])
def remind_reviewers(session: Session, team: Team, now: datetime) -> bool:
    """A plan's review due today or overdue: a DM to its reviewer each morning until done."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    queued = False
    for pip in store.open_in_team(session, team_id=team.id):
        if pip.next_review > today:
            continue
        reviewer, person = session.get(Person, pip.reviewer_id), session.get(Person, pip.person_id)
        if not reviewer.active:
            continue
        key = outbox.PIP_REVIEW.key(pip=pip.id, day=today, handle=reviewer.handle)
        reply = words.review_due(pip, person.name, (today - pip.next_review).days,
                                 week_ticks(session, pip, today))
        queued |= outbox.notify(session, reviewer.handle, key, reply, now=now)
    return queued
