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
timezone = "Europe/London"

[[teams]]
key = "north"
name = "North Community Team"
morning_post = "07:30"
reconcile = "17:30"

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


def write_demo(folder: str | Path, day: date) -> tuple[Path, Path]:
    from storage.importer import COLUMNS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, contacts = folder / "carebot.toml", folder / "contacts.csv"
    config.write_text(CONFIG, encoding="utf-8")
    with contacts.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(demo_rows(day))
    return config, contacts
