"""Weekly status for managers: per team and overall, contacts, missed-visit rate and
timeliness with the trend against the previous 4 weeks and the baseline, reason codes,
medicines late entries, incidents' 7-day learning, learning acknowledgements, escalations and
CAP actions by RAG, with a PNG chart of the weekly trend. The figures come from SQL aggregates
(storage/status.py); this module only chooses the windows and adds them up."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers import escalation
from handlers.base import Context, UserError, day_bounds
from handlers.dates import parse_day
from handlers.jobs import team_job
from handlers.meds_rounds import settings as meds_settings
from handlers.registry import command
from messages import status as words
from messages.chart import contacts_chart
from messages.reply import Attachment, Reply
from messages.status import missed_rate
from storage import outbox, repo
from storage import status as store
from storage import timeliness
from storage.db import files_dir
from storage.models import CONTACT_KINDS, Team, at_least

TREND_WEEKS = 4
CHART_WEEKS = 8
_TEAM = re.compile(r"(?:^|\s)team(?:=|\s+)([a-z0-9_-]+)(?=\s|$)")


@dataclass(frozen=True)
class Period:
    first: date  # the first day shown
    last: date  # the last day shown (inclusive)

    @property
    def weeks(self) -> float:
        """For per-week rates; a part week counts as one (so far, against a whole week)."""
        return max(((self.last - self.first).days + 1) / 7, 1.0)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


_WEEK = re.compile(r"^(last|this)[\s_\-\u2013\u2014]*week$")


def period_from(text: str, today: date, now: datetime, zone: ZoneInfo) -> Period:
    """`` (this week so far), `last week`, `this week`, `since 1 Oct`, `week of 9 Nov`."""
    text = _WEEK.sub(r"\1 week", text.strip().lower())  # lastweek, last-week: last week
    if text in ("", "this week", "week"):
        return Period(monday(today), today)
    if text == "last week":
        start = monday(today) - timedelta(weeks=1)
        return Period(start, start + timedelta(days=6))
    example = "status · status last week · status team north since 1 Oct"
    if text.startswith("since "):
        first = parse_day(text[6:], now=now, zone=zone, future=False, what="start date",
                          example=example)
        if first > today:
            raise UserError(f"{first:%-d %b %Y} is in the future. Example: {example}")
        return Period(first, today)
    phrase = text.removeprefix("week of ").removeprefix("week ")
    day = parse_day(phrase, now=now, zone=zone, future=False, what="week", example=example)
    start = monday(day)
    return Period(start, min(start + timedelta(days=6), today))


@dataclass
class Figures:
    """One team's (or the overall) figures for the period; counts only, words elsewhere."""

    name: str
    contacts: dict[str, int]
    trend: dict[str, int]  # the previous 4 weeks, summed
    weekly: list[dict[str, int]]  # the chart's weeks, oldest first
    baseline_pct: float | None
    baseline_from: str  # "config" | "first 4 weeks" | ""
    reasons: dict[str, int]
    meds_late: int
    meds_unrecorded: int  # duties with no record by the end of their day
    meds_baseline: float | None
    meds_target: float | None
    incidents: dict[str, int]
    learning: dict[str, int]
    escalations: dict
    actions: dict[str, int]
    min_contacts: int = 20  # fewer contacts due than this: counts, no rate, no arrow
    # On time by contact kind {kind: {due, done, on_time}}, the routes check's days
    # {on_time, late, none} (storage/timeliness.py) and covers made.
    by_kind: dict = field(default_factory=dict)
    routes: dict = field(default_factory=dict)
    covers: int = 0
    # The documentation samples drawn in the period: sampled, audited, defects by code, and
    # how many people were on increased sampling (storage/status.py side_counts).
    documentation: dict = field(default_factory=dict)
    referrals: dict[str, int] | None = None  # the front door's counts (side_counts)


def add_up(dicts: list[dict]) -> dict:
    """Counts added key by key (teams into all teams, weeks into a trend)."""
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def _windows(period: Period, zone: ZoneInfo) -> tuple[list, list[date]]:
    """[report, 4 trend weeks, 8 chart weeks] as UTC windows, and the chart's Mondays."""
    def week(start: date, last: date | None = None):
        return (day_bounds(start, zone)[0],
                day_bounds(last if last else start + timedelta(days=6), zone)[1])

    report = (day_bounds(period.first, zone)[0], day_bounds(period.last, zone)[1])
    first_monday = monday(period.first)
    trend = [week(first_monday - timedelta(weeks=i)) for i in range(TREND_WEEKS, 0, -1)]
    last_monday = monday(period.last)
    mondays = [last_monday - timedelta(weeks=i) for i in range(CHART_WEEKS - 1, -1, -1)]
    chart = [week(m, period.last if m == last_monday else None) for m in mondays]
    return [report, *trend, *chart], mondays


