"""Protected medicines duties: the round's list with its named lead, given / late entries with
reason, immediate action and person informed, time-critical pages, the lead's daily check
and the weekly trend against the baseline.

Round times are in the team's zone. The round's duties post 30 minutes before the round, the
daily check prompt 60 minutes after it, and a missing check is chased (DM to the lead) 3
hours after it. Outbox keys make each happen once per round per day.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.jobs import team_job
from handlers.registry import command
from messages import medicines as words
from messages.reply import Reply
from storage import medicines as store
from storage import repo
from storage.models import MedsCheck, MedsDuty, Team

POST_BEFORE, CHECK_AFTER, CHASE_AFTER = -30, 60, 180  # minutes from the round's time
DEFAULTS = {"meds_rounds": [], "meds_alert_minutes": 30, "meds_check_days": 14,
            "meds_baseline": None, "meds_target_pct": -80, "meds_target_weeks": 8}


def settings(team: Team) -> dict:
    return {**DEFAULTS, **(team.medicines or {})}


def rounds(team: Team) -> list[dict]:
    return settings(team)["meds_rounds"]


def _shift(hhmm: str, minutes: int) -> str:
    moment = datetime.combine(date(2000, 1, 1), time.fromisoformat(hhmm)) + timedelta(minutes=minutes)
    return moment.strftime("%H:%M")


def _due_rounds(team: Team, now: datetime, offset: int) -> list[tuple[dict, date]]:
    """Rounds whose moment (round time + offset) has passed in the last 12 hours, with their day."""
    zone = ZoneInfo(team.zone)
    today = now.astimezone(zone).date()
    out = []
    for rnd in rounds(team):
        for day in (today - timedelta(days=1), today):
            moment = (datetime.combine(day, time.fromisoformat(rnd["time"]), zone)
                      + timedelta(minutes=offset))
            if moment <= now < moment + timedelta(hours=12):
                out.append((rnd, day))
    return out


def _lead_name(session: Session, rnd: dict | None) -> str | None:
    person = repo.person_by_handle(session, rnd["lead"]) if rnd else None
    return person.name if person else None


def round_reply(session: Session, team: Team, rnd: dict, day: date) -> Reply:
    zone = ZoneInfo(team.zone)
    start, end = day_bounds(day, zone)
    duties = store.duties_between(session, team_id=team.id, start=start, end=end, round=rnd["name"])
    return words.round_post(team.name, rnd["name"], day, _lead_name(session, rnd), duties, zone)


def round_key(team: Team, round_name: str, day: date) -> str:
    return f"meds:{team.key}:{round_name}:{day.isoformat()}"


@team_job("meds_round", times=lambda team: [_shift(r["time"], POST_BEFORE) for r in rounds(team)])
def round_posts(session: Session, team: Team, now: datetime) -> bool:
    """The round's protected duties with the named lead: once per round per local day."""
    queued = False
    for rnd, day in _due_rounds(team, now, POST_BEFORE):
        key = round_key(team, rnd["name"], day)
        if repo.enqueue(session, key=key, target=f"team:{team.key}", now=now,
                        payload=round_reply(session, team, rnd, day).model_dump(mode="json")):
            repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                           action="post:meds", subject=team.key, team=team.key, detail={"key": key})
            queued = True
    return queued


def _in_check_period(session: Session, team: Team, day: date) -> bool:
    first = store.first_duty(session, team_id=team.id)
    if first is None:
        return False
    start = first.astimezone(ZoneInfo(team.zone)).date()
    return start <= day < start + timedelta(days=settings(team)["meds_check_days"])


def _unchecked(session: Session, team: Team, now: datetime, after: int):
    """(round, day) whose daily check is still missing `after` minutes past the round."""
    for rnd, day in _due_rounds(team, now, after):
        if _in_check_period(session, team, day) and \
                not store.check_for(session, team_id=team.id, round=rnd["name"], day=day):
            yield rnd, day


@team_job("meds_check", times=lambda team: [_shift(r["time"], CHECK_AFTER) for r in rounds(team)])
def check_prompts(session: Session, team: Team, now: datetime) -> bool:
    """Ask the channel: were administration times met this round? (the configured period only)"""
    queued = False
    for rnd, day in _unchecked(session, team, now, CHECK_AFTER):
        queued |= repo.enqueue(session, key=f"meds-check:{team.key}:{rnd['name']}:{day}",
                               target=f"team:{team.key}", now=now,
                               payload=words.check_prompt(team.name, rnd["name"], day)
                               .model_dump(mode="json"))
    return queued


