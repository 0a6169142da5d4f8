"""Documentation sampling (CAP: "a documentation minimum standard", "sample five records per
staff member weekly", "defects logged by type", "repeat defects trigger increased sampling").

Every week (team config `sample_draw`, default Monday 08:00) last week's done contacts are
sampled: `sample_per_person` records per person whose record they are, drawn with a generator
seeded by team, ISO week and person over their contacts in id order, so nobody chooses what is
audited and a re-run draws the same. Someone with the same defect code twice in the 4 sampled
weeks before gets `sample_repeat_factor` times as many. Each supervisor gets the list by DM;
`sample` shows it with OK / Defect… on every line; `audit REF ok` or `audit REF defect CODE
[NOTE]` records the result. Not fully audited by `sample_remind` (Friday 15:00) the
supervisors are reminded, by `sample_overdue` (Friday 17:00) the managers: once each."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError, day_bounds
from handlers.jobs import team_job
from handlers.phone import closest, ref_variants
from handlers.registry import command
from messages import sampling as words
from messages.reply import Reply
from storage import escalations as people
from storage import outbox, repo
from storage import sampling as store
from storage.models import DocSample, Person, Team

DEFAULT_DEFECT_CODES = ["missing_outcome", "no_risk_update", "late_entry", "unsigned",
                        "incomplete_plan"]
DEFAULTS = {"per_person": 5, "repeat_factor": 2, "draw": "mon 08:00", "remind": "fri 15:00",
            "overdue": "fri 17:00", "defect_codes": DEFAULT_DEFECT_CODES}
REPEAT_WEEKS = 4  # a defect code twice within this many sampled weeks is a repeat


def settings(team: Team) -> dict:
    """The team's sampling settings (config, synced to team.sampling) over the defaults."""
    out = {**DEFAULTS, **{k: v for k, v in (team.sampling or {}).items() if v is not None}}
    out["defect_codes"] = list(out["defect_codes"]) or DEFAULT_DEFECT_CODES
    return out


# ---------------------------------------------------------------- weeks


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_days(week: str) -> tuple[date, date]:
    """The Monday and Sunday of an ISO week like 2026-W48."""
    year, number = week.split("-W")
    first = date.fromisocalendar(int(year), int(number), 1)
    return first, first + timedelta(days=6)


def weeks_before(week: str, n: int) -> list[str]:
    first, _ = week_days(week)
    return [iso_week(first - timedelta(weeks=i)) for i in range(1, n + 1)]


def sampled_week(team: Team, now: datetime) -> str:
    """The week a draw made now samples: last week, in the team's zone."""
    return iso_week(now.astimezone(ZoneInfo(team.zone)).date() - timedelta(weeks=1))


def span(week: str) -> str:
    return words.week_span(*week_days(week), week)


# ---------------------------------------------------------------- the draw


def pick(team_key: str, week: str, handle: str, contact_ids: list[int], n: int) -> list[int]:
    """n of a person's contacts, reproducibly: seeded by team, week and person (so one person's
    draw never depends on anyone else's), over the ids in ascending order."""
    ordered = sorted(contact_ids)
    chosen = random.Random(f"{team_key}:{week}:{handle}").sample(ordered, min(n, len(ordered)))
    return sorted(chosen)


def repeats(session: Session, team: Team, week: str) -> dict[int, dict[str, int]]:
    """{person id: {code: n}} for the codes logged at least twice in the sampled weeks before."""
    found = store.defects(session, team_id=team.id, weeks=weeks_before(week, REPEAT_WEEKS))
    out = {p: {c: n for c, n in codes.items() if n >= 2} for p, codes in found.items()}
    return {p: codes for p, codes in out.items() if codes}