def figures(session: Session, teams: list[Team], period: Period, now: datetime,
            zone: ZoneInfo) -> list[Figures]:
    """Each team's figures, then the overall figures when there is more than one team. The
    number of queries does not grow with the number of teams."""
    windows, _ = _windows(period, zone)
    ids = [t.id for t in teams]
    today = now.astimezone(zone).date()
    kinds = store.contacts_by_kind(session, team_ids=ids, windows=windows, now=now)
    side = store.side_counts(session, team_ids=ids, window=windows[0], now=now,
                             before=day_bounds(today, zone)[0], today=today)
    baselines = _baselines(session, teams, now)
    out = []
    for team in teams:
        cfg = meds_settings(team)
        meds_base = cfg.baseline
        per_window = [add_up([dict.fromkeys(store.MEASURES, 0), *k.values()])
                      for k in kinds[team.id]]
        out.append(Figures(
            name=team.name, contacts=per_window[0],
            trend=add_up(per_window[1:1 + TREND_WEEKS]), weekly=per_window[1 + TREND_WEEKS:],
            baseline_pct=baselines[team.id][0], baseline_from=baselines[team.id][1],
            reasons=side[team.id]["reasons"],
            meds_late=side[team.id]["meds_late"], meds_unrecorded=side[team.id]["meds_unrecorded"],
            meds_baseline=meds_base,
            meds_target=None if meds_base is None else meds_base * (1 + cfg.meds_target_pct / 100),
            incidents=side[team.id]["incidents"], learning=side[team.id]["learning"],
            escalations=side[team.id]["escalations"], actions=side[team.id]["actions"],
            min_contacts=team.min_contacts_for_rate,
            documentation=side[team.id]["documentation"], referrals=side[team.id]["referrals"],
            covers=side[team.id]["covers"], by_kind=_kind_order(timeliness.on_time(
                kinds[team.id][0]))))
    routes = timeliness.route_days(session, teams=teams, first=period.first, last=period.last,
                                   now=now)
    for team, f in zip(teams, out):
        f.routes = {k: v for k, v in routes[team.id].items() if k != "rows"}
    if len(out) > 1:
        pooled = store.escalations(session, team_ids=ids, window=windows[0], by_team=False)[None]
        out.append(_overall(out, pooled))
        out[-1].referrals = add_up([f.referrals for f in out[:-1]])
    return out


def _baselines(session: Session, teams: list[Team],
               now: datetime) -> dict[int, tuple[float | None, str]]:
    """Per team: the configured missed-visit rate, or its first 4 weeks on record."""
    out: dict[int, tuple[float | None, str]] = {
        t.id: (t.baseline_missed_pct, "config") for t in teams if t.baseline_missed_pct is not None}
    firsts = store.first_contact(session, team_ids=[t.id for t in teams if t.id not in out])
    starts, windows = {}, {}
    for team in teams:
        if team.id in out:
            continue
        if team.id not in firsts:
            out[team.id] = (None, "")
            continue
        zone = ZoneInfo(team.zone)
        starts[team.id] = start = monday(firsts[team.id].astimezone(zone).date())
        windows[team.id] = (day_bounds(start, zone)[0],
                            day_bounds(start + timedelta(weeks=TREND_WEEKS), zone)[0])
    for team_id, counts in store.contacts_per_team(session, windows=windows, now=now).items():
        out[team_id] = (missed_rate(counts), f"first 4 weeks from {starts[team_id]:%-d %b %Y}")
    return out


def _overall(teams: list[Figures], escalations: dict) -> Figures:
    weighted = [(f.baseline_pct, f.contacts["planned"] or 1) for f in teams
                if f.baseline_pct is not None]
    base = (sum(b * w for b, w in weighted) / sum(w for _, w in weighted)) if weighted else None
    meds_bases = [f.meds_baseline for f in teams if f.meds_baseline is not None]
    meds_targets = [f.meds_target for f in teams if f.meds_target is not None]
    return Figures(
        name="All teams",
        contacts=add_up([f.contacts for f in teams]), trend=add_up([f.trend for f in teams]),
        weekly=[add_up(list(week)) for week in zip(*(f.weekly for f in teams))],
        baseline_pct=base, baseline_from="teams' baselines" if weighted else "",
        reasons=add_up([f.reasons for f in teams]), meds_late=sum(f.meds_late for f in teams),
        meds_unrecorded=sum(f.meds_unrecorded for f in teams),
        meds_baseline=sum(meds_bases) if meds_bases else None,
        meds_target=sum(meds_targets) if meds_targets else None,
        incidents=add_up([f.incidents for f in teams]), learning=add_up([f.learning for f in teams]),
        escalations=escalations, actions=add_up([f.actions for f in teams]),
        min_contacts=max(f.min_contacts for f in teams),  # the strictest team's threshold
        by_kind=_by_kind_total([f.by_kind for f in teams]),
        routes=add_up([f.routes for f in teams]), covers=sum(f.covers for f in teams),
        documentation=_documentation([f.documentation for f in teams]))