@team_job("meds_chase", times=lambda team: [_shift(r["time"], CHASE_AFTER) for r in rounds(team)])
def check_chases(session: Session, team: Team, now: datetime) -> bool:
    """A check still missing: one DM to the round's protected lead."""
    queued = False
    for rnd, day in _unchecked(session, team, now, CHASE_AFTER):
        queued |= repo.enqueue(session, key=f"meds-chase:{team.key}:{rnd['name']}:{day}",
                               target=f"person:{rnd['lead']}", now=now,
                               payload=words.check_chase(team.name, rnd["name"], day)
                               .model_dump(mode="json"))
    return queued


def page_overdue(session: Session, teams: list[Team], now: datetime) -> None:
    """Time-critical duties unrecorded past the alert time page the lead, then the chain.
    One query for every team with the same alert time (the sweep runs this each minute)."""
    by_alert: dict[int, dict[int, Team]] = {}
    for team in teams:
        by_alert.setdefault(settings(team)["meds_alert_minutes"], {})[team.id] = team
    for alert, by_id in by_alert.items():
        for duty in store.overdue_critical(session, team_ids=list(by_id), now=now,
                                           alert_minutes=alert):
            _page_duty(session, by_id[duty.team_id], duty, alert, now)


def _page_duty(session: Session, team: Team, duty: MedsDuty, alert: int, now: datetime) -> None:
    lead = next((r.get("lead") for r in rounds(team) if r["name"] == duty.round), None)
    chain = (team.escalation or escalation.DEFAULT_POLICY)["chain"]
    escalation.open_escalation(
        session, team=team, subject=f"meds:{duty.duty_id}", trigger="meds_time_critical",
        ref=duty.client_ref, summary=f"medicines {duty.duty_id}: no record {alert} min after due",
        now=now, opened_by="scheduler", chain=[f"person:{lead}", *chain] if lead else None)


def next_deadline(session: Session, team: Team, now: datetime) -> datetime | None:
    return store.next_critical(session, team_id=team.id, now=now,
                               alert_minutes=settings(team)["meds_alert_minutes"])


escalation.DEADLINE_CHECKS.append((page_overdue, next_deadline))


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
    key = round_key(team, duty.round, day)
    if rnd and repo.outbox_exists(ctx.session, key):
        ctx.session.flush()
        repo.refresh_post(ctx.session, key=key, now=ctx.now,
                          payload=round_reply(ctx.session, team, rnd, day).model_dump(mode="json"))


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
    ctx.audit("meds:given", subject=duty.duty_id)
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
                                          _lead_name(ctx.session, rnd))
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
    ctx.audit(f"meds:{kind}", subject=duty.duty_id, previous=previous, reason=clean["reason"],
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
    previous = settings(ctx.team)
    ctx.team.medicines = {**(ctx.team.medicines or {}), "baseline_set": value}
    ctx.session.add(ctx.team)
    ctx.audit("meds:baseline", subject=ctx.team.key, value=value,
              previous=previous.get("baseline_set", previous["meds_baseline"]))
    return words.baseline_set(ctx.team.name, value)


@command("meds trend", summary="Late medicines entries per week against baseline and target",
         example="meds trend")
def meds_trend(ctx: Context, args) -> Reply:
    return trend_reply(ctx.session, ctx.team, ctx.now)


def trend_reply(session: Session, team: Team, now: datetime) -> Reply:
    """Weeks (Monday to Sunday, team zone) from the first duty's week; the target falls in a
    straight line from the baseline to baseline × (1 + target %) over the target weeks."""
    cfg, zone = settings(team), ZoneInfo(team.zone)
    baseline = cfg.get("baseline_set", cfg["meds_baseline"])
    first = store.first_duty(session, team_id=team.id)
    if baseline is None or first is None:
        return words.trend(team.name, [], baseline, cfg["meds_target_pct"],
                           cfg["meds_target_weeks"], None, None)
    day = first.astimezone(zone).date()
    start = day - timedelta(days=day.weekday())
    today = now.astimezone(zone).date()
    this_week = today - timedelta(days=today.weekday())
    mondays = [start + timedelta(weeks=i) for i in range((this_week - start).days // 7 + 1)]
    lo, _ = day_bounds(start, zone)
    _, hi = day_bounds(this_week + timedelta(days=6), zone)
    counts, unrecorded = dict.fromkeys(mondays, 0), dict.fromkeys(mondays, 0)
    for due in store.exceptions_between(session, team_id=team.id, start=lo, end=hi):
        local = due.astimezone(zone).date()
        counts[local - timedelta(days=local.weekday())] += 1
    # No record by the end of its local day: today's open duties may still be given.
    for due in store.unrecorded_between(session, team_id=team.id, start=lo,
                                        end=day_bounds(today, zone)[0]):
        local = due.astimezone(zone).date()
        unrecorded[local - timedelta(days=local.weekday())] += 1
    weeks_n, pct = cfg["meds_target_weeks"], cfg["meds_target_pct"]
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
