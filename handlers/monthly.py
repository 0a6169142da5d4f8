"""The nominated individual's monthly governance report (issue 18 §3; seed 002: "reviews monthly
incident themes, checks whether repeat events are reducing"): incidents by category over the
last 6 months with the trend, repeat events, overdue actions, learning points' read rate, the
medicines late trend and the escalations' time to acknowledge, with a PNG chart.

`status month [YYYY-MM|last]` on demand (managers: their teams; the nominated individual: every
team), and on the first working day of each month (Mon–Fri; bank holidays are not known, so a
bank holiday counts as a working day) at the config's `monthly_report` time, last month's report
as a DM to each nominated individual, once. Managers are not sent it: they have the weekly
status, and can ask for this one.

The figures come from SQL aggregates (storage/monthly.py); this module chooses the months."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, UserError, day_bounds
from handlers.incidents import CATEGORIES
from handlers.jobs import team_job
from handlers.registry import command
from messages import monthly as words
from messages.reply import Attachment, Reply
from storage import monthly as store
from storage import outbox, repo
from storage.db import files_dir
from storage.escalations import with_role
from storage.models import Team

MONTHS = 6  # the report month and the 5 before it
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


def month_start(day: date, back: int = 0) -> date:
    """The first day of day's month, `back` months earlier."""
    n = day.year * 12 + day.month - 1 - back
    return date(n // 12, n % 12 + 1, 1)


def next_month(first: date) -> date:
    return month_start(first + timedelta(days=31))


def first_working_day(first: date) -> date:
    """The first Monday–Friday of the month (bank holidays are not known here)."""
    day = first
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def month_from(text: str, today: date) -> date:
    """`` (this month so far), `last`, `this`, or `YYYY-MM`: the month's first day."""
    text = text.strip().lower()
    if text in ("", "this"):
        return month_start(today)
    if text == "last":
        return month_start(today, 1)
    found = _MONTH.match(text)
    if not found or not 1 <= int(found[2]) <= 12 or int(found[1]) < 2000:
        raise UserError(words.bad_month(text))
    first = date(int(found[1]), int(found[2]), 1)
    if first > today:
        raise UserError(words.future_month(first))
    return first


@dataclass
class Monthly:
    """The figures, counts only; the words are in messages/monthly.py."""

    months: list[date]  # the months' first days, oldest first; the last is the report month
    teams: list[str]
    incidents: dict[str, list[int]]  # category → per month
    by_team: dict[str, int]  # team name → incidents in the report month
    repeats: list[int]  # per month: incidents in a category its team already had that month
    repeat_detail: list[tuple[str, str, int]]  # the report month: (category, team, incidents)
    overdue: list[str]  # action refs, oldest deadline first
    learning: list[dict[str, int]]
    meds: list[dict[str, int]]
    escalations: list[dict]
    end: datetime  # where the report month's figures run to (local)
    so_far: bool = False  # the month is not over yet
    categories: list[str] = field(default_factory=list)


def figures(session: Session, teams: list[Team], first: date, now: datetime,
            zone: ZoneInfo) -> Monthly:
    months = [month_start(first, back) for back in range(MONTHS - 1, -1, -1)]
    windows = [(day_bounds(m, zone)[0], day_bounds(next_month(m), zone)[0]) for m in months]
    so_far = now < windows[-1][1]  # the month so far: its rows are all before now anyway
    end = min(now, windows[-1][1])
    ids = [t.id for t in teams]
    names = {t.id: t.name for t in teams}
    counts = store.incidents(session, team_ids=ids, windows=windows)
    found = {c for (_, _, c) in counts}
    categories = [c for c in CATEGORIES if c in found] + sorted(found - set(CATEGORIES))
    incidents = {c: [sum(n for (_, b, cat), n in counts.items() if b == m and cat == c)
                     for m in range(MONTHS)] for c in categories}
    repeats = [sum(n - 1 for (_, b, _c), n in counts.items() if b == m and n > 1)
               for m in range(MONTHS)]
    last = MONTHS - 1
    detail = sorted(((c, names[t], n) for (t, b, c), n in counts.items() if b == last and n > 1),
                    key=lambda r: (-r[2], r[0], r[1]))
    by_team = {t.name: sum(n for (tid, b, _c), n in counts.items() if tid == t.id and b == last)
               for t in teams}
    end_local = end.astimezone(zone)
    # An action is overdue once its deadline day is over: at a month's end, any deadline in it.
    day = end_local.date() if so_far else next_month(months[-1])
    overdue = store.overdue_actions(session, team_ids=ids, at=end, day=day)
    return Monthly(
        months=months, teams=[t.name for t in teams], incidents=incidents, by_team=by_team,
        repeats=repeats, repeat_detail=detail, overdue=[f"A-{i}" for _, i, _ in overdue],
        learning=_by_month(store.learning(session, team_ids=ids, windows=windows)),
        meds=_by_month(store.medicines(session, team_ids=ids, windows=windows)),
        escalations=_by_month(store.escalations(session, team_ids=ids, windows=windows)),
        end=end_local, so_far=so_far, categories=categories)


def _by_month(values: dict[int, dict]) -> list[dict]:
    return [v for _, v in sorted(values.items())]


def chart(m: Monthly, stem: str) -> Attachment:
    path = files_dir() / f"{stem}.png"
    words.monthly_chart(path, m)
    return Attachment(path=str(path), filename=path.name, mime="image/png",
                      title=f"Monthly governance: {m.months[-1]:%B %Y}")


def report(session: Session, teams: list[Team], first: date, now: datetime, zone: ZoneInfo,
           stem: str) -> Reply:
    m = figures(session, teams, first, now, zone)
    reply = words.report(m)
    reply.files = [chart(m, stem)]
    return reply


@command("status month", args="month?", min_role="manager",
         summary="Monthly governance report: incidents, repeats, overdue actions, learning, "
                 "medicines, escalations, with a chart",
         example="status month last")
def status_month(ctx: Context, args) -> Reply:
    first = month_from(args.month or "", ctx.today)
    teams = ctx.visible_teams  # the nominated individual: every team; a manager: theirs
    stem = (f"monthly-{'-'.join(t.key for t in teams) if len(teams) < 4 else 'all'}-"
            f"{first:%Y%m}-{ctx.now:%Y%m%d%H%M%S}")
    return report(ctx.session, teams, first, ctx.now, ctx.zone, stem)


def _monthly_times(team: Team) -> list[str]:
    return [f"mon-fri {team.monthly_report}"] if team.monthly_report else []


@team_job("monthly_report", times=_monthly_times)
def monthly(session: Session, team: Team, now: datetime) -> bool:
    """On the month's first working day, last month's report to each nominated individual,
    covering every team: once a month each (whichever team's time comes first)."""
    zone = ZoneInfo(team.zone)
    today = now.astimezone(zone).date()
    if today != first_working_day(month_start(today)):
        return False
    first = month_start(today, 1)
    queued = False
    for person in with_role(session, team_id=team.id, role="nominated"):
        key = outbox.MONTHLY.key(handle=person.handle, month=f"{first:%Y-%m}")
        if outbox.outbox_exists(session, key):
            continue
        teams = repo.teams_by_id(session, repo.visible_team_ids(session, person))
        reply = report(session, teams, first, now, zone, f"monthly-{person.handle}-{first:%Y%m}")
        queued |= outbox.notify(session, person.handle, key, reply, now=now)
    return queued
