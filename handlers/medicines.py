"""Protected medicines duties: the round's list with its named lead, given / late entries with
reason, immediate action and person informed, time-critical pages, the lead's daily check
and the weekly trend against the baseline.

The round's posts, check prompts, chases and paging run on the clock in handlers/meds_rounds.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.meds_rounds import lead_name, round_reply, rounds, settings
from handlers.registry import command
from messages import medicines as words
from messages.reply import Reply
from storage import medicines as store
from storage import status as metrics
from storage import outbox, repo
from storage.models import MedsCheck, MedsDuty, Team

# ---------------------------------------------------------------- commands


def _duty(ctx: Context, duty_id: str) -> MedsDuty:
    duty = store.find_duty(ctx.session, duty_id=duty_id.upper(), team_ids=ctx.visible_team_ids) or \
        store.find_duty(ctx.session, duty_id=duty_id, team_ids=ctx.visible_team_ids)
    if duty is None:
        raise UserError(words.unknown_duty(duty_id))
    return duty


def _refresh_round_post(ctx: Context, duty: MedsDuty) -> None:
    """Keep the round's channel post showing what is recorded (edited in place)."""
    team = ctx.session.get(Team, duty.team_id)
    day = duty.due_at.astimezone(ZoneInfo(team.zone)).date()
    rnd = next((r for r in rounds(team) if r["name"] == duty.round), None)
    key = outbox.MEDS_ROUND.key(team=team.key, round=duty.round, day=day)
    if rnd and outbox.outbox_exists(ctx.session, key):
        ctx.session.flush()
        outbox.refresh_post(ctx.session, key=key, now=ctx.now,
                            payload=round_reply(ctx.session, team, rnd, day))


@command("meds", summary="Today's protected medicines duties for your team", example="meds")
def meds(ctx: Context, args) -> Reply:
    start, end = day_bounds(ctx.today, ctx.zone)
    duties = store.duties_between(ctx.session, team_id=ctx.team.id, start=start, end=end)
    return words.duty_list(ctx.team.name, ctx.today, duties, ctx.zone)


def _round_start(team: Team, duty: MedsDuty) -> datetime:
    """When the duty's round begins on the duty's local day (its due time if no round)."""
    zone = ZoneInfo(team.zone)
    rnd = next((r for r in rounds(team) if r["name"] == duty.round), None)
    if rnd is None:
        return duty.due_at
    day = duty.due_at.astimezone(zone).date()
    return datetime.combine(day, time.fromisoformat(rnd["time"]), zone)


def _after_window(duty: MedsDuty, now: datetime) -> bool:
    """Recorded after due time + window: late by the clock, whatever the verb."""
    return now > duty.due_at + timedelta(minutes=duty.window_minutes)


@command("meds done", args="duty reason*", options=("action", "informed"),
         summary="Record a medicines duty as given (after its window it is a late entry: "
                 "add the reason, action= and informed=)",
         example="meds done D-14")
def meds_done(ctx: Context, args) -> Reply:
    duty = _duty(ctx, args.duty)
    if duty.status != "open":
        return words.already(duty.duty_id, duty.status)
    if _after_window(duty, ctx.now):
        return _exception(ctx, args, "late", verb="done", duty=duty)
    duty.status, duty.recorded_at, duty.recorded_by_id = "given", ctx.now, ctx.person.id
    ctx.session.add(duty)
    ctx.audit("meds:given", subject=duty.duty_id, team_id=duty.team_id)
    escalation.settle(ctx, f"meds:{duty.duty_id}", "duty recorded as given")
    _refresh_round_post(ctx, duty)
    return words.given(duty.duty_id, ctx.now, ctx.zone)


def _exception(ctx: Context, args, kind: str, *, verb: str | None = None,
               duty: MedsDuty | None = None) -> Reply:
    duty = duty or _duty(ctx, args.duty)
    team = ctx.session.get(Team, duty.team_id)
    zone = ZoneInfo(team.zone)
    starts = _round_start(team, duty)
    if kind == "late" and ctx.now < starts:
        raise UserError(words.round_not_started(duty, starts, zone))
    values = {"reason": args.reason, "action": args.action, "informed": args.informed}
    missing = [name for name, value in values.items() if not (value or "").strip()]
    if missing:
        rnd = next((r for r in rounds(team) if r["name"] == duty.round), None)
        example = words.exception_example(duty, verb or kind, ctx.now, zone,
                                          lead_name(ctx.session, rnd))
        if verb == "done":
            raise UserError(words.done_after_window(duty, zone, missing, example))
        raise UserError(words.exception_missing(duty.duty_id, kind, missing, example))
    if duty.status in ("late", "missed"):
        return words.already(duty.duty_id, duty.status)
    clean = {name: value.strip() for name, value in values.items()}
    store.add_exception(ctx.session, duty_id=duty.id, team_id=duty.team_id, kind=kind, at=ctx.now,
                        by_id=ctx.person.id, **clean)
    previous = duty.status
    duty.status, duty.recorded_at, duty.recorded_by_id = kind, ctx.now, ctx.person.id
    ctx.session.add(duty)
    ctx.audit(f"meds:{kind}", subject=duty.duty_id, team_id=duty.team_id, previous=previous,
              reason=clean["reason"],
              immediate_action=clean["action"], informed=clean["informed"], verb=verb or kind)
    escalation.settle(ctx, f"meds:{duty.duty_id}", f"duty recorded {kind}: {clean['action']}")
    _refresh_round_post(ctx, duty)
    return words.exception_logged(duty.duty_id, kind, after_window=verb == "done")


