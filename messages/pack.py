"""The evidence pack's HTML report: one self-contained file (inline CSS, the chart as a data
URI, no scripts, no links out) that opens from a USB stick or an email attachment.

Rendered from templates/report.html.j2 (autoescaped). Sections come in the order an inspector
asks for them; times are shown in the team's zone (the CSV files keep UTC)."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from messages.actions import day as plan_day
from messages.status import missed_rate, on_time_rate

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)

# (section id, heading, its tables by CSV name): the inspector's order, contact detail last
# but for the audit log, which backs everything above it.
SECTIONS = [
    ("trend", "Weekly trend", ["weekly_metrics"]),
    ("escalations", "Escalations", ["escalations", "escalation_timeline"]),
    ("incidents", "Incidents and learning",
     ["incidents", "learning_points", "learning_acknowledgements"]),
    ("medicines", "Medicines", ["medicines_exceptions", "medicines_checks"]),
    ("actions", "Action plan (CAP / CQC)", ["actions", "action_versions", "action_evidence",
                                            "action_milestones"]),
    ("reconciliations", "Daily reconciliations", ["reconciliations"]),
    ("contacts", "Contact detail", ["contacts"]),
    ("audit", "Audit log", ["audit"]),
    ("routes", "Routes and cover for gaps", ["routes", "covers", "on_time_by_kind"]),
    ("documentation", "Documentation sampling", ["documentation_sample"]),
    ("referrals", "Front door: referrals", ["referrals"]),
    # Only in a pack a manager asked to include them in (`carebot export --include-pips`).
    ("pips", "Staff improvement plans (included on request)",
     ["pips", "pip_objectives", "pip_entries"]),
]
ROUTES_NOTES = ["A day's routes are on time when `routes ok` came by the team's routes_by time, "
                "late after it; a day with none is not confirmed. Each cover is a `cover` "
                "command (audit row contact:cover). On time by kind: done within the contract "
                "window, judged on the visit's time."]
SNAPSHOT_FIELDS = ["title", "finding", "owner", "risk", "due", "next_review", "state",
                   "failure_mode", "control", "control_owner", "root_cause", "immediate_control",
                   "metric", "target", "regulation", "priority", "reopened"]


@dataclass
class Rate:
    label: str
    value: str
    detail: str


@dataclass
class Shown:
    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    id: str
    title: str
    tables: list[Shown]
    notes: list[str] = field(default_factory=list)
    note_class: str = "meta"
    chart: str | None = None


NBSP = "\u00a0"  # a date or time never wraps across lines in a narrow column


def when(value: datetime, zone: ZoneInfo) -> str:
    """A moment in the team's zone, its abbreviation named (BST / GMT)."""
    if value.tzinfo is None:  # stored as UTC
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(zone):%-d %b %Y %H:%M %Z}".replace(" ", NBSP)


def day(value: date) -> str:
    return f"{value:%-d %b %Y}".replace(" ", NBSP)


