"""Staff performance improvement plans (seed 004): a supervisor or manager opens a plan for
one staff member (`pip open @chloe`), sets measurable objectives (what, by when, how checked)
and a daily checklist the person ticks at the end of each shift.

Private by design: only the person, the supervisors and managers of the plan's team (the
nominated individual: all) see a plan; every message about it is a DM; every reply is
ephemeral, and a team chat that shows replies to everyone (a Telegram group) is refused. It is
never posted to a channel, never in `plan` or `status`, and in the evidence pack only with
`--include-pips`. Observations, reviews and outcomes: handlers/pip_reviews.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError
from handlers.dates import parse_day
from handlers.grammar import record_id, unquote
from handlers.jobs import team_job
from handlers.registry import command
from messages import pips as words
from messages.reply import Reply
from storage import outbox, repo
from storage import pips as store
from storage.models import Person, Pip, PipEntry, PipObjective, Team, at_least

REVIEW_DAYS = 7  # reviews are weekly by default (seed: "weekly review meetings")
MAX_ITEMS, MAX_ITEM = 10, 160  # a checklist fits a phone screen


# ---------------------------------------------------------------- who may see and change a plan


def private_place(ctx: Context) -> None:
    """A plan never shows in a team's chat. Slack answers there ephemerally (only the caller
    sees it) and the console is one person's terminal; a Telegram group shows every reply to
    all its members, so there a pip command is refused before anything is read or written."""
    if ctx.chat_id and not ctx.private and ctx.transport not in ("slack", "console"):
        raise UserError(words.use_dm())


def may_see(ctx: Context, pip: Pip) -> bool:
    """The person, and the supervisors and managers of the plan's team (the access rule)."""
    return pip.person_id == ctx.person.id or (
        at_least(ctx.person, "supervisor") and pip.team_id in ctx.visible_team_ids)


def find_pip(ctx: Context, text: str | None) -> Pip:
    """A plan the caller may see; any other is "no such plan" (its existence is private too)."""
    private_place(ctx)
    number = record_id(text, "P-")
    pip = ctx.session.get(Pip, number) if number else None
    if pip is None or not may_see(ctx, pip):
        raise UserError(words.unknown(text or ""))
    return pip


def managed(ctx: Context, text: str | None) -> Pip:
    """A plan the caller runs (a supervisor or manager of its team, not its person), open."""
    pip = find_pip(ctx, text)
    if pip.person_id == ctx.person.id:
        raise UserError(words.not_on_own(pip.id))
    if pip.state != "open":
        raise UserError(words.closed_already(pip.id))
    return pip


def own(ctx: Context, text: str | None, what: str) -> Pip:
    """The caller's own plan (acknowledge, comment, tick)."""
    pip = find_pip(ctx, text)
    if pip.person_id != ctx.person.id:
        raise UserError(words.not_theirs(pip.id, what))
    return pip


def add_entry(ctx: Context, pip: Pip, kind: str, text: str = "", rating: str | None = None,
              data: dict | None = None) -> PipEntry:
    entry = PipEntry(pip_id=pip.id, kind=kind, rating=rating, text=text, data=data or {},
                     at=ctx.now, by_id=ctx.person.id)
    ctx.session.add(entry)
    ctx.session.flush()
    # The audit says who did what to which plan; the words stay in the plan's own tables.
    ctx.audit(f"pip:{kind}", subject=words.label(pip.id), team_id=pip.team_id, rating=rating)
    return entry


def tell(ctx: Context, pip: Pip, to: Person, what: str, n: int, reply: Reply) -> bool:
    """A DM about the plan (the only way a plan's news travels); never to the caller."""
    if to.id == ctx.person.id or not to.active:
        return False
    return ctx.notify(to, outbox.PIP_DM.key(pip=pip.id, what=what, n=n, handle=to.handle), reply)


def person_of(ctx: Context, pip: Pip) -> Person:
    return ctx.session.get(Person, pip.person_id)


def reviewer_of(ctx: Context, pip: Pip) -> Person:
    return ctx.session.get(Person, pip.reviewer_id)


def shift_end(team: Team) -> str:
    return team.reconcile  # the team's end-of-day time is the end of the day shift


# ---------------------------------------------------------------- opening and shaping a plan


@command("pip open", args="who? note*", min_role="supervisor", example=words.EXAMPLE_OPEN,
         summary="Open a private improvement plan for one staff member (DMs only)")