@command("meds late", args="duty reason*", options=("action*", "informed*"),
         summary="Record a late medicines entry: reason, immediate action, person informed",
         example=words.EXAMPLE_LATE)
def meds_late(ctx: Context, args) -> Reply:
    return _exception(ctx, args, "late")


@command("meds missed", args="duty reason*", options=("action*", "informed*"),
         summary="Record a missed medicines duty: reason, immediate action, person informed",
         example=words.EXAMPLE_LATE.replace("late", "missed", 1))
def meds_missed(ctx: Context, args) -> Reply:
    return _exception(ctx, args, "missed")


@command("meds check", args="round? met? note*",
         summary="The lead's daily check: were administration times met this round?",
         example="meds check morning yes")
def meds_check(ctx: Context, args) -> Reply:
    names = [r["name"] for r in rounds(ctx.team)]
    name = (args.round or "").lower()
    if name not in names:
        raise UserError(words.check_bad(names, args.round or ""))
    met = (args.met or "").lower()
    if met not in ("yes", "no", "y", "n"):
        raise UserError(words.check_bad(names, name, args.met))
    rnd = next(r for r in rounds(ctx.team) if r["name"] == name)
    starts = datetime.combine(ctx.today, time.fromisoformat(rnd["time"]), ctx.zone)
    if ctx.now < starts:
        raise UserError(words.check_not_started(name, starts, ctx.zone, names))
    met_ok = met.startswith("y")
    if not met_ok and not args.note:
        raise UserError(words.check_needs_note(name))
    row = store.check_for(ctx.session, team_id=ctx.team.id, round=name, day=ctx.today)
    updated = row is not None
    row = row or MedsCheck(team_id=ctx.team.id, round=name, day=ctx.today, met=met_ok,
                           at=ctx.now, by_id=ctx.person.id)
    row.met, row.note, row.at, row.by_id = met_ok, args.note, ctx.now, ctx.person.id
    ctx.session.add(row)
    ctx.audit("meds:check", subject=f"{ctx.team.key}:{name}:{ctx.today}", met=met_ok, note=row.note)
    return words.check_logged(name, ctx.today, met_ok, updated)


@command("meds baseline", args="value", min_role="manager",
         summary="Set the team's baseline of late medicines entries per week",
         example="meds baseline 10")
def meds_baseline(ctx: Context, args) -> Reply:
    try:
        value = float(args.value)
    except ValueError:
        raise UserError(words.bad_number(args.value)) from None
    if not 0 <= value < 10_000:  # also refuses nan and inf
        raise UserError(words.bad_number(args.value))
    previous = settings(ctx.team).baseline
    ctx.team.medicines = {**(ctx.team.medicines or {}), "baseline_set": value}
    ctx.session.add(ctx.team)
    ctx.audit("meds:baseline", subject=ctx.team.key, value=value, previous=previous)
    return words.baseline_set(ctx.team.name, value)


@command("meds trend", summary="Late medicines entries per week against baseline and target",
         example="meds trend")
def meds_trend(ctx: Context, args) -> Reply:
    return trend_reply(ctx.session, ctx.team, ctx.now)


def trend_reply(session: Session, team: Team, now: datetime) -> Reply:
    """Weeks (Monday to Sunday, team zone) from the first duty's week; the target falls in a
    straight line from the baseline to baseline × (1 + target %) over the target weeks."""
    cfg, zone = settings(team), ZoneInfo(team.zone)
    baseline = cfg.baseline
    first = store.first_duty(session, team_id=team.id)
    if baseline is None or first is None:
        return words.trend(team.name, [], baseline, cfg.meds_target_pct,
                           cfg.meds_target_weeks, None, None)
    day = first.astimezone(zone).date()
    start = day - timedelta(days=day.weekday())
    today = now.astimezone(zone).date()
    this_week = today - timedelta(days=today.weekday())
    mondays = [start + timedelta(weeks=i) for i in range((this_week - start).days // 7 + 1)]
    lo, _ = day_bounds(start, zone)
    _, hi = day_bounds(this_week + timedelta(days=6), zone)
    counts = dict.fromkeys(mondays, 0)
    for due in store.exceptions_between(session, team_id=team.id, start=lo, end=hi):
        local = due.astimezone(zone).date()
        counts[local - timedelta(days=local.weekday())] += 1
    # No record by the end of its local day: today's open duties may still be given.
    windows = [(day_bounds(m, zone)[0], day_bounds(m + timedelta(days=6), zone)[1]) for m in mondays]
    unrecorded = dict(zip(mondays, metrics.meds_unrecorded(
        session, team_ids=[team.id], windows=windows, before=day_bounds(today, zone)[0])[team.id]))
    weeks_n, pct = cfg.meds_target_weeks, cfg.meds_target_pct
    weeks = [(monday, counts[monday], baseline * (1 + pct / 100 * min(i, weeks_n) / weeks_n),
              unrecorded[monday]) for i, monday in enumerate(mondays, 1)]
    change = on_track = None
    recent = weeks[-1][3] + (weeks[-2][3] if len(weeks) >= 2 else 0)
    if len(weeks) >= 2:  # the last full week: the one before this one
        _, n, expected, _ = weeks[-2]
        change = (n - baseline) / baseline * 100 if baseline else 0.0
        # Unrecorded duties may hide late ones: never "on track" while any went unrecorded
        # (last full week or this week so far).
        on_track = n <= expected + 1e-9 and recent == 0
    return words.trend(team.name, weeks[-12:], baseline, pct, weeks_n, change, on_track, recent)