def draw(session: Session, team: Team, week: str, now: datetime) -> bool:
    """Draw the team's sample of `week` once; False when it was drawn already (a re-run)."""
    if store.drawn(session, team_id=team.id, week=week):
        return False
    cfg = settings(team)
    zone = ZoneInfo(team.zone)
    first, last = week_days(week)
    start, end = day_bounds(first, zone)[0], day_bounds(last, zone)[1]
    by_person = store.done_contacts(session, team_id=team.id, start=start, end=end)
    who = repo.people_by_id(session, by_person)
    repeat = repeats(session, team, week)
    rows = []
    for person_id in sorted(by_person, key=lambda p: who[p].handle):
        increased = person_id in repeat
        n = cfg["per_person"] * (cfg["repeat_factor"] if increased else 1)
        for contact_id in pick(team.key, week, who[person_id].handle, by_person[person_id], n):
            rows.append(DocSample(team_id=team.id, week=week, contact_id=contact_id,
                                  person_id=person_id, drawn_at=now,
                                  reason="increased" if increased else "standard"))
    store.add(session, rows)
    repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                   action="sample:draw", subject=f"{team.key}:{week}", team=team.key,
                   detail={"records": len(rows), "people": len(by_person),
                           "increased": sorted(who[p].handle for p in repeat if p in by_person)})
    return True


def sample_reply(session: Session, team: Team, week: str,
                 first_line: str | None = None) -> Reply:
    cfg = settings(team)
    lines = store.lines(session, team_id=team.id, week=week)
    who = repo.people_by_id(session, {line.row.person_id for line in lines})
    repeat = repeats(session, team, week)
    groups: dict[int, words.Group] = {}
    for line in lines:
        person_id = line.row.person_id
        group = groups.setdefault(person_id, words.Group(name=who[person_id].name))
        if line.row.reason == "increased" and person_id in repeat:
            group.why = words.repeat_why(cfg["repeat_factor"], repeat[person_id])
        group.lines.append(words.Line(ref=line.ref, contact=line.contact, kind=line.kind,
                                      due=line.due, result=line.row.result,
                                      code=line.row.defect_code))
    ordered = sorted(groups.values(), key=lambda g: g.name)
    return words.sample_list(team.name, span(week), ordered, ZoneInfo(team.zone),
                             cfg["defect_codes"], first_line=first_line)


@team_job("sample_draw", times=lambda team: [settings(team)["draw"]] if settings(team)["draw"] else [])
def sample_draw(session: Session, team: Team, now: datetime) -> bool:
    """Last week's sample, drawn once, and the list to each of the team's supervisors (once per
    week each)."""
    week = sampled_week(team, now)
    draw(session, team, week, now)
    if not store.drawn(session, team_id=team.id, week=week):
        return False  # nothing was done that week: nothing to audit, nobody told
    reply = sample_reply(session, team, week, first_line=words.drawn_first_line(team.name))
    queued = False
    for person in people.with_role(session, team_id=team.id, role="supervisor"):
        key = outbox.SAMPLE.key(team=team.key, week=week, handle=person.handle)
        queued |= outbox.notify(session, person.handle, key, reply, now=now)
    return queued


def _remind(session: Session, team: Team, now: datetime, *, what: str, role: str) -> bool:
    """This week's sample (last week's records) not fully audited: one DM to each person of
    `role` in the team, once per week."""
    week = sampled_week(team, now)
    lines = store.lines(session, team_id=team.id, week=week)
    left = sum(1 for line in lines if line.row.result is None)
    if not left:
        return False
    reply = words.remind(team.name, span(week), left, len(lines), overdue=what == "overdue")
    queued = False
    for person in people.with_role(session, team_id=team.id, role=role):
        key = outbox.SAMPLE_REMIND.key(team=team.key, week=week, what=what, handle=person.handle)
        queued |= outbox.notify(session, person.handle, key, reply, now=now)
    return queued


@team_job("sample_remind",
          times=lambda team: [settings(team)["remind"]] if settings(team)["remind"] else [])
def sample_remind(session: Session, team: Team, now: datetime) -> bool:
    return _remind(session, team, now, what="due", role="supervisor")


@team_job("sample_overdue",
          times=lambda team: [settings(team)["overdue"]] if settings(team)["overdue"] else [])
def sample_overdue(session: Session, team: Team, now: datetime) -> bool:
    return _remind(session, team, now, what="overdue", role="manager")


