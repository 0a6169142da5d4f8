"""`carebot demo`: a config with two teams and a contacts file for today, so the console has
something real to work on. Client refs are stable (C-7F3K is always North's high-risk
discharge follow-up); contact ids carry the date so each day's file adds a new day.
"""
from __future__ import annotations

import csv
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = "Europe/London"

CONFIG = '''# carebot demo config (written by `carebot demo`): two teams, eight people.
# Every key is explained in README.md, "Configuration"; the commented lines are the optional
# ones a real deployment sets.
timezone = "Europe/London"
# retention_days = 90            # outbox and delivery records older than this are pruned

[[teams]]
key = "north"
name = "North Community Team"
# slack_channel = "C0NORTH01"    # the team's Slack channel id (channel details, at the bottom)
# telegram_chat = -1001234567890 # the team's Telegram group id (`/whoami` in the group)
morning_post = "07:30"
reconcile = "17:30"
weekly_status = "mon 09:00"      # the managers' weekly status DM ("" = never)

[[teams]]
key = "south"
name = "South Community Team"
morning_post = "07:30"
reconcile = "17:30"

[[people]]
handle = "amira"
name = "Amira Khan"
role = "supervisor"
teams = ["north"]
oncall = true
# slack_user = "U0AMIRA01"       # Slack member id (profile, then Copy member ID)
# telegram_user = 5550001        # numeric Telegram id (the bot tells an unknown person theirs)

[[people]]
handle = "ben"
name = "Ben Okafor"
role = "staff"
teams = ["north"]

[[people]]
handle = "chloe"
name = "Chloe Price"
role = "staff"
teams = ["north"]

[[people]]
handle = "erin"
name = "Erin Walsh"
role = "supervisor"
teams = ["south"]
oncall = true

[[people]]
handle = "femi"
name = "Femi Adeyemi"
role = "staff"
teams = ["south"]

[[people]]
handle = "hana"
name = "Hana Novak"
role = "staff"
teams = ["south"]

[[people]]
handle = "dan"
name = "Dan Morgan"
role = "manager"
teams = ["north", "south"]

[[people]]
handle = "grace"
name = "Grace Liu"
role = "nominated"
teams = ["north", "south"]

[escalation]
ack_timeout_minutes = 15
repeats = 2
chain = ["oncall", "manager", "nominated"]

# The reason codes for `missed`: without any [[reason_codes]] the standard set applies
# (unavailable, hospital, refused, no_reply, safety, staffing, weather, rota, other). One table per
# code replaces that set:
# [[reason_codes]]
# code = "safety"
# label = "Safety concern"
# side = "client"                # client | provider | system | other
# escalates = true
'''