def cell(value, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value, zone)
    if isinstance(value, date):
        return day(value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {cell(v, zone)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(cell(v, zone) for v in value)
    return str(value)


def _snap_value(key: str, value) -> str:
    if key in ("due", "next_review") and isinstance(value, str) and value:
        try:
            return f"{date.fromisoformat(value):%-d %b %Y}"
        except ValueError:
            return value
    return "—" if value in (None, "") else str(value)


def changes(before: dict | None, after: dict) -> str:
    """One version's snapshot against the one before, as words: "due 1 Dec 2026 → 8 Dec 2026"."""
    label = {"next_review": "next review"}
    if before is None:
        return "; ".join(f"{label.get(k, k)} {_snap_value(k, after.get(k))}"
                         for k in ("owner", "due", "risk", "next_review", "state"))
    out = [f"{label.get(k, k)} {_snap_value(k, before.get(k))} → {_snap_value(k, after.get(k))}"
           for k in SNAPSHOT_FIELDS if before.get(k) != after.get(k)]
    old, new = before.get("closure") or {}, after.get("closure") or {}
    out += [f"closure {k}: {new[k]}" for k in new if old.get(k) != new[k]]
    return "; ".join(out) or "no field changed"


def _versions(t, zone: ZoneInfo) -> Shown:
    """Action versions with the snapshot replaced by what changed since the version before."""
    columns = [c for c in t.columns if c != "snapshot"] + ["what_changed"]
    snap = t.columns.index("snapshot")
    previous: dict[str, dict] = {}
    rows = []
    for values in t.values:
        action, snapshot = values[0], values[snap] or {}
        rows.append([cell(v, zone) for i, v in enumerate(values) if i != snap]
                    + [changes(previous.get(action), snapshot)])
        previous[action] = snapshot
    return Shown(t.name, t.title, [c.replace("_", " ") for c in columns], rows)


def shown(t, zone: ZoneInfo) -> Shown:
    if t.name == "action_versions":
        return _versions(t, zone)
    return Shown(t.name, t.title, [c.replace("_", " ") for c in t.columns],
                 [[cell(v, zone) for v in row] for row in t.values])


def sections(tables: list, zone: ZoneInfo, chart_png: bytes | None,
             cqc: list[str]) -> list[Section]:
    by_name = {t.name: t for t in tables}
    out = []
    for key, title, names in SECTIONS:
        section = Section(key, title, [shown(by_name[n], zone) for n in names if n in by_name])
        if key == "pips" and not section.tables:
            continue  # not asked for: not even its heading
        if key == "trend" and chart_png:
            section.chart = "data:image/png;base64," + base64.b64encode(chart_png).decode("ascii")
        if key == "actions":
            section.notes, section.note_class = cqc, "cqc"
        if key == "routes":
            section.notes = ROUTES_NOTES
        out.append(section)
    return out


def html(*, title: str, subtitle: str, generated: str, zone: ZoneInfo, tables: list,
         chart_png: bytes | None, chart_title: str, headline: list[Rate],
         facts: list[tuple[str, str]], cqc: list[str]) -> str:
    return _ENV.get_template("report.html.j2").render(
        title=title, subtitle=subtitle, generated=generated,
        zone_named=f"{zone.key} time ({zone_names(zone)})", headline=headline, facts=facts,
        sections=sections(tables, zone, chart_png, cqc), chart_title=chart_title)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def headline(f: dict) -> list[Rate]:
    """The rates an inspector asks for first (figures: handlers/export.py `figures`)."""
    c = f["contacts"]
    acked, judged, minutes = f["escalations"]
    learned, closed = f["incidents"]
    rates = [Rate("Missed-visit rate", _pct(missed_rate(c)),
                  f"{c['missed'] + c['unrecorded']} of {c['planned'] - c['pending']} contacts "
                  "due missed or not recorded"),
             Rate("On-time rate", _pct(on_time_rate(c)),
                  f"{c['on_time']} of {c['done']} completed contacts within their window"),
             Rate("Medicines late entries", str(f["meds_late"]),
                  f"late or missed entries; {f['meds_unrecorded']} duties not recorded"),
             Rate("Escalations acknowledged in time",
                  _pct(100 * acked / judged if judged else None),
                  f"{acked} of {judged} within the ack timeout"
                  + (f" ({' / '.join(map(str, minutes))} min)" if minutes else "")),
             Rate("Incidents learned within 7 days",
                  _pct(100 * learned / closed if closed else None),
                  f"{learned} of {closed} closed with their learning in 7 days")]
    r, today = f["request"], f["today"]
    if r is not None:
        left = (r.submit_by - today).days
        rates.append(Rate("CQC action plan", f"due {r.submit_by:%-d %b %Y}",
                          "submitted" if r.submitted_at else
                          f"{left} days left" if left >= 0 else f"{-left} days late"))
    return rates


def zone_names(zone: ZoneInfo) -> str:
    """The zone's abbreviations over a year, e.g. "GMT / BST"."""
    year = datetime.now(UTC).year
    names = dict.fromkeys(datetime(year, m, 15, tzinfo=zone).strftime("%Z") for m in (1, 7))
    return " / ".join(names)


def cqc_lines(requests: list, today: date, zone: ZoneInfo) -> list[str]:
    """What the action tracker holds about the CQC 28-day deadline, newest request first (the
    words `plan` uses)."""
    if not requests:
        return ["No CQC request for an action plan is on record (record one in chat: "
                "plan cqc DATE)."]
    lines = []
    for r in requests:
        if r.submitted_at is not None:
            sent = r.submitted_at.astimezone(zone).date()
            late = (sent - r.submit_by).days
            state = f"submitted {plan_day(sent)}" + (f", {late} days late" if late > 0 else "")
        elif today <= r.submit_by:
            state = f"not yet submitted, {(r.submit_by - today).days} days left"
        else:
            state = f"not yet submitted, {(today - r.submit_by).days} days late"
        lines.append(f"CQC action plan due {plan_day(r.submit_by)} ({state}; request received "
                     f"{plan_day(r.received)}, {(r.submit_by - r.received).days} days to submit).")
        if r.submitted_at is None:  # handlers/cap.py: each reminder is in the audit log
            lines.append("Reminders go to the managers and the nominated individual 14, 7, 3 "
                         "and 1 days before the deadline (audit action plan:cqc_reminder).")
    return lines