def _by_kind_total(per_team: list[dict]) -> dict:
    kinds: dict = {}
    for team in per_team:
        for kind, counts in team.items():
            kinds[kind] = add_up([kinds.get(kind, {}), counts])
    return _kind_order(kinds)


def _kind_order(kinds: dict) -> dict:
    """Contact kinds in their usual order (CONTACT_KINDS), any other after them."""
    order = {k: i for i, k in enumerate(CONTACT_KINDS)}
    return dict(sorted(kinds.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _documentation(teams: list[dict]) -> dict:
    """The teams' documentation sample figures added up (defects code by code)."""
    out = add_up([{k: v for k, v in d.items() if k != "defects"} for d in teams])
    out["defects"] = add_up([d.get("defects", {}) for d in teams])
    return out


def in_progress(period: Period, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The local time the figures run to when the period's last day is not over yet."""
    local = now.astimezone(zone)
    return local if period.last >= local.date() else None


def chart(figs: Figures, period: Period, zone: ZoneInfo, stem: str,
          so_far: datetime | None = None) -> Attachment:
    _, mondays = _windows(period, zone)
    path = files_dir() / f"{stem}.png"
    contacts_chart(path, f"{figs.name}: contacts by week", mondays, figs.weekly, figs.baseline_pct,
                   partial=so_far)
    return Attachment(path=str(path), filename=path.name, mime="image/png",
                      title=f"{figs.name}: weekly trend to {period.last:%-d %b %Y}")


def report(session: Session, teams: list[Team], period: Period, now: datetime,
           zone: ZoneInfo, stem: str) -> Reply:
    figs = figures(session, teams, period, now, zone)
    so_far = in_progress(period, now, zone)
    reply = words.report(figs, period.first, period.last, period.weeks, so_far=so_far)
    reply.files = [chart(figs[-1], period, zone, stem, so_far)]
    return reply


def _scope(ctx: Context, text: str) -> tuple[list[Team], str]:
    """The teams asked for (`team north`), else the chat's team for supervisors and every
    team for managers; the rest of the text is the period."""
    manager = at_least(ctx.person, "manager")
    mine = ctx.visible_teams
    match = _TEAM.search(text)
    if match is None:
        return (mine if manager else [ctx.team]), text
    team = next((t for t in mine if t.key == match[1]), None)
    if team is None:
        raise UserError(words.unknown_team(match[1], [t.key for t in mine]))
    return [team], (text[:match.start()] + " " + text[match.end():]).strip()


@command("status", args="period*", min_role="supervisor",
         summary="Weekly status: rates, trend vs baseline, actions by RAG, with a chart",
         example="status last week")
def status(ctx: Context, args) -> Reply:
    teams, rest = _scope(ctx, " ".join((args.period or "").split()).lower())
    period = period_from(rest, ctx.today, ctx.now, ctx.zone)
    stem = (f"status-{'-'.join(t.key for t in teams) if len(teams) < 4 else 'all'}-"
            f"{period.first:%Y%m%d}-{period.last:%Y%m%d}-{ctx.now:%H%M%S}")
    return report(ctx.session, teams, period, ctx.now, ctx.zone, stem)


def _weekly_times(team: Team) -> list[str]:
    return [team.weekly_status] if team.weekly_status else []


@team_job("weekly_status", times=_weekly_times)
def weekly(session: Session, team: Team, now: datetime) -> bool:
    """Last week's report to each of the team's managers: one DM a week per manager, covering
    every team of theirs that has a weekly report (whichever team's time comes first)."""
    zone = ZoneInfo(team.zone)
    period = period_from("last week", now.astimezone(zone).date(), now, zone)
    queued = False
    for person in escalation.recipients(session, team, "manager", now):
        key = outbox.STATUS.key(handle=person.handle, week=period.first)
        if outbox.outbox_exists(session, key):
            continue
        teams = [t for t in repo.teams_of(session, person) if t.weekly_status] or [team]
        reply = report(session, teams, period, now, zone,
                       f"weekly-{person.handle}-{period.first:%Y%m%d}")
        queued |= outbox.notify(session, person.handle, key, reply, now=now)
    return queued