# (ref, team, kind, risk, start hour, hours, assignee, time_critical): the ones the README uses.
FIXED = [
    ("C-7F3K", "north", "post_discharge", "high", 9, 3, "amira", True),
    ("C-2M9Q", "north", "home_visit", "medium", 10, 1, "ben", False),
    ("C-9X2P", "north", "post_referral", "high", 11, 4, None, False),
    ("C-4T7P", "north", "home_visit", "low", 14, 1, None, False),
    ("C-5H2D", "south", "post_discharge", "high", 9, 2, "femi", True),
]
STAFF = {"north": ["amira", "ben", "chloe", None], "south": ["erin", "femi", "hana", None]}
KINDS = ["post_referral", "post_discharge", "home_visit", "home_visit", "review"]
RISKS = ["high", "medium", "medium", "low", "low", "low"]
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def demo_rows(day: date, per_team: int = 14) -> list[dict]:
    rng = random.Random(20261124)  # same refs every day
    zone = ZoneInfo(ZONE)
    taken = {r[0] for r in FIXED}
    specs = list(FIXED)
    for team in ("north", "south"):
        while sum(1 for s in specs if s[1] == team) < per_team:
            ref = "C-" + "".join(rng.choice(_ALPHABET) for _ in range(4))
            if ref in taken:
                continue
            taken.add(ref)
            specs.append((ref, team, rng.choice(KINDS), rng.choice(RISKS), rng.randint(8, 15),
                          rng.choice([1, 2, 3]), rng.choice(STAFF[team]), rng.random() < 0.15))
    rows = []
    for n, (ref, team, kind, risk, hour, hours, who, critical) in enumerate(specs, 1):
        start = datetime.combine(day, time(hour), zone)
        rows.append({
            "contact_id": f"{team[0].upper()}-{day:%Y%m%d}-{n:03d}", "client_ref": ref,
            "team": team, "kind": kind, "due_start": start.strftime("%Y-%m-%dT%H:%M"),
            "due_end": (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M"),
            "assignee": who or "", "risk": risk, "time_critical": str(critical).lower()})
    return rows


# North's medicines for the day: (round, ref, due, time_critical).
MEDS = [("morning", "C-7F3K", "08:00", True), ("morning", "C-2M9Q", "08:15", False),
        ("morning", "C-9X2P", "08:30", False), ("morning", "C-4T7P", "08:45", False),
        ("evening", "C-7F3K", "18:00", True), ("evening", "C-9X2P", "18:15", False)]


def meds_rows(day: date) -> list[dict]:
    return [{"duty_id": f"M-{day:%Y%m%d}-{n:02d}", "team": "north", "round": rnd,
             "client_ref": ref, "due_at": f"{day:%Y-%m-%d}T{due}", "window_minutes": "30",
             "time_critical": str(critical).lower()}
            for n, (rnd, ref, due, critical) in enumerate(MEDS, 1)]


# What `carebot demo` adds to North (tests build on CONFIG without it).
MEDS_ROUNDS = '''# Protected medicines: each round with its named lead (`carebot import meds meds.csv`).
meds_rounds = [{name = "morning", time = "08:00", lead = "amira"},
               {name = "evening", time = "18:00", lead = "ben"}]
'''


def referral_rows(day: date) -> list[dict]:
    """Two referrals at North's front door this morning: one accepted on its basis, one pending
    authorisation (clients of their own: a pending client's contacts would be refused)."""
    return [{"client_ref": "C-6D4M", "team": "north", "source": "gp",
             "received_at": f"{day:%Y-%m-%d}T07:10", "basis": "gp_referral"},
            {"client_ref": "C-5R8N", "team": "north", "source": "ward7",
             "received_at": f"{day:%Y-%m-%d}T07:20", "basis": ""}]


def write_demo(folder: str | Path, day: date) -> tuple[Path, Path, Path]:
    """The config, today's contacts and North's medicines duties for today (and a referrals
    file beside them)."""
    from storage.importer import COLUMNS
    from storage.medicines import MEDS_COLUMNS
    from storage.referrals import COLUMNS as REFERRAL_COLUMNS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, contacts, meds = folder / "carebot.toml", folder / "contacts.csv", folder / "meds.csv"
    north = 'weekly_status = "mon 09:00"      # the managers\' weekly status DM ("" = never)\n'
    config.write_text(CONFIG.replace(north, north + MEDS_ROUNDS, 1), encoding="utf-8")
    referrals = folder / "referrals.csv"  # for README's `carebot import referrals referrals.csv`
    for path, columns, rows in ((contacts, COLUMNS, demo_rows(day)),
                                (meds, MEDS_COLUMNS, meds_rows(day)),
                                (referrals, [*REFERRAL_COLUMNS, "basis"], referral_rows(day))):
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return config, contacts, meds


# Past weeks, so a newcomer's `status`, `plan` and `carebot export` have something to show:
# outcomes logged, reconciliations run, one escalation a week acknowledged, a CAP with actions.
# The missed-visit rate falls week by week, as a working plan's would.
HISTORY_ACTIONS = [
    (35, 'action add "Evening meds late" owner=@amira due="in 8 weeks" risk=medicines '
         'finding="Inspection 2026-10: late evening medicines"'),
    (28, 'action add "Weekend rota gaps" owner=@erin due="in 5 weeks" risk=staffing '
         'finding="Missed visits cluster at weekends"'),
    (21, 'action add "High-risk care plans reviewed" owner=@amira due="in 22 days" risk=safety '
         'finding="Care plans out of date"'),
    (20, 'action evidence A-1 audit "MAR audit week 1: 14 late of 140"'),
    (6, 'action evidence A-1 audit "MAR audit week 3: 2 late of 140"'),
    (6, 'action evidence A-3 record "18 of 20 high-risk care plans reviewed"'),
]


def seed_history(engine, today: date, weeks: int = 8) -> int:
    """Fill the weeks before today; returns the number of past contacts (0 if already done)."""
    import tempfile

    from sqlmodel import col, select

    from handlers.base import Actor, Chat, SimClock
    from handlers.dispatch import dispatch_line
    from handlers.reconcile import reconcile_team
    from storage import repo
    from storage.db import session_scope
    from storage.importer import COLUMNS, import_contacts
    from storage.models import Contact, Escalation, Outbox, Person

    zone = ZoneInfo(ZONE)
    first = today - timedelta(days=today.weekday(), weeks=weeks)
    days = [first + timedelta(days=i) for i in range((today - first).days)]
    rows = [r for day in days for r in demo_rows(day)]
    with session_scope(engine) as session:
        if session.exec(select(Contact).where(Contact.source_id == rows[0]["contact_id"])).first():
            return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        import_contacts(engine, path)
    rng = random.Random(8)
    reasons = ["hospital", "unavailable", "staffing", "no_reply", "refused", "weather"]
    with session_scope(engine) as session:
        people = {p.id: p for p in session.exec(select(Person))}
        handles = {p.handle: p for p in people.values()}
        for contact in session.exec(select(Contact).where(
                col(Contact.source_id).in_([r["contact_id"] for r in rows]))):
            week = (contact.due_start.astimezone(zone).date() - first).days // 7
            roll = rng.random()
            missed_share = 0.28 - 0.025 * week  # 28 % in week 1 down to about 10 %
            by = people.get(contact.assignee_id) or handles["amira"]
            contact.logged_by_id, contact.logged_via = by.id, "console"
            if roll < missed_share:
                contact.status, contact.reason_code = "missed", rng.choice(reasons)
                contact.outcome_at = contact.due_end
            else:
                late = rng.random() < 0.08
                contact.status = "done"
                contact.outcome_at = contact.due_end + timedelta(hours=1) if late \
                    else contact.due_start + timedelta(minutes=30)
            session.add(contact)
        session.flush()
        for day in days:
            for team in repo.all_teams(session):
                reconcile_team(session, team, datetime.combine(day, time(17, 30), zone),
                               run_by="scheduler", transport="scheduler")
    clock = SimClock(datetime.combine(first, time(9), zone))

    def say(handle: str, line: str, at: datetime) -> None:
        clock.set(at)
        dispatch_line(engine, clock, Actor("console", handle), Chat("console", None), line)

    for days_ago, line in HISTORY_ACTIONS:
        say("dan", line, datetime.combine(today - timedelta(days=days_ago), time(10), zone))
    for i, day in enumerate(days[2::7]):  # a safety concern a week, owned by the on-call lead
        noon = datetime.combine(day, time(12), zone)
        say("amira", "missed C-9X2P safety", noon)
        with session_scope(engine) as session:
            esc = session.exec(select(Escalation).order_by(col(Escalation.id).desc())).first()
        say("amira", f"ack {esc.id}", noon + timedelta(minutes=4 + 3 * (i % 4)))
        say("amira", f"resolve {esc.id} client seen the same day, safe", noon + timedelta(hours=2))
    _seed_front_door_and_samples(engine, today, days, say)
    with session_scope(engine) as session:
        # History is history: nothing from these weeks is posted when the bot starts.
        for row in session.exec(select(Outbox).where(Outbox.status == "pending")):
            row.status, row.sent_at = "sent", row.created_at
            session.add(row)
    return len(rows)


# Who audits each team's documentation sample in the demo (its supervisor).
AUDITORS = {"north": "amira", "south": "erin"}
PENDING_REFERRAL = "referral add C-3Q8L source=ward7"  # not a demo contact's client


def _seed_front_door_and_samples(engine, today: date, days: list[date], say) -> None:
    """So `sample` and `referrals` have something to show on any day: each past Monday's
    documentation sample drawn (every draw before the latest audited, a few defects), and a
    referral pending authorisation for an hour. Today's Monday draw, if today is
    a Monday, is left to the scheduler, so its DM still arrives."""
    from sqlmodel import col, select

    from handlers.sampling import DEFAULT_DEFECT_CODES, draw, iso_week
    from storage import repo
    from storage.db import session_scope
    from storage.models import DocSample, Person, Team

    zone = ZoneInfo(ZONE)
    rng = random.Random(48)
    mondays = [d for d in days if d.weekday() == 0 and d > days[0]]
    with session_scope(engine) as session:
        teams = {t.key: t for t in repo.all_teams(session)}
        auditors = {p.handle: p for p in session.exec(
            select(Person).where(col(Person.handle).in_(list(AUDITORS.values()))))}
        for monday in mondays:
            for key, team in teams.items():
                draw(session, team, iso_week(monday - timedelta(days=7)),
                     datetime.combine(monday, time(8), zone))
        session.flush()
        # This week's draw stays to audit (on a Monday the scheduler makes it: all are done).
        this_week = [m for m in mondays if (today - m).days < 7]
        latest = iso_week(this_week[0] - timedelta(days=7)) if this_week else None
        for row in session.exec(select(DocSample).where(col(DocSample.week) != latest)):
            team = session.get(Team, row.team_id)
            row.result = "defect" if rng.random() < 0.12 else "ok"
            row.defect_code = rng.choice(DEFAULT_DEFECT_CODES) if row.result == "defect" else None
            row.audited_by_id = auditors[AUDITORS[team.key]].id
            row.audited_at = row.drawn_at + timedelta(days=2)
            session.add(row)
    # An hour ago, not at a fixed hour: pending past referral_pending_hours (24 h), it would be
    # chased in the channel the moment the bot starts, depending on the time of day.
    say("amira", PENDING_REFERRAL, datetime.now(zone) - timedelta(hours=1))