# ---------------------------------------------------------------- commands


@command("sample", args="team?", min_role="supervisor", example="sample",
         summary="This week's documentation sample: the records still to audit, whose they are")
def sample(ctx: Context, args) -> Reply:
    team = ctx.named_team(args.team, "sample") if args.team else ctx.team
    week = store.latest_week(ctx.session, team_id=team.id)
    if week is None:
        return words.no_sample(team.name, settings(team)["draw"])
    return sample_reply(ctx.session, team, week)


def _find(ctx: Context, ref: str) -> store.Line:
    """A record of the current sample (each of the person's teams' latest draw) by contact id
    or client ref; a client sampled twice must be named by its contact id."""
    typed = {v.upper() for v in [ref, *ref_variants(ref)]}
    current = [line for team_id in ctx.visible_team_ids
               for week in [store.latest_week(ctx.session, team_id=team_id)] if week
               for line in store.lines(ctx.session, team_id=team_id, week=week)]
    by_contact = [line for line in current if line.contact.upper() in typed]
    if by_contact:
        return by_contact[0]
    by_ref = [line for line in current if line.ref.upper() in typed]
    if not by_ref:
        raise UserError(words.not_in_sample(ref, closest(ref_variants(ref)[-1],
                                                         sorted({x.ref for x in current}), 2)))
    open_ones = [line for line in by_ref if line.row.result is None]
    if len(open_ones) > 1 or (not open_ones and len(by_ref) > 1):
        raise UserError(words.ambiguous(by_ref[0].ref, [line.contact for line in by_ref]))
    return (open_ones or by_ref)[0]


@command("audit", args="ref result? code? note*", min_role="supervisor",
         example="audit C-2M9Q defect late_entry",
         summary="Record a sampled record's audit: ok, or defect CODE [NOTE]")
def audit(ctx: Context, args) -> Reply:
    if args.result and args.result.lower() not in ("ok", "defect"):  # before "name the contact"
        raise UserError(words.bad_result(args.result, args.ref,
                                         settings(ctx.team)["defect_codes"]))
    line = _find(ctx, args.ref)
    team = ctx.session.get(Team, line.row.team_id)
    codes = settings(team)["defect_codes"]
    result = (args.result or "").lower()
    if not result:
        raise UserError(words.need_result(line.ref, codes))
    if result not in ("ok", "defect"):
        raise UserError(words.bad_result(args.result, line.ref, codes))
    row = line.row
    if row.result is not None:
        by = ctx.session.get(Person, row.audited_by_id)
        return words.already_audited(line.ref, row.result, row.defect_code, by.name,
                                     row.audited_at, ctx.zone)
    code, note = None, args.note
    if result == "defect":
        if not args.code:
            return words.defect_picker(line.ref, args.ref, codes)
        code = args.code.lower().replace("-", "_")
        if code not in codes:
            raise UserError(words.unknown_code(args.code, line.ref, codes,
                                               closest(args.code, codes, 2)))
    elif args.code:  # `audit REF ok` takes a note too
        note = " ".join(filter(None, [args.code, args.note]))
    row.result, row.defect_code = result, code
    row.note = (note or "").strip() or None
    row.audited_by_id, row.audited_at = ctx.person.id, ctx.now
    ctx.session.add(row)
    ctx.audit(f"sample:{result}", subject=line.contact, team_id=team.id, week=row.week,
              ref=line.ref, code=code, note=row.note)
    left = sum(1 for x in store.lines(ctx.session, team_id=team.id, week=row.week)
               if x.row.result is None)
    # Named by its contact id (a client sampled twice): the reply says which record it was.
    named = line.contact.upper() in {v.upper() for v in [args.ref, *ref_variants(args.ref)]}
    reply = words.audited(f"{line.ref} ({line.contact})" if named else line.ref, result, code,
                          left)
    reply.refresh = f"sample {team.key}"
    if ctx.from_button:
        reply.refreshed = sample_reply(ctx.session, team, row.week)
    return reply