def pip_open(ctx: Context, args) -> Reply:
    private_place(ctx)
    if not args.who:
        raise UserError(words.needs_who())
    person = ctx.person_named(args.who)
    theirs = [t for t in repo.teams_of(ctx.session, person) if ctx.belongs(t.id)] if person else []
    if person is None or not person.active or not theirs:
        raise UserError(words.unknown_who(args.who))  # another team's people are not named
    if person.id == ctx.person.id:
        raise UserError(words.not_yourself())
    current = store.open_for(ctx.session, person_id=person.id)
    if current is not None:
        raise UserError(words.already_open(current.id, person.name))
    team = ctx.team if ctx.team.id in {t.id for t in theirs} else theirs[0]
    note = unquote((args.note or "").strip()) or None
    pip = Pip(team_id=team.id, person_id=person.id, reviewer_id=ctx.person.id, note=note,
              opened_at=ctx.now, review_days=REVIEW_DAYS,
              next_review=ctx.today + timedelta(days=REVIEW_DAYS))
    ctx.session.add(pip)
    ctx.session.flush()
    ctx.audit("pip:open", subject=words.label(pip.id), team_id=team.id, person=person.handle)
    tell(ctx, pip, person, "opened", 0, words.told_opened(pip, ctx.person.name, team.name))
    return words.opened(pip, person.name)


@command("pip objective", args="id text*", options=("by*", "check*"), min_role="supervisor",
         example=words.EXAMPLE_OBJECTIVE,
         summary="Add a measurable objective to a plan: what, by when, how it is checked")
