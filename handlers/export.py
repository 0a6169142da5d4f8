"""The evidence pack an inspector would accept: CSV files and one self-contained HTML report
for a period (daily reconciliations, contacts, escalations with their timelines, medicines
exceptions and checks, learning points with acknowledgements, incidents with their clocks,
actions with versions and evidence, weekly metrics, the audit log with its chain head).
`carebot export` writes it to a folder; `status export` in chat sends the last 4 full weeks
(Monday to Sunday) as one zip."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session

from handlers.base import Context, day_bounds
from handlers.registry import command
from handlers.status import add_up, monday
from messages import pack as html_pack
from messages.chart import contacts_chart
from messages.reply import Attachment, Reply
from messages.status import missed_rate, on_time_rate
from storage import audit
from storage import export as store
from storage import referrals
from storage import pips
from storage import status as metrics
from storage import timeliness
from storage import sampling as sampling_store
from storage.db import files_dir
from storage.models import Team

PACK_DAYS = 28  # `status export`: the last 4 full weeks, Monday to Sunday


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def weekly_metrics(session: Session, teams: list[Team], first: date, last: date,
                   now: datetime, zone: ZoneInfo) -> tuple[store.Table, list[date], list[dict]]:
    """Per team and week (Monday to Sunday, clipped to the period): the status figures. Also
    the weeks and the all-teams totals, for the chart."""
    mondays = [monday(first) + timedelta(weeks=i)
               for i in range((monday(last) - monday(first)).days // 7 + 1)]
    windows = [(day_bounds(max(m, first), zone)[0],
                day_bounds(min(m + timedelta(days=6), last), zone)[1]) for m in mondays]
    ids = [t.id for t in teams]
    contacts = metrics.contacts(session, team_ids=ids, windows=windows, now=now)
    meds = metrics.meds_late(session, team_ids=ids, windows=windows)
    today = now.astimezone(zone).date()
    unrecorded = metrics.meds_unrecorded(session, team_ids=ids, windows=windows,
                                         before=day_bounds(today, zone)[0])
    rows = []
    for team in teams:
        for i, week in enumerate(mondays):
            c = contacts[team.id][i]
            rows.append((team.key, max(week, first), c["planned"], c["done"], c["missed"],
                         c["unrecorded"], c["on_time"], _rate(missed_rate(c)),
                         _rate(on_time_rate(c)), meds[team.id][i], c["pending"],
                         unrecorded[team.id][i]))
    totals = [add_up([contacts[t.id][i] for t in teams]) for i in range(len(mondays))]
    table = store.table("weekly_metrics", "Weekly metrics",
                         ["team", "week_start", "planned", "done", "missed", "not_recorded",
                          "on_time", "missed_rate_pct", "on_time_pct", "meds_late", "still_due",
                          "meds_not_recorded"],  # new columns go at the end
                         rows)
    return table, mondays, totals


def build_pack(session: Session, teams: list[Team], first: date, last: date, now: datetime,
               zone: ZoneInfo, out: Path, include_pips: bool = False) -> list[Path]:
    """Write the CSV files and report.html into out; return their paths. Staff improvement
    plans (and their audit rows) only with include_pips: a manager asks for them."""
    out.mkdir(parents=True, exist_ok=True)
    zones = {t.zone for t in teams}
    zone = ZoneInfo(zones.pop()) if len(zones) == 1 else zone  # the team's own zone
    start, end = day_bounds(first, zone)[0], day_bounds(last, zone)[1]
    today = now.astimezone(zone).date()
    tables = store.tables(session, team_ids=[t.id for t in teams], start=start, end=end,
                          first=first, last=last, today=today)
    weekly, mondays, totals = weekly_metrics(session, teams, first, last, now, zone)
    tables.append(weekly)
    trail = audit.pack_table(session, team_keys=[t.key for t in teams], start=start, end=end)
    tables.append(trail if include_pips else pips.without_pips(trail))
    tables += timeliness.pack_tables(session, teams=teams, first=first, last=last,
                                     window=(start, end), now=now)
    tables.append(store.table("documentation_sample", "Documentation sample (records audited)",
                              sampling_store.PACK_COLUMNS,
                              sampling_store.pack_rows(session, team_ids=[t.id for t in teams],
                                                       start=start, end=end)))
    tables.append(store.table("referrals", "Front door: referrals, decisions and validation",
                              referrals.PACK_COLUMNS,
                              referrals.pack_rows(session, team_ids=[t.id for t in teams],
                                                  start=start, end=end)))
    if include_pips:
        tables += pips.pack_tables(session, team_ids=[t.id for t in teams], start=start, end=end)
    chain = audit.verify(session, start=start, end=end)
    paths = []
    for table in tables:
        path = out / f"{table.name}.csv"
        store.write_csv(path, table)  # formula cells neutralised
        paths.append(path)
    who = teams[0].name if len(teams) == 1 else "All teams in the pack"
    chart_title = f"{who}: contacts by week"
    chart = contacts_chart(out / "weekly_trend.png", chart_title, mondays, totals, None,
                           partial=now.astimezone(zone) if last >= today else None)
    facts = [("Teams", ", ".join(t.name for t in teams)),
             ("Period", f"{first:%a %-d %b %Y} to {last:%a %-d %b %Y} ({zone.key})"),
             ("Audit chain head", f"#{chain.head_seq} {chain.head_hash}"),
             ("Audit chain, this period", chain.line())]
    requests = store.plan_requests(session, last=last)
    report = out / "report.html"
    report.write_text(html_pack.html(
        title="carebot evidence pack",
        subtitle=f"{', '.join(t.name for t in teams)} · {first:%-d %b %Y} – {last:%-d %b %Y}",
        generated=html_pack.when(now, zone), zone=zone, tables=tables,
        chart_png=chart.read_bytes(), chart_title=chart_title,
        headline=html_pack.headline(figures(tables, teams, totals, now,
                                            requests[0] if requests else None, today)),
        facts=facts, cqc=html_pack.cqc_lines(requests, today, zone)), encoding="utf-8")
    return [*paths, chart, report]


def _records(table: store.Table) -> list[dict]:
    return [dict(zip(table.columns, row)) for row in table.values]


def figures(tables: list[store.Table], teams: list[Team], totals: list[dict], now: datetime,
            request, today: date) -> dict:
    """What the headline's rates are made of, from the pack's own tables."""
    by_name = {t.name: t for t in tables}
    c = {k: 0 for k in ("planned", "done", "missed", "unrecorded", "on_time", "pending")}
    c.update(add_up(totals))  # the whole period, all the pack's teams
    weekly = _records(by_name["weekly_metrics"])
    out = {"contacts": c, "today": today, "request": request,
           "meds_late": sum(w["meds_late"] for w in weekly),
           "meds_unrecorded": sum(w["meds_not_recorded"] for w in weekly)}
    team_timeout = {t.key: (t.escalation or {}).get("ack_timeout_minutes") for t in teams}
    acked = judged = 0
    minutes = set()
    for e in _records(by_name["escalations"]):
        # Each escalation against the timeout it ran under (its frozen policy).
        timeout = int(e["ack_timeout_minutes"] or team_timeout.get(e["team"]) or 15)
        limit = timedelta(minutes=timeout)
        if e["acked_at"] is None and now - e["opened_at"] < limit:
            continue  # still inside its timeout: neither met nor missed yet
        judged += 1
        minutes.add(timeout)
        acked += e["acked_at"] is not None and e["acked_at"] - e["opened_at"] <= limit
    out["escalations"] = (acked, judged, sorted(minutes))
    learned = judged = 0
    for i in _records(by_name["incidents"]):
        if i["closed_at"] is None and now < i["due_at"]:
            continue  # its 7 days are still running
        judged += 1
        learned += bool(i["within_7_days"])
    out["incidents"] = (learned, judged)
    return out


@command("status export", min_role="manager",
         summary="The evidence pack for the last 4 full weeks, Mon–Sun (CSV files + HTML "
                 "report, zipped)",
         example="status export")
def status_export(ctx: Context, args) -> Reply:
    teams = ctx.visible_teams
    last = monday(ctx.today) - timedelta(days=1)  # last Sunday: whole weeks only
    first = last - timedelta(days=PACK_DAYS - 1)  # a Monday
    stem = f"evidence-pack-{first:%Y%m%d}-{last:%Y%m%d}-{ctx.now:%H%M%S}"
    folder = files_dir() / stem
    paths = build_pack(ctx.session, teams, first, last, ctx.now, ctx.zone, folder)
    archive = Path(shutil.make_archive(str(folder), "zip", root_dir=folder))
    shutil.rmtree(folder)
    ctx.audit("status:export", first=first.isoformat(), last=last.isoformat(),
              teams=[t.key for t in teams])
    reply = Reply.text(f"Evidence pack for the last 4 full weeks, Mon {first:%-d %b} – Sun "
                       f"{last:%-d %b %Y} (this week so far is not in it): "
                       f"{len(paths) - 2} CSV files, the chart and report.html (opens in any "
                       "browser), in one zip.", ephemeral=True)
    reply.files = [Attachment(path=str(archive), filename=archive.name, mime="application/zip",
                              title=f"Evidence pack {first:%-d %b} – {last:%-d %b %Y}")]
    return reply