def pip_objective(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    example = words.EXAMPLE_OBJECTIVE.replace("P-2", words.label(pip.id))
    text = unquote((args.text or "").strip())
    if not text:
        raise UserError(words.needs("what must change", example))
    by = parse_day(args.by, now=ctx.now, zone=ctx.zone, future=True, what="date it is due by",
                   example=example)
    check = unquote((args.check or "").strip())
    if not check:
        raise UserError(words.needs('how it will be checked (check="…")', example))
    number = len(store.objectives(ctx.session, pip_id=pip.id)) + 1
    objective = PipObjective(pip_id=pip.id, number=number, text=text, by=by, check=check,
                             at=ctx.now, by_id=ctx.person.id)
    ctx.session.add(objective)
    ctx.session.flush()
    ctx.audit("pip:objective", subject=words.label(pip.id), team_id=pip.team_id,
              objective=f"O{number}", by=by.isoformat())
    tell(ctx, pip, person_of(ctx, pip), "objective", objective.id,
         words.told_objective(pip.id, objective, ctx.today))
    return words.objective_added(pip.id, objective)


@command("pip checklist", args="id items*", min_role="supervisor", example=words.EXAMPLE_CHECKLIST,
         summary="Set a plan's daily checklist (items split by ;), sent by DM at shift end")
def pip_checklist(ctx: Context, args) -> Reply:
    pip = managed(ctx, args.id)
    items = [i.strip() for i in unquote((args.items or "").strip()).split(";") if i.strip()]
    if not items:
        raise UserError(words.bad_checklist(pip.id, "Say the checklist's items, split by ;"))
    if len(items) > MAX_ITEMS or any(len(i) > MAX_ITEM for i in items):
        raise UserError(words.bad_checklist(
            pip.id, f"At most {MAX_ITEMS} items of {MAX_ITEM} characters each"))
    pip.checklist = items
    ctx.session.add(pip)
    entry = add_entry(ctx, pip, "checklist", "; ".join(items))
    team = ctx.session.get(Team, pip.team_id)
    tell(ctx, pip, person_of(ctx, pip), "checklist", entry.id,
         words.told_checklist(pip.id, items, shift_end(team)))
    return words.checklist_set(pip.id, items, shift_end(team))


def _day(ctx: Context, text: str | None, pip: Pip) -> date:
    """The day a tick is for: today, or the day on the checklist DM's button (up to 2 days
    back: a late shift's tap after midnight still counts for its shift)."""
    if not text:
        return ctx.today
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    if day is None or not ctx.today - timedelta(days=2) <= day <= ctx.today:
        raise UserError(f"{text!r} is not a day you can tick for (today or the 2 days before, "
                        f"as YYYY-MM-DD). Example: pip tick {words.label(pip.id)} 1")
    return day


@command("pip tick", args="id item day?", example="pip tick P-2 1",
         summary="Tick an item of your plan's daily checklist (the DM's buttons do it)")
def pip_tick(ctx: Context, args) -> Reply:
    pip = own(ctx, args.id, "tick the checklist of")
    if pip.state != "open":
        raise UserError(words.closed_already(pip.id))
    if not pip.checklist:
        raise UserError(words.no_checklist(pip.id))
    n = len(pip.checklist)
    item = int(args.item) if (args.item or "").isdigit() else 0
    if not 1 <= item <= n:
        raise UserError(words.bad_item(args.item, pip.id, n))
    day = _day(ctx, args.day, pip)
    new = store.add_tick(ctx.session, pip_id=pip.id, day=day, item=item, at=ctx.now)
    if new:
        ctx.audit("pip:tick", subject=words.label(pip.id), team_id=pip.team_id,
                  day=day.isoformat(), item=item)
    done = len(store.ticked(ctx.session, pip_id=pip.id, day=day))
    return words.ticked(pip.id, done, n, again=not new)


# ---------------------------------------------------------------- the person's own part


@command("pip ack", args="id", example="pip ack P-2",
         summary="Acknowledge your improvement plan")
def pip_ack(ctx: Context, args) -> Reply:
    pip = own(ctx, args.id, "acknowledge")
    if pip.acked_at is not None:
        return words.acked(pip.id, again=True)
    pip.acked_at = ctx.now
    ctx.session.add(pip)
    entry = add_entry(ctx, pip, "ack")
    tell(ctx, pip, reviewer_of(ctx, pip), "acked", entry.id,
         words.told_entry(pip.id, "ack", None, "The person acknowledged the plan.",
                          ctx.person.name))
    return words.acked(pip.id, again=False)


@command("pip comment", args="id text*", example="pip comment P-2 I use the prompt card now",
         summary="Add your own words to your improvement plan, kept with it")
def pip_comment(ctx: Context, args) -> Reply:
    pip = own(ctx, args.id, "comment on")
    text = unquote((args.text or "").strip())
    if not text:
        raise UserError(words.needs("your comment", f"pip comment {words.label(pip.id)} "
                                                    "I use the prompt card now"))
    entry = add_entry(ctx, pip, "comment", text)
    tell(ctx, pip, reviewer_of(ctx, pip), "comment", entry.id,
         words.told_entry(pip.id, "comment", None, text, ctx.person.name))
    return words.entry_added(pip.id, "comment", None, reviewer_of(ctx, pip).name)


# ---------------------------------------------------------------- reading


def week_ticks(session: Session, pip: Pip, today: date) -> tuple[int, int]:
    """Checklist items ticked in the 7 days before today (whole shifts), of those asked."""
    first, last = max(today - timedelta(days=7), pip.opened_at.date()), today - timedelta(days=1)
    if last < first:
        return 0, 0
    return (store.ticks_between(session, pip_id=pip.id, first=first, last=last),
            ((last - first).days + 1) * len(pip.checklist or []))


@command("pip", args="id?", example="pip P-2",
         summary="Your improvement plan, or the plans you supervise (private: a DM)")
def pip_card(ctx: Context, args) -> Reply:
    if not args.id:
        private_place(ctx)
        manager = at_least(ctx.person, "supervisor")
        rows = store.plans(ctx.session, team_ids=ctx.visible_team_ids) if manager else \
            store.plans(ctx.session, person_id=ctx.person.id)
        return words.listing(rows, ctx.today, own=not manager)
    pip = find_pip(ctx, args.id)
    entries = store.entries(ctx.session, pip_id=pip.id)
    names = {p.id: p.name for p in repo.people_by_id(
        ctx.session, {e.by_id for e in entries} | {pip.person_id, pip.reviewer_id}).values()}
    today_ticks = (len(store.ticked(ctx.session, pip_id=pip.id, day=ctx.today)),
                   len(pip.checklist or []))
    return words.card(pip, names[pip.person_id], names[pip.reviewer_id],
                      store.objectives(ctx.session, pip_id=pip.id), entries, names,
                      week_ticks(ctx.session, pip, ctx.today), today_ticks, ctx.today, ctx.zone)


# ---------------------------------------------------------------- at the end of each shift


@team_job("pip_checklist", times=lambda team: [shift_end(team)])
def send_checklists(session: Session, team: Team, now: datetime) -> bool:
    """Each open plan with a checklist: its items as buttons, by DM to the person."""
    today = now.astimezone(ZoneInfo(team.zone)).date()
    queued = False
    for pip in store.open_in_team(session, team_id=team.id):
        person = session.get(Person, pip.person_id)
        if not pip.checklist or not person.active:
            continue
        done = store.ticked(session, pip_id=pip.id, day=today)
        queued |= outbox.notify(session, person.handle,
                                outbox.PIP_CHECKLIST.key(pip=pip.id, day=today),
                                words.checklist_dm(pip.id, pip.checklist, today, done), now=now)
    return queued
